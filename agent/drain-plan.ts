/**
 * The drain plan (pure): which of the node's pods to evict, which finished
 * pods to delete, which to leave alone and why, which block the drain; the
 * deadline arithmetic that bounds grace periods; and what to do after a
 * refused eviction (retry after a backoff, give up, or delete the pod a
 * budget still protects because the deadline leaves no more time).
 */
import type { V1LabelSelector, V1Pod, V1PodDisruptionBudget } from '@kubernetes/client-node'

/** Annotation the kubelet puts on mirror pods of static pods. */
export const MIRROR_POD_ANNOTATION = 'kubernetes.io/config.mirror'

/** Kubernetes' default terminationGracePeriodSeconds. */
export const DEFAULT_POD_GRACE_SECONDS = 30

/** What the plan needs to know besides the pods. */
export interface DrainPlanOptions {
  ignoreDaemonSets: boolean
  deleteLocalData: boolean
  /** The agent's own pod, never evicted. */
  ownPod?: { namespace: string, name: string }
  /** POD_TERMINATION_GRACE_PERIOD: seconds, or -1 for the pod's own. */
  podTerminationGracePeriod: number
}

/** A pod the drain acts on. */
export interface PodRef {
  namespace: string
  name: string
  uid: string
  /** Its labels, to find the budget that covers it. */
  labels: Readonly<Record<string, string>>
  /** The grace period the pod would get with no deadline pressure. */
  desiredGraceSeconds: number
}

/** Why a pod is left alone. */
export type SkipReason = 'daemonset' | 'mirror' | 'own-pod'

/** The plan for one drain. */
export interface DrainPlan {
  /** Running pods to evict. */
  evict: PodRef[]
  /** Succeeded or Failed pods: deleted, no eviction needed. */
  deleteFinished: PodRef[]
  /** Pods already terminating: only waited for. */
  terminating: PodRef[]
  /** Pods left alone on purpose. */
  skipped: Array<{ pod: PodRef, reason: SkipReason }>
  /** Pods the configuration forbids evicting; reported as blockers. */
  blocked: Array<{ pod: PodRef, reason: string }>
}

function ref (pod: V1Pod, podTerminationGracePeriod: number): PodRef {
  const own = pod.spec?.terminationGracePeriodSeconds ?? DEFAULT_POD_GRACE_SECONDS
  return {
    namespace: pod.metadata?.namespace ?? 'default',
    name: pod.metadata?.name ?? '',
    uid: pod.metadata?.uid ?? '',
    labels: pod.metadata?.labels ?? {},
    desiredGraceSeconds: podTerminationGracePeriod >= 0 ? podTerminationGracePeriod : own
  }
}

/** Splits the node's pods into what a drain does with each. */
export function planDrain (pods: readonly V1Pod[], options: DrainPlanOptions): DrainPlan {
  const plan: DrainPlan = { evict: [], deleteFinished: [], terminating: [], skipped: [], blocked: [] }
  for (const pod of pods) {
    const r = ref(pod, options.podTerminationGracePeriod)
    const isOwn = options.ownPod !== undefined && r.namespace === options.ownPod.namespace && r.name === options.ownPod.name
    const isMirror = pod.metadata?.annotations?.[MIRROR_POD_ANNOTATION] !== undefined
    const isDaemonSet = (pod.metadata?.ownerReferences ?? []).some(o => o.controller === true && o.kind === 'DaemonSet')
    const phase = pod.status?.phase
    const usesEmptyDir = (pod.spec?.volumes ?? []).some(v => v.emptyDir !== undefined)
    if (isOwn) plan.skipped.push({ pod: r, reason: 'own-pod' })
    else if (isMirror) plan.skipped.push({ pod: r, reason: 'mirror' })
    else if (phase === 'Succeeded' || phase === 'Failed') plan.deleteFinished.push(r)
    else if (isDaemonSet && options.ignoreDaemonSets) plan.skipped.push({ pod: r, reason: 'daemonset' })
    else if (isDaemonSet) plan.blocked.push({ pod: r, reason: 'DaemonSet-managed pod and IGNORE_DAEMON_SETS is false' })
    else if (pod.metadata?.deletionTimestamp !== undefined) plan.terminating.push(r)
    else if (usesEmptyDir && !options.deleteLocalData) plan.blocked.push({ pod: r, reason: 'uses emptyDir and DELETE_LOCAL_DATA is false' })
    else plan.evict.push(r)
  }
  return plan
}

/**
 * The grace period (whole seconds, at least 1) a pod gets at `now`: its desired
 * one, but never past `deadline - marginMs`, so every container gets its
 * SIGTERM and finishes before the instance goes away.
 */
export function boundedGraceSeconds (desiredSeconds: number, deadline: number | undefined, now: number, marginMs: number): number {
  if (deadline === undefined) return Math.max(0, desiredSeconds)
  const left = Math.floor((deadline - marginMs - now) / 1000)
  return Math.max(1, Math.min(desiredSeconds, left))
}

/**
 * When to stop waiting politely for a budget and delete the pod: the last
 * moment at which it can still get its desired grace before `deadline - marginMs`.
 */
export function deleteAtDeadlineTime (desiredSeconds: number, deadline: number, marginMs: number): number {
  return deadline - marginMs - desiredSeconds * 1000
}

/**
 * Backoff before the next eviction try after `attempt` refusals: starts at
 * `baseMs` (a budget usually frees up within a second of a replacement
 * becoming ready, unlike kubectl drain's fixed 5 s), doubles, capped at `capMs`.
 */
export function evictionBackoffMs (attempt: number, baseMs = 250, capMs = 1000): number {
  return Math.min(capMs, baseMs * 2 ** Math.max(0, attempt))
}

/**
 * The window of the random wait before a pod tries a budget again after
 * `refusals` refusals under it since the drain's last accepted eviction
 * there: none without refusals, then from 250 ms doubling to 2 s. Other
 * nodes' agents are competing for the same budget (a pool-wide reclaim), and
 * all of them see it allow one more disruption at the same moment; a random
 * wait lets one of them take the slot and the others see it taken (the
 * eviction lowers disruptionsAllowed at once) instead of all asking and all
 * but one being refused.
 */
export function contentionWindowMs (refusals: number): number {
  return refusals <= 0 ? 0 : Math.min(2000, 250 * 2 ** (refusals - 1))
}

/**
 * Whether `labels` match a label selector as the API server matches a
 * PodDisruptionBudget's: every matchLabels pair and every expression (In,
 * NotIn, Exists, DoesNotExist); an empty selector matches every pod, none
 * matches none.
 */
export function selectorMatches (selector: V1LabelSelector | undefined, labels: Readonly<Record<string, string>>): boolean {
  if (selector === undefined) return false
  const has = (key: string): boolean => Object.hasOwn(labels, key)
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) if (!has(key) || labels[key] !== value) return false
  for (const e of selector.matchExpressions ?? []) {
    const values = e.values ?? []
    const ok = e.operator === 'In' ? has(e.key) && values.includes(labels[e.key]!)
      : e.operator === 'NotIn' ? !has(e.key) || !values.includes(labels[e.key]!)
        : e.operator === 'Exists' ? has(e.key)
          : e.operator === 'DoesNotExist' ? !has(e.key)
            : false
    if (!ok) return false
  }
  return true
}

/** The budget (`namespace/name`) that covers `pod`, if any: a PodDisruptionBudget of its namespace whose selector matches its labels. */
export function budgetFor (pod: Pick<PodRef, 'namespace' | 'labels'>, budgets: readonly V1PodDisruptionBudget[]): string | undefined {
  const found = budgets.find(b => b.metadata?.namespace === pod.namespace && selectorMatches(b.spec?.selector, pod.labels))
  return found === undefined ? undefined : `${pod.namespace}/${found.metadata?.name ?? ''}`
}

/** What to do after an eviction was refused. */
export type RefusalStep =
  | { step: 'retry', waitMs: number }
  | { step: 'give-up' }
  | { step: 'delete', graceSeconds: number }

/** The retry state of one refused pod. */
export interface RefusalState {
  /** Backoff steps taken since the drain last made progress. */
  backoffStep: number
  /** The drain's progress count when the pod last waited. */
  seenProgress: number
}

/** The moment a refusal is judged. */
export interface RefusalContext {
  now: number
  /** Evictions accepted so far in this drain: when it moved, budgets are moving and the backoff starts over. */
  progress: number
  /** When the pod must be deleted anyway (undefined: never). */
  deleteAt?: number
  /** When the drain stops waiting. */
  stopAt: number
  desiredGraceSeconds: number
  deadline?: number
  safetyMarginMs: number
  /** The server's Retry-After, if it sent one: the retry waits at least that long. */
  retryAfterMs?: number
}

/**
 * After a refusal: delete once the deadline forces it (with the grace that is
 * left), give up at the end of the drain, otherwise retry after a backoff that
 * starts over whenever another eviction got through, at least as long as the
 * server's Retry-After asks, never sleeping past the next decision point.
 */
export function afterRefusal (state: RefusalState, at: RefusalContext): { next: RefusalStep, state: RefusalState } {
  if (at.deleteAt !== undefined && at.now >= at.deleteAt) {
    return { next: { step: 'delete', graceSeconds: boundedGraceSeconds(at.desiredGraceSeconds, at.deadline, at.now, at.safetyMarginMs) }, state }
  }
  if (at.now >= at.stopAt) return { next: { step: 'give-up' }, state }
  const backoffStep = at.progress !== state.seenProgress ? 0 : state.backoffStep
  const waitMs = Math.min(Math.max(evictionBackoffMs(backoffStep), at.retryAfterMs ?? 0), Math.max(1, (at.deleteAt ?? at.stopAt) - at.now))
  return { next: { step: 'retry', waitMs }, state: { backoffStep: backoffStep + 1, seenProgress: at.progress } }
}
