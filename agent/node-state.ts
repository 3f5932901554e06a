/**
 * What the agent did to its Node, kept on the Node itself (pure: no I/O).
 *
 * The annotation `spot-handler.io/state` holds a small JSON record: the events
 * acted on (id, kind, when, drained, notified, undone) and whether we cordoned
 * the node and added the load-balancer exclusion label. A restarted agent
 * reads it to resume the same event instead of starting again, and undo uses
 * it to remove only what we added. The functions here compute the Node as it
 * should be; `nodePatch` turns the difference into a JSON patch.
 */
import type { V1Node } from '@kubernetes/client-node'
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

/**
 * Set while an event holds the node (value: the kind of its newest event), so
 * the agents of a pool-wide reclaim can see how many nodes it has reached
 * with one label-selected list (taints cannot be selected on).
 */
export const INTERRUPTED_LABEL = `${OWN_PREFIX}interrupted`

/** The taint key prefix and load-balancer label value the agent writes. */
export interface NodeNames {
  /** Taints are `<prefix><kind>`. */
  taintPrefix: string
  /** Value of LB_EXCLUSION_LABEL when we add it. */
  lbLabelValue: string
}

/** Our names: `spot-handler.io/<kind>` taints, the exclusion label set to `true`. */
export const OUR_NAMES: NodeNames = { taintPrefix: OWN_PREFIX, lbLabelValue: 'true' }

/** The AWS Node Termination Handler's names, so existing tolerations and selectors keep matching (NTH_COMPATIBLE_NAMES). */
export const NTH_NAMES: NodeNames = { taintPrefix: 'aws-node-termination-handler/', lbLabelValue: 'aws-node-termination-handler' }

/** The taint that tells Kubernetes the node is shutting down: pods without a toleration are deleted, their volumes detached. */
export const OUT_OF_SERVICE_TAINT = { key: 'node.kubernetes.io/out-of-service', value: 'nodeshutdown', effect: 'NoExecute' } as const

/** How many finished (undone) events are remembered, so a late poll does not redo them. */
export const FINISHED_EVENTS_KEPT = 10

/** One event the agent acted on. Times are ISO strings. */
export interface InterruptionRecord {
  id: string
  kind: NoticeKind
  since: string
  deadline?: string
  rehearsal?: true
  /** When the drain finished (or was skipped), and its one-line result. */
  drained?: string
  result?: string
  /** Whether that drain left nothing behind (absent when there was no drain). */
  drainComplete?: boolean
  /** What the drain did so far (written when the evictions are done, and with the result), so a restarted agent reports the whole drain. */
  drain?: RecordedDrain
  /** When the notification was about to go out: a restart never sends it again (at most one per event). */
  notifying?: string
  /** Set once the webhook notification went out. */
  notified?: true
  /** Set when the event's actions were undone (canceled, completed, rebooted, expired). */
  undone?: string
}

/** The pods a drain moved or deleted and the ones that blocked it (`namespace/name`). */
export interface RecordedDrain {
  evicted: string[]
  deletedFinished: string[]
  deletedAtDeadline: Array<{ pod: string, pdb?: string }>
  blockers: Array<{ pod: string, reason: string }>
}

/** The pods at most kept per list of a RecordedDrain, so the state annotation stays small. */
export const RECORDED_PODS_KEPT = 500

/** `drain` as the state record keeps it: only its lists, each at most RECORDED_PODS_KEPT long. */
export function recordedDrain (drain: RecordedDrain): RecordedDrain {
  return {
    evicted: drain.evicted.slice(0, RECORDED_PODS_KEPT),
    deletedFinished: drain.deletedFinished.slice(0, RECORDED_PODS_KEPT),
    deletedAtDeadline: drain.deletedAtDeadline.slice(0, RECORDED_PODS_KEPT),
    blockers: drain.blockers.slice(0, RECORDED_PODS_KEPT)
  }
}

/** The whole state record. */
export interface NodeState {
  events: InterruptionRecord[]
  /** Set when we cordoned a schedulable node (so undo may uncordon it). */
  cordonedAt?: string
  /** Set when we added LB_EXCLUSION_LABEL (so undo may remove it). */
  lbLabelAdded?: true
  /** Set when we added OUT_OF_SERVICE_TAINT (so undo may remove it). */
  outOfServiceAdded?: true
}

/** Taint effects Kubernetes accepts. */
export const TAINT_EFFECTS = ['NoSchedule', 'PreferNoSchedule', 'NoExecute'] as const

/** One of TAINT_EFFECTS. */
export type TaintEffect = typeof TAINT_EFFECTS[number]

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
export function activeRecords (state: NodeState): InterruptionRecord[] {
  return state.events.filter(e => e.undone === undefined)
}

/**
 * When the node joined a reclaim: the latest `since` (ms) of its events not
 * undone, or undefined when it has none (or only unreadable times).
 */
export function interruptedSince (node: V1Node): number | undefined {
  const times = activeRecords(readState(node)).map(e => Date.parse(e.since)).filter(Number.isFinite)
  return times.length === 0 ? undefined : Math.max(...times)
}

/** The record of `eventId`, if any. */
export function findRecord (state: NodeState, eventId: string): InterruptionRecord | undefined {
  return state.events.find(e => e.id === eventId)
}

function withState (node: V1Node, state: NodeState): V1Node {
  const next = structuredClone(node)
  next.metadata ??= {}
  next.metadata.annotations = { ...next.metadata.annotations, [STATE_ANNOTATION]: JSON.stringify(state) }
  return next
}

/** Taint key for a notice kind under `names`. */
export function taintKey (kind: NoticeKind, names: NodeNames = OUR_NAMES): string {
  return `${names.taintPrefix}${kind}`
}

/** The Node with `notice` recorded in the state record (unchanged when it already is). */
export function recordNotice (node: V1Node, notice: Notice, now: number): V1Node {
  const state = readState(node)
  if (findRecord(state, notice.eventId) !== undefined) return node
  state.events.push({
    id: notice.eventId,
    kind: notice.kind,
    since: new Date(now).toISOString(),
    ...(notice.deadline !== undefined ? { deadline: new Date(notice.deadline).toISOString() } : {}),
    ...(notice.rehearsal === true ? { rehearsal: true as const } : {})
  })
  const next = withState(node, state)
  next.metadata = { ...next.metadata, labels: { ...next.metadata?.labels, [INTERRUPTED_LABEL]: notice.kind } }
  return next
}

/** The Node tainted `<prefix><kind>=<event id>:<effect>`, replacing an older taint of the same kind. */
export function withTaint (node: V1Node, notice: Notice, effect: TaintEffect, names: NodeNames = OUR_NAMES): V1Node {
  const key = taintKey(notice.kind, names)
  const taints = node.spec?.taints ?? []
  if (taints.some(t => t.key === key && t.value === notice.eventId && t.effect === effect)) return node
  const next = structuredClone(node)
  next.spec = { ...next.spec, taints: [...taints.filter(t => t.key !== key), { key, value: notice.eventId, effect }] }
  return next
}

/** The Node labelled LB_EXCLUSION_LABEL (`true`, or NTH's value), remembered as ours, unless the label is there already. */
export function withLbExclusion (node: V1Node, names: NodeNames = OUR_NAMES): V1Node {
  if (node.metadata?.labels?.[LB_EXCLUSION_LABEL] !== undefined) return node
  const next = structuredClone(node)
  next.metadata = { ...next.metadata, labels: { ...next.metadata?.labels, [LB_EXCLUSION_LABEL]: names.lbLabelValue } }
  return withState(next, { ...readState(node), lbLabelAdded: true })
}

/** The Node tainted OUT_OF_SERVICE_TAINT, remembered as ours, unless it is there already. */
export function withOutOfService (node: V1Node): V1Node {
  const taints = node.spec?.taints ?? []
  if (taints.some(t => t.key === OUT_OF_SERVICE_TAINT.key)) return node
  const next = structuredClone(node)
  next.spec = { ...next.spec, taints: [...taints, { ...OUT_OF_SERVICE_TAINT }] }
  return withState(next, { ...readState(node), outOfServiceAdded: true })
}

/** The Node cordoned, remembered as ours, unless it is unschedulable already. */
export function cordoned (node: V1Node, now: number): V1Node {
  if (node.spec?.unschedulable === true) return node
  const next = structuredClone(node)
  next.spec = { ...next.spec, unschedulable: true }
  return withState(next, { ...readState(node), cordonedAt: new Date(now).toISOString() })
}

/**
 * The Node after undoing `eventId`: its taint removed and the event marked
 * undone; when no other event still holds the node, uncordoned, the LB label
 * and the out-of-service taint removed, each only if we were the ones who set it.
 */
export function withEventUndone (node: V1Node, eventId: string, now: number): V1Node {
  const state = readState(node)
  const record = findRecord(state, eventId)
  if (record === undefined || record.undone !== undefined) return node
  const next = structuredClone(node)
  record.undone = new Date(now).toISOString()
  // Either name: NTH_COMPATIBLE_NAMES may have changed since the taint went on.
  const keys = [taintKey(record.kind, OUR_NAMES), taintKey(record.kind, NTH_NAMES)]
  let taints = (next.spec?.taints ?? []).filter(t => !(keys.includes(t.key) && t.value === eventId))
  if (activeRecords(state).length === 0 && state.outOfServiceAdded === true) {
    taints = taints.filter(t => t.key !== OUT_OF_SERVICE_TAINT.key)
    delete state.outOfServiceAdded
  }
  if (next.spec !== undefined && next.spec.taints !== undefined) {
    if (taints.length > 0) next.spec.taints = taints
    else delete next.spec.taints
  }
  if (activeRecords(state).length === 0) {
    if (state.cordonedAt !== undefined && next.spec !== undefined) {
      delete next.spec.unschedulable
      delete state.cordonedAt
    }
    if (state.lbLabelAdded === true && next.metadata?.labels !== undefined) {
      delete next.metadata.labels[LB_EXCLUSION_LABEL]
      delete state.lbLabelAdded
    }
    if (next.metadata?.labels !== undefined) delete next.metadata.labels[INTERRUPTED_LABEL]
  }
  const finished = state.events.filter(e => e.undone !== undefined)
  const drop = new Set(finished.slice(0, Math.max(0, finished.length - FINISHED_EVENTS_KEPT)))
  state.events = state.events.filter(e => !drop.has(e))
  return withState(next, state)
}

/** The Node with fields of `eventId`'s record updated (drain result, notified). */
export function updateRecord (node: V1Node, eventId: string, update: Partial<Omit<InterruptionRecord, 'id' | 'kind'>>): V1Node {
  const state = readState(node)
  const record = findRecord(state, eventId)
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
export function expiredRecords (state: NodeState, now: number, bootTime: number | undefined, rebalanceUncordonAfterMs: number | undefined): Array<{ record: InterruptionRecord, why: 'rebooted' | 'rebalance-expired' }> {
  const active = activeRecords(state)
  const spotActive = active.some(e => e.kind === 'spot-itn')
  const out: Array<{ record: InterruptionRecord, why: 'rebooted' | 'rebalance-expired' }> = []
  for (const record of active) {
    const since = Date.parse(record.since)
    if (bootTime !== undefined && bootTime > since) out.push({ record, why: 'rebooted' })
    else if (record.kind === 'rebalance-recommendation' && rebalanceUncordonAfterMs !== undefined && !spotActive && now - since >= rebalanceUncordonAfterMs) out.push({ record, why: 'rebalance-expired' })
  }
  return out
}

/**
 * When the next rebalance cordon expires (ms since epoch), so a quiet Node
 * needs no polling: undefined when none will.
 */
export function nextRebalanceExpiry (state: NodeState, rebalanceUncordonAfterMs: number | undefined): number | undefined {
  const active = activeRecords(state)
  if (rebalanceUncordonAfterMs === undefined || active.some(e => e.kind === 'spot-itn')) return undefined
  const times = active.filter(e => e.kind === 'rebalance-recommendation').map(e => Date.parse(e.since) + rebalanceUncordonAfterMs)
  return times.length === 0 ? undefined : Math.min(...times)
}

/** The parts of a Node the agent manages, as plain JSON (dates as strings), shaped like the Node. */
function managedParts (node: V1Node): unknown {
  const pick = (map: Record<string, string> | undefined, keys: readonly string[]): Record<string, string> | undefined =>
    map === undefined ? undefined : Object.fromEntries(keys.filter(k => map[k] !== undefined).map(k => [k, map[k]!]))
  return JSON.parse(JSON.stringify({
    metadata: {
      labels: pick(node.metadata?.labels, [LB_EXCLUSION_LABEL, INTERRUPTED_LABEL]),
      annotations: pick(node.metadata?.annotations, [STATE_ANNOTATION, REHEARSE_ANNOTATION])
    },
    spec: { taints: node.spec?.taints, unschedulable: node.spec?.unschedulable }
  }))
}

/**
 * The JSON patch turning `before` into `after`, limited to what the agent
 * manages (its annotations, its labels, taints, unschedulable), so fields
 * the client library re-encodes (timestamps) are never rewritten.
 */
export function nodePatch (before: V1Node, after: V1Node): Operation[] {
  return jsonpatch.compare(managedParts(before) as object, managedParts(after) as object)
}
