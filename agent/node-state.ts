/**
 * What the agent did to its Node, kept on the Node itself (pure: no I/O).
 *
 * The annotation `spot-handler.io/state` holds a small JSON record: the events
 * acted on (id, kind, when, drained, notified, undone) and whether we cordoned
 * the node and added the load-balancer exclusion label. A restarted agent
 * reads it to resume the same event instead of starting again, and undo uses
 * it to remove only what we added. The functions here compute the Node as it
 * should be; node-actions.ts turns the difference into a JSON patch.
 */
import type { V1Node, V1Taint } from '@kubernetes/client-node'
import jsonpatch, { type Operation } from 'fast-json-patch'
import type { Notice, NoticeKind } from './notices.ts'

/** Prefix of every name the agent owns. */
export const OWN_PREFIX = 'spot-handler.io/'

/** Annotation holding the agent's state record. */
export const STATE_ANNOTATION = `${OWN_PREFIX}state`

/** Annotation that starts a rehearsal: its value is the notice kind. */
export const REHEARSE_ANNOTATION = `${OWN_PREFIX}rehearse`

/** Label that makes cloud load balancers stop sending new connections to the node. */
export const LB_EXCLUSION_LABEL = 'node.kubernetes.io/exclude-from-external-load-balancers'

/** How many finished (undone) events are remembered, so a late poll does not redo them. */
export const FINISHED_EVENTS_KEPT = 10

/** One event the agent acted on. Times are ISO strings. */
export interface EventRecord {
  id: string
  kind: NoticeKind
  since: string
  deadline?: string
  rehearsal?: true
  /** When the drain finished (or was skipped), and its one-line result. */
  drained?: string
  result?: string
  /** Set once the webhook notification went out, so a restart does not repeat it. */
  notified?: true
  /** Set when the event's actions were undone (canceled, completed, rebooted, expired). */
  undone?: string
}

/** The whole state record. */
export interface NodeState {
  events: EventRecord[]
  /** Set when we cordoned a schedulable node (so undo may uncordon it). */
  cordonedAt?: string
  /** Set when we added LB_EXCLUSION_LABEL (so undo may remove it). */
  lbLabelAdded?: true
}

/** Which node actions are enabled. */
export interface NodeActionOptions {
  taint: boolean
  taintEffect: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute'
  excludeFromLoadBalancers: boolean
}

/** Reads the state record; a missing or unreadable annotation is an empty state. */
export function readState (node: V1Node): NodeState {
  const raw = node.metadata?.annotations?.[STATE_ANNOTATION]
  if (raw === undefined) return { events: [] }
  try {
    const parsed = JSON.parse(raw) as Partial<NodeState>
    return { ...parsed, events: Array.isArray(parsed.events) ? parsed.events : [] }
  } catch {
    return { events: [] }
  }
}

/** Events acted on and not undone. */
export function activeEvents (state: NodeState): EventRecord[] {
  return state.events.filter(e => e.undone === undefined)
}

/** The record of `eventId`, if any. */
export function findEvent (state: NodeState, eventId: string): EventRecord | undefined {
  return state.events.find(e => e.id === eventId)
}

function withState (node: V1Node, state: NodeState): V1Node {
  const next = structuredClone(node)
  next.metadata ??= {}
  next.metadata.annotations = { ...next.metadata.annotations, [STATE_ANNOTATION]: JSON.stringify(state) }
  return next
}

/** Taint key for a notice kind. */
export function taintKey (kind: NoticeKind): string {
  return `${OWN_PREFIX}${kind}`
}

/**
 * The Node after acting on `notice`: event recorded, taint set (replacing an
 * older one of the same kind), LB exclusion label added if absent, cordoned.
 */
export function applyNotice (node: V1Node, notice: Notice, options: NodeActionOptions, now: number): V1Node {
  const state = readState(node)
  const next = structuredClone(node)
  next.metadata ??= {}
  next.spec ??= {}
  const nowIso = new Date(now).toISOString()
  if (findEvent(state, notice.eventId) === undefined) {
    state.events.push({
      id: notice.eventId,
      kind: notice.kind,
      since: nowIso,
      ...(notice.deadline !== undefined ? { deadline: new Date(notice.deadline).toISOString() } : {}),
      ...(notice.rehearsal === true ? { rehearsal: true as const } : {})
    })
  }
  if (options.taint) {
    const key = taintKey(notice.kind)
    const taint: V1Taint = { key, value: notice.eventId, effect: options.taintEffect }
    next.spec.taints = [...(next.spec.taints ?? []).filter(t => t.key !== key), taint]
  }
  if (options.excludeFromLoadBalancers && next.metadata.labels?.[LB_EXCLUSION_LABEL] === undefined) {
    next.metadata.labels = { ...next.metadata.labels, [LB_EXCLUSION_LABEL]: 'true' }
    state.lbLabelAdded = true
  }
  if (next.spec.unschedulable !== true) {
    next.spec.unschedulable = true
    state.cordonedAt = nowIso
  }
  return withState(next, state)
}

/**
 * The Node after undoing `eventId`: its taint removed and the event marked
 * undone; when no other event still holds the node, uncordoned and the LB label
 * removed, each only if we were the ones who set it.
 */
export function undoEvent (node: V1Node, eventId: string, now: number): V1Node {
  const state = readState(node)
  const record = findEvent(state, eventId)
  if (record === undefined || record.undone !== undefined) return node
  const next = structuredClone(node)
  record.undone = new Date(now).toISOString()
  const key = taintKey(record.kind)
  const taints = (next.spec?.taints ?? []).filter(t => !(t.key === key && t.value === eventId))
  if (next.spec !== undefined && next.spec.taints !== undefined) {
    if (taints.length > 0) next.spec.taints = taints
    else delete next.spec.taints
  }
  if (activeEvents(state).length === 0) {
    if (state.cordonedAt !== undefined && next.spec !== undefined) {
      delete next.spec.unschedulable
      delete state.cordonedAt
    }
    if (state.lbLabelAdded === true && next.metadata?.labels !== undefined) {
      delete next.metadata.labels[LB_EXCLUSION_LABEL]
      delete state.lbLabelAdded
    }
  }
  const finished = state.events.filter(e => e.undone !== undefined)
  const drop = new Set(finished.slice(0, Math.max(0, finished.length - FINISHED_EVENTS_KEPT)))
  state.events = state.events.filter(e => !drop.has(e))
  return withState(next, state)
}

/** The Node with fields of `eventId`'s record updated (drain result, notified). */
export function updateEvent (node: V1Node, eventId: string, update: Partial<Omit<EventRecord, 'id' | 'kind'>>): V1Node {
  const state = readState(node)
  const record = findEvent(state, eventId)
  if (record === undefined) return node
  Object.assign(record, update)
  return withState(node, state)
}

/** The Node without the rehearsal annotation. */
export function withoutRehearsal (node: V1Node): V1Node {
  if (node.metadata?.annotations?.[REHEARSE_ANNOTATION] === undefined) return node
  const next = structuredClone(node)
  delete next.metadata!.annotations![REHEARSE_ANNOTATION]
  return next
}

/** Seconds since boot from the content of /proc/uptime (first number). */
export function parseUptime (content: string): number {
  const first = Number(content.trim().split(/\s+/)[0])
  if (!Number.isFinite(first) || first < 0) throw new Error(`not an uptime: ${JSON.stringify(content.slice(0, 40))}`)
  return first
}

/**
 * Events that outlived their reason: the instance rebooted after we acted
 * (boot time later than the event's start: a scheduled reboot, or a Spot
 * stop/hibernate followed by a start); for
 * rebalance recommendations, `rebalanceUncordonAfterMs` passed without a Spot
 * interruption notice following.
 */
export function expiredEvents (state: NodeState, now: number, bootTime: number | undefined, rebalanceUncordonAfterMs: number | undefined): Array<{ record: EventRecord, why: 'rebooted' | 'rebalance-expired' }> {
  const active = activeEvents(state)
  const spotActive = active.some(e => e.kind === 'spot-itn')
  const out: Array<{ record: EventRecord, why: 'rebooted' | 'rebalance-expired' }> = []
  for (const record of active) {
    const since = Date.parse(record.since)
    if (bootTime !== undefined && bootTime > since) out.push({ record, why: 'rebooted' })
    else if (record.kind === 'rebalance-recommendation' && rebalanceUncordonAfterMs !== undefined && !spotActive && now - since >= rebalanceUncordonAfterMs) out.push({ record, why: 'rebalance-expired' })
  }
  return out
}

/** The parts of a Node the agent manages, as plain JSON (dates as strings), shaped like the Node. */
function managedParts (node: V1Node): unknown {
  const pick = (map: Record<string, string> | undefined, keys: readonly string[]): Record<string, string> | undefined =>
    map === undefined ? undefined : Object.fromEntries(keys.filter(k => map[k] !== undefined).map(k => [k, map[k]!]))
  return JSON.parse(JSON.stringify({
    metadata: {
      labels: pick(node.metadata?.labels, [LB_EXCLUSION_LABEL]),
      annotations: pick(node.metadata?.annotations, [STATE_ANNOTATION, REHEARSE_ANNOTATION])
    },
    spec: { taints: node.spec?.taints, unschedulable: node.spec?.unschedulable }
  }))
}

/**
 * The JSON patch turning `before` into `after`, limited to what the agent
 * manages (its annotations, the LB label, taints, unschedulable), so fields
 * the client library re-encodes (timestamps) are never rewritten.
 */
export function nodePatch (before: V1Node, after: V1Node): Operation[] {
  return jsonpatch.compare(managedParts(before) as object, managedParts(after) as object)
}
