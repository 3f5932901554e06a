/**
 * What the rehearsal tells while the story runs (pure): the change between
 * two versions of a watched object turned into timeline sentences, and the
 * formatting of timeline lines and of the drain progress indicator.
 */
import type { CoreV1Event, V1Node, V1PodDisruptionBudget, V1Pod } from '@kubernetes/client-node'
import { LB_EXCLUSION_LABEL, OWN_PREFIX } from '../../agent/node-state.ts'

/** One line of the timeline. */
export interface TimelineEntry {
  /** Epoch milliseconds when it was seen. */
  at: number
  /** Who acted: the rehearsal itself, the agent, the cluster's controllers, IMDS. */
  actor: 'rehearsal' | 'webhook' | 'imds' | 'agent' | 'cluster'
  text: string
}

/** `namespace/name` of an object. */
export function objectName (o: { metadata?: { namespace?: string, name?: string } }): string {
  return o.metadata?.namespace === undefined ? o.metadata?.name ?? '?' : `${o.metadata.namespace}/${o.metadata.name ?? '?'}`
}

/** Whether the pod's Ready condition is True. */
export function isReady (pod: V1Pod): boolean {
  return pod.status?.conditions?.some(c => c.type === 'Ready' && c.status === 'True') === true
}

/** Whether a DaemonSet controls the pod. */
export function isDaemonPod (pod: V1Pod): boolean {
  return pod.metadata?.ownerReferences?.some(o => o.kind === 'DaemonSet' && o.controller === true) === true
}

/** What the agent did to the node, as sentences: our taints, the load-balancer label, the cordon. */
export function nodeChanges (before: V1Node | undefined, after: V1Node): string[] {
  const out: string[] = []
  const had = new Set((before?.spec?.taints ?? []).map(t => `${t.key}=${t.value ?? ''}:${t.effect}`))
  for (const t of after.spec?.taints ?? []) {
    const id = `${t.key}=${t.value ?? ''}:${t.effect}`
    if (t.key.startsWith(OWN_PREFIX) && !had.has(id)) out.push(`tainted ${id}`)
  }
  if (before?.metadata?.labels?.[LB_EXCLUSION_LABEL] === undefined && after.metadata?.labels?.[LB_EXCLUSION_LABEL] !== undefined) {
    out.push(`labelled ${LB_EXCLUSION_LABEL}=${after.metadata.labels[LB_EXCLUSION_LABEL]}: out of load balancers`)
  }
  if (before?.spec?.unschedulable !== true && after.spec?.unschedulable === true) out.push('cordoned: no new pods')
  if (before?.spec?.unschedulable === true && after.spec?.unschedulable !== true) out.push('uncordoned')
  return out
}

/**
 * A pod change during the drain: on the interrupted node, eviction (deletion
 * started) and departure; elsewhere, replacements scheduled and Ready.
 * DaemonSet pods are left out: the agent leaves them alone.
 */
export function podChange (type: string, before: V1Pod | undefined, after: V1Pod, node: string): string | undefined {
  if (isDaemonPod(after)) return undefined
  const name = objectName(after)
  const on = after.spec?.nodeName
  if (on === node) {
    if (type === 'DELETED') return `${name} gone from ${node}`
    if (before?.metadata?.deletionTimestamp === undefined && after.metadata?.deletionTimestamp !== undefined) {
      return `evicting ${name} (grace ${after.metadata.deletionGracePeriodSeconds ?? '?'}s)`
    }
    return undefined
  }
  if (on === undefined || type === 'DELETED') return undefined
  if (before?.spec?.nodeName === undefined) return `replacement ${name} scheduled on ${on}`
  if (!isReady(before) && isReady(after)) return `${name} Ready on ${on}`
  return undefined
}

/** A Kubernetes Event about the node, as a sentence. */
export function nodeEvent (event: CoreV1Event, node: string): string | undefined {
  if (event.involvedObject?.kind !== 'Node' || event.involvedObject.name !== node) return undefined
  return `Event ${event.reason ?? '?'} on ${node}: ${event.message ?? ''}`
}

/** A budget's disruptionsAllowed changing, as a sentence. */
export function budgetChange (before: V1PodDisruptionBudget | undefined, after: V1PodDisruptionBudget): string | undefined {
  const s = after.status
  if (s === undefined || before?.status?.disruptionsAllowed === s.disruptionsAllowed) return undefined
  const why = s.disruptionsAllowed === 0 ? ': further evictions of its pods wait until a replacement is Ready' : ''
  return `PodDisruptionBudget ${objectName(after)} allows ${s.disruptionsAllowed} disruption(s) (${s.currentHealthy} healthy, ${s.desiredHealthy} needed)${why}`
}

/** `+  1234 ms` relative to `origin`, right-aligned so columns line up. */
export function elapsed (at: number, origin: number): string {
  const ms = Math.round(at - origin)
  return `${ms < 0 ? '-' : '+'}${String(Math.abs(ms)).padStart(6)} ms`
}

/** One timeline line: elapsed time since `origin`, `originLabel` (e.g. `t0` or `notice`), actor, text. */
export function formatEntry (entry: TimelineEntry, origin: number, originLabel: string): string {
  return `${originLabel} ${elapsed(entry.at, origin)}  ${entry.actor.padEnd(9)} ${entry.text}`
}

/** Drain progress: how many of the pods to move are off the node. */
export interface DrainProgress {
  node: string
  total: number
  gone: number
  evicting: number
  elapsedMs: number
}

/** `[#####-----] 3/6 pods off spot-node-1, 2 terminating  4.2 s`, `width` characters of bar. */
export function formatProgress (p: DrainProgress, width = 20): string {
  const filled = p.total === 0 ? width : Math.round(width * p.gone / p.total)
  const bar = '#'.repeat(filled) + '-'.repeat(width - filled)
  const terminating = p.evicting > 0 ? `, ${p.evicting} terminating` : ''
  return `[${bar}] ${p.gone}/${p.total} pods off ${p.node}${terminating}  ${(p.elapsedMs / 1000).toFixed(1)} s`
}
