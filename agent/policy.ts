/**
 * The agent's decisions under its configuration (pure: no I/O): which notice
 * kinds are monitored, which notices drain and with which options, whether an
 * event recorded on the Node is already handled, and whether the agent is
 * ready.
 */
import type { AgentConfig } from './config.ts'
import type { DrainOptions } from './drain.ts'
import type { InterruptionRecord } from './node-state.ts'
import { NOTICE_KINDS, type Notice, type NoticeKind } from './notices.ts'

/** Which notice kinds have an IMDS monitor under `config`. */
export function monitoredKinds (config: AgentConfig): NoticeKind[] {
  const enabled: Record<NoticeKind, boolean> = {
    'spot-itn': config.enableSpotInterruptionDraining,
    'rebalance-recommendation': config.enableRebalanceMonitoring || config.enableRebalanceDraining,
    'scheduled-maintenance': config.enableScheduledEventDraining,
    'asg-lifecycle-termination': config.enableAsgLifecycleDraining
  }
  return NOTICE_KINDS.filter(k => enabled[k])
}

/** Whether the agent acts on `notice` at all: a scheduled event only when its code is one of SCHEDULED_EVENT_CODES. */
export function actsOn (notice: Notice, config: Pick<AgentConfig, 'scheduledEventCodes'>): boolean {
  return notice.kind !== 'scheduled-maintenance' || notice.code === undefined || (config.scheduledEventCodes as readonly string[]).includes(notice.code)
}

/** Whether a notice of `kind` leads to a drain under `config`. */
export function drainsFor (kind: NoticeKind, config: AgentConfig): boolean {
  if (config.cordonOnly) return false
  return kind !== 'rebalance-recommendation' || config.enableRebalanceDraining
}

/**
 * The drain options a notice gets: the notice's deadline, the configured
 * grace periods, and deletion at the deadline for the kinds that have it,
 * never for a rehearsal: a rehearsal must not take a pod its budget protects.
 */
export function drainOptionsFor (notice: Notice, config: AgentConfig): DrainOptions {
  return {
    ignoreDaemonSets: config.ignoreDaemonSets,
    deleteLocalData: config.deleteLocalData,
    podTerminationGracePeriod: config.podTerminationGracePeriod,
    ownPod: config.podName !== '' ? { namespace: config.podNamespace, name: config.podName } : undefined,
    deadline: notice.deadline,
    noDeadlineBudgetMs: config.nodeTerminationGracePeriod === 0 ? Infinity : config.nodeTerminationGracePeriod * 1000,
    safetyMarginMs: config.deadlineSafetyMargin,
    deleteAtDeadline: notice.rehearsal !== true && config.deleteAtDeadline.includes(notice.kind)
  }
}

/**
 * How long a drain waits after the cordon before its first eviction
 * (DRAIN_SETTLE_TIME): in a pool-wide reclaim the other nodes' notices come
 * within a poll interval or two, and replacements scheduled before those
 * nodes are tainted would be evicted twice. At most a tenth of the time left
 * before the deadline; none when a drain is resumed (it settled before).
 */
export function settleDelayMs (notice: Notice, config: AgentConfig, now: number, resumed: boolean): number {
  if (resumed || config.drainSettleTime <= 0) return 0
  return Math.min(config.drainSettleTime, waveLimitMs(notice, config, now))
}

/** The longest a drain settles while a reclaim keeps reaching more nodes: five settle times, at most a tenth of the time left before the deadline. */
export function waveLimitMs (notice: Notice, config: AgentConfig, now: number): number {
  const limit = 5 * config.drainSettleTime
  return notice.deadline === undefined ? limit : Math.max(0, Math.min(limit, Math.floor((notice.deadline - now) / 10)))
}

/**
 * Whether a settling drain waits another round: a node joined the reclaim
 * (`joinedAt`: when each interrupted node got its notice, undefined when they
 * could not be listed) after the last round began (`roundStart`), and the
 * settling so far (`settledMs`) is still short of `limitMs`.
 */
export function waveStillArriving (joinedAt: readonly number[] | undefined, roundStart: number, settledMs: number, limitMs: number): boolean {
  return joinedAt !== undefined && joinedAt.some(t => t > roundStart) && settledMs < limitMs
}

/**
 * Whether the event recorded on the Node needs nothing more: undone, or
 * drained with its notification sent or being sent before a restart (it is
 * never sent twice), or none to send. A rehearsal is never
 * done until it has put the node back, which also removes its record's hold.
 */
export function isHandled (record: InterruptionRecord | undefined, notice: Notice, config: AgentConfig): boolean {
  if (record === undefined) return false
  if (record.undone !== undefined) return true
  const notifiedOrNothingToSend = record.notified === true || record.notifying !== undefined || config.webhookUrl === undefined
  return record.drained !== undefined && notifiedOrNothingToSend && notice.rehearsal !== true
}

/**
 * How long an IMDS monitor may go without a successful poll before the agent
 * is not ready: three poll intervals, and at least one whole poll with all
 * its tries timing out (a notice served slower than METADATA_TIMEOUT is never
 * seen, so that must show).
 */
export function imdsStaleAfterMs (config: Pick<AgentConfig, 'pollInterval' | 'metadataTimeout' | 'metadataTries'>): number {
  return Math.max(3 * config.pollInterval, config.pollInterval + config.metadataTries * config.metadataTimeout)
}

/** An IMDS monitor as readiness sees it. */
export interface MonitorHealth {
  /** The notice kind it polls. */
  kind: NoticeKind
  /** When a poll last succeeded (ms since epoch), undefined when none has. */
  lastSuccess: number | undefined
}

/** What readiness is judged on. */
export interface ReadinessInput {
  now: number
  imdsMonitors: readonly MonitorHealth[]
  /** How long without a successful poll is too long (imdsStaleAfterMs). */
  imdsStaleAfterMs: number
  /** Since when the Node watch has been down, undefined while it is up. */
  nodeWatchDownSince: number | undefined
  /** How long the Node watch may be down before the agent is not ready. */
  nodeWatchStaleAfterMs: number
}

/** Why the agent is not ready, or undefined when it is: the first IMDS monitor that is stale, else a Node watch down for long. */
export function readinessProblem (r: ReadinessInput): string | undefined {
  for (const m of r.imdsMonitors) {
    if (m.lastSuccess === undefined) return `no successful IMDS poll yet (${m.kind})`
    if (r.now - m.lastSuccess > r.imdsStaleAfterMs) return `no successful IMDS poll for ${Math.round((r.now - m.lastSuccess) / 1000)}s (${m.kind}; each request may take --metadata-timeout)`
  }
  if (r.nodeWatchDownSince !== undefined && r.now - r.nodeWatchDownSince > r.nodeWatchStaleAfterMs) {
    return `no watch on the Node for ${Math.round((r.now - r.nodeWatchDownSince) / 1000)}s (rehearsals and reboots go unnoticed)`
  }
  return undefined
}
