/**
 * What the agent does about one interruption event: one ordered table of
 * actions (Event, taint, load-balancer label, cordon, drain, record the
 * result, notify, end a rehearsal) that the real run, the dry run and the
 * report of node actions all walk. Node edits next to each other in the table
 * go out as one resourceVersion-guarded patch that also records the event on
 * the Node, so the node is never left half-done. State on the Node makes every
 * step resumable: a restarted agent continues the same event and never
 * repeats a notification. Undo removes exactly what an event added.
 */
import type { V1Node } from '@kubernetes/client-node'
import type { Logger } from 'pino'
import { statusOf } from '#common/kube-status.ts'
import type { AgentConfig } from './config.ts'
import { drainNode, summarizeDrain, withEarlierDrain, type DrainReport } from './drain.ts'
import type { NodeMetadata } from './imds.ts'
import type { KubeEventInput, NodeClient } from './kube.ts'
import type { AgentMetrics } from './metrics.ts'
import {
  cordoned, findRecord, LB_EXCLUSION_LABEL, nodePatch, readState, recordedDrain, recordNotice, taintKey, updateRecord, withEventUndone, withLbExclusion,
  withoutRehearsal, withOutOfService, withTaint, NTH_NAMES, OUR_NAMES, OUT_OF_SERVICE_TAINT, type InterruptionRecord, type NodeNames
} from './node-state.ts'
import { earlierDeadline, type Notice, type NoticeKind } from './notices.ts'
import { sendNotification, type NotificationTemplate } from './notify.ts'
import { drainOptionsFor, drainsFor, isHandled, settleDelayMs, waveLimitMs, waveStillArriving } from './policy.ts'

/** Everything the actions need; built once by the agent. */
export interface ActionContext {
  config: AgentConfig
  client: NodeClient
  metadata: NodeMetadata
  metrics: AgentMetrics
  logger: Logger
  /** The notification template, compiled at start-up. */
  template: NotificationTemplate
  now: () => number
  sleep: (ms: number) => Promise<void>
  /** Aborted when the agent stops. */
  signal: AbortSignal
}

/** How acting on a notice ended. */
export type ActOutcome = 'done' | 'already-done' | 'handed-over' | 'dry-run'

/** Kubernetes Event reason per notice kind: the AWS Node Termination Handler's, so its alerts and dashboards carry over. */
export const EVENT_REASONS: Record<NoticeKind, string> = {
  'spot-itn': 'SpotInterruption',
  'rebalance-recommendation': 'RebalanceRecommendation',
  'scheduled-maintenance': 'ScheduledEvent',
  'asg-lifecycle-termination': 'ASGLifecycle'
}

/** Reasons of the other Events, NTH's where the step is the same. */
export const STEP_REASONS = {
  /** A drain that left nothing behind. */
  drained: 'CordonAndDrain',
  /** A drain that left pods behind (blocked, or out of time). */
  drainIncomplete: 'CordonAndDrainError',
  /** Cordoned without a drain (CORDON_ONLY, or a kind that does not drain). */
  cordoned: 'Cordon',
  /** One per evicted pod, on the pod. */
  podEvicted: 'PodEviction',
  /** An event undone (canceled, completed, rebooted, expired). */
  undone: 'Uncordon',
  /** A notice body that could not be read (rate-limited). */
  monitorError: 'MonitorError'
} as const

/** Annotations on every Event: the instance's metadata under NTH's keys, then KUBERNETES_EVENTS_EXTRA_ANNOTATIONS. */
export function eventAnnotations (metadata: NodeMetadata, extra: Record<string, string>): Record<string, string> {
  return {
    'account-id': metadata.accountId,
    'availability-zone': metadata.availabilityZone,
    'instance-id': metadata.instanceId,
    'instance-life-cycle': metadata.instanceLifeCycle,
    'instance-type': metadata.instanceType,
    'local-hostname': metadata.localHostname,
    'local-ipv4': metadata.localIp,
    'public-hostname': metadata.publicHostname,
    'public-ipv4': metadata.publicIp,
    region: metadata.region,
    ...extra
  }
}

/** One pass through the table for one notice. */
interface Run {
  ctx: ActionContext
  notice: Notice
  log: Logger
  /** The Node as last read or written. */
  node: V1Node
  /** The event's record as found when the run started. */
  recorded: InterruptionRecord | undefined
  /** Whether this run announces the event (first sighting in this process, nothing on the Node). */
  announce: boolean
  startedAt: number
  report?: DrainReport
  result?: string
}

/** One row of the action table. */
interface Action {
  /** Name in logs and in spot_agent_actions_total{action}. */
  action: string
  enabled: (config: AgentConfig, notice: Notice) => boolean
  /** The step in words, for the dry run; bookkeeping steps have none. */
  describe?: (notice: Notice, config: AgentConfig) => string
  /** A Node edit (pure); consecutive edits go out as one guarded patch. */
  edit?: (node: V1Node, notice: Notice, config: AgentConfig, now: number) => V1Node
  /** An I/O step; returns 'handed-over' to stop the run because the agent is stopping. */
  run?: (run: Run) => Promise<'handed-over' | undefined>
}

/** The names the agent writes under `config`: ours, or NTH's with NTH_COMPATIBLE_NAMES. */
function nodeNames (config: AgentConfig): NodeNames {
  return config.nthCompatibleNames ? NTH_NAMES : OUR_NAMES
}

/** The actions, in the order they happen. */
export const ACTIONS: readonly Action[] = [
  { action: 'event', enabled: c => c.emitKubernetesEvents, describe: n => `record Event ${EVENT_REASONS[n.kind]} on the node`, run: announce },
  { action: 'taint', enabled: c => c.taintNode, describe: (n, c) => `taint ${taintKey(n.kind, nodeNames(c))}=${n.eventId}:${c.taintEffect}`, edit: (node, n, c) => withTaint(node, n, c.taintEffect, nodeNames(c)) },
  { action: 'label', enabled: c => c.excludeFromLoadBalancers, describe: (_n, c) => `label ${LB_EXCLUSION_LABEL}=${nodeNames(c).lbLabelValue} unless present`, edit: (node, _n, c) => withLbExclusion(node, nodeNames(c)) },
  { action: 'cordon', enabled: () => true, describe: () => 'cordon the node', edit: (node, _n, _c, now) => cordoned(node, now) },
  { action: 'drain', enabled: (c, n) => drainsFor(n.kind, c), describe: () => 'drain the node', run: drain },
  { action: 'out-of-service', enabled: (c, n) => c.enableOutOfServiceTaint && drainsFor(n.kind, c) && n.rehearsal !== true, describe: () => `taint ${OUT_OF_SERVICE_TAINT.key}=${OUT_OF_SERVICE_TAINT.value}:${OUT_OF_SERVICE_TAINT.effect} once the drain is complete`, run: outOfService },
  { action: 'record', enabled: () => true, run: recordResult },
  { action: 'notify', enabled: c => c.webhookUrl !== undefined, describe: () => 'send the notification', run: notify },
  { action: 'end-rehearsal', enabled: (_c, n) => n.rehearsal === true, run: endRehearsal }
]

/** The logger every line of an event goes through. */
export function eventLogger (ctx: ActionContext, event: { eventId: string, kind: NoticeKind }): Logger {
  return ctx.logger.child({ eventId: event.eventId, kind: event.kind, node: ctx.client.nodeName })
}

/** Waits between the tries of recording a Kubernetes Event. */
const EVENT_RETRY_DELAYS_MS = [250, 1000, 3000]

/**
 * Records a Kubernetes Event on the Node when enabled, retrying a few times
 * when the API server fails (5xx, 429, no answer) rather than refuses (4xx);
 * a failure is logged and counted, never thrown.
 */
export async function recordKubeEvent (ctx: ActionContext, log: Logger, node: V1Node | undefined, event: KubeEventInput): Promise<void> {
  if (!ctx.config.emitKubernetesEvents) return
  for (let attempt = 0; ; attempt++) {
    try {
      await ctx.client.createKubeEvent(node, { ...event, annotations: eventAnnotations(ctx.metadata, ctx.config.kubernetesEventsExtraAnnotations) })
      ctx.metrics.actions.inc({ action: 'event', result: 'ok' })
      return
    } catch (err) {
      const status = statusOf((err as Error).cause)
      const retryable = status === undefined || status === 429 || status >= 500
      if (!retryable || attempt >= EVENT_RETRY_DELAYS_MS.length || ctx.signal.aborted) {
        ctx.metrics.actions.inc({ action: 'event', result: 'error' })
        log.warn({ err, reason: event.reason, attempts: attempt + 1 }, 'could not record the Kubernetes event; carrying on')
        return
      }
      await ctx.sleep(EVENT_RETRY_DELAYS_MS[attempt]!)
    }
  }
}

/**
 * Acts on an active notice, resuming from the state recorded on the Node.
 * `announce` is false when this process announced the event already (a retry
 * after a failure), so the Event is not recorded twice.
 */
export async function actOnNotice (notice: Notice, announce: boolean, ctx: ActionContext): Promise<ActOutcome> {
  const log = eventLogger(ctx, notice)
  const enabled = ACTIONS.filter(a => a.enabled(ctx.config, notice))
  if (ctx.config.dryRun) {
    for (const a of enabled) {
      if (a.describe === undefined) continue
      const step = a.describe(notice, ctx.config)
      log.info({ dryRun: true, step }, `dry run: would ${step}`)
      ctx.metrics.actions.inc({ action: a.action, result: 'dry-run' })
    }
    return 'dry-run'
  }
  const node = await ctx.client.currentNode()
  const recorded = findRecord(readState(node), notice.eventId)
  // A restarted agent keeps the deadline it recorded when that one is earlier (a mock's time moves on every read).
  if (recorded?.deadline !== undefined) notice = earlierDeadline(notice, { ...notice, deadline: Date.parse(recorded.deadline) })
  if (isHandled(recorded, notice, ctx.config)) {
    log.debug('event already handled')
    return 'already-done'
  }
  const run: Run = { ctx, notice, log, node, recorded, announce: announce && recorded === undefined, startedAt: ctx.now() }
  if (run.announce) {
    ctx.metrics.notices.inc({ kind: notice.kind })
    log.info({ deadline: notice.deadline !== undefined ? new Date(notice.deadline).toISOString() : undefined, detail: notice.detail }, 'acting on notice')
  } else if (recorded !== undefined) {
    log.info({ since: recorded.since, drained: recorded.drained }, 'resuming event recorded on the node')
  }
  for (let i = 0; i < enabled.length;) {
    const edits = takeEdits(enabled, i)
    if (edits.length > 0) {
      await applyEdits(run, edits)
      i += edits.length
    } else {
      if (await enabled[i]!.run?.(run) === 'handed-over') return 'handed-over'
      i++
    }
  }
  return 'done'
}

/** The node edits starting at `from`, up to the next I/O step. */
function takeEdits (actions: readonly Action[], from: number): Action[] {
  const edits: Action[] = []
  for (let i = from; i < actions.length && actions[i]!.edit !== undefined; i++) edits.push(actions[i]!)
  return edits
}

/** Applies `edits` and the event's record in one guarded patch, then reports each edit as done or already in place. */
async function applyEdits (run: Run, edits: readonly Action[]): Promise<void> {
  const { ctx, notice, log } = run
  const now = ctx.now()
  const before = run.node
  run.node = await ctx.client.updateNode(n => edits.reduce((acc, a) => a.edit!(acc, notice, ctx.config, now), recordNotice(n, notice, now)), { from: run.node })
  for (const a of edits) {
    const already = nodePatch(before, a.edit!(before, notice, ctx.config, now)).length === 0
    ctx.metrics.actions.inc({ action: a.action, result: already ? 'already' : 'ok' })
    log.info({ action: a.action, already }, already ? `${a.action}: already in place` : `${a.action}: done`)
  }
  log.debug({ taints: run.node.spec?.taints, unschedulable: run.node.spec?.unschedulable }, 'node updated')
}

function describeNotice (ctx: ActionContext, notice: Notice): string {
  const deadline = notice.deadline !== undefined ? new Date(notice.deadline).toISOString() : 'none'
  return `${notice.rehearsal === true ? 'Rehearsal: ' : ''}${notice.detail}; instance ${ctx.metadata.instanceId} (${ctx.metadata.instanceType}, ${ctx.metadata.availabilityZone}); event ${notice.eventId}; deadline ${deadline}`
}

async function announce (run: Run): Promise<undefined> {
  if (run.announce) await recordKubeEvent(run.ctx, run.log, run.node, { reason: EVENT_REASONS[run.notice.kind], message: describeNotice(run.ctx, run.notice), type: 'Warning' })
  return undefined
}

/** When each node carrying the interrupted label joined the reclaim, or undefined (logged) when they cannot be listed. */
async function reclaimJoinTimes (ctx: ActionContext, log: Logger): Promise<number[] | undefined> {
  try {
    return await ctx.client.interruptedSinceTimes()
  } catch (err) {
    log.debug({ err: { message: (err as Error).message } }, 'cannot list the interrupted nodes; settling for the settle time only')
    return undefined
  }
}

/**
 * Waits between the cordon and the first eviction (DRAIN_SETTLE_TIME), and
 * again while the reclaim keeps reaching more nodes (a node carrying the
 * interrupted label got its notice during the last round), up to
 * waveLimitMs: replacements then go to nodes the wave has spared. One
 * label-selected list per round.
 */
async function settle (run: Run): Promise<void> {
  const { ctx, notice, log } = run
  const first = settleDelayMs(notice, ctx.config, ctx.now(), run.recorded?.drain !== undefined)
  if (first <= 0) return
  const started = ctx.now()
  const limit = waveLimitMs(notice, ctx.config, started)
  log.info({ settleMs: first }, 'cordoned; letting the wave settle before the first eviction')
  let roundStart = started
  await ctx.sleep(first)
  for (;;) {
    const joinedAt = await reclaimJoinTimes(ctx, log)
    if (ctx.signal.aborted || !waveStillArriving(joinedAt, roundStart, ctx.now() - started, limit)) return
    log.info({ interruptedNodes: joinedAt!.length, joinedMeanwhile: joinedAt!.filter(t => t > roundStart).length }, 'the reclaim reached more nodes meanwhile; settling another round')
    roundStart = ctx.now()
    await ctx.sleep(Math.min(first, limit - (roundStart - started)))
  }
}

async function drain (run: Run): Promise<'handed-over' | undefined> {
  const { ctx, notice, log } = run
  if (run.recorded?.drained !== undefined) return undefined
  const earlier = run.recorded?.drain
  await settle(run)
  const checkpoint = async (sofar: DrainReport): Promise<void> => {
    const drain = recordedDrain(withEarlierDrain(sofar, earlier))
    run.node = await ctx.client.updateNode(n => updateRecord(n, notice.eventId, { drain }), { from: run.node })
  }
  const report = withEarlierDrain(await drainNode(drainOptionsFor(notice, ctx.config), {
    client: ctx.client,
    logger: log,
    metrics: ctx.metrics,
    now: ctx.now,
    sleep: ctx.sleep,
    signal: ctx.signal,
    checkpoint,
    onEvicted: pod => { void recordKubeEvent(ctx, log, undefined, { reason: STEP_REASONS.podEvicted, message: `Pod evicted due to node drain (node ${ctx.client.nodeName})`, type: 'Normal', pod }) }
  }), earlier)
  run.report = report
  run.result = summarizeDrain(report)
  if (report.handedOver) {
    log.info({ result: run.result }, 'agent stopping: leaving the rest of this event to the next start')
    return 'handed-over'
  }
  ctx.metrics.drainDuration.observe({ kind: notice.kind }, report.durationMs / 1000)
  ctx.metrics.actions.inc({ action: 'drain', result: report.complete ? 'ok' : 'incomplete' })
  log.info({ report, durationMs: report.durationMs }, run.result)
  return undefined
}

/** The result when no drain ran in this pass: the recorded one, or why there was no drain. */
function resultWithoutDrain (run: Run): string {
  if (run.recorded?.drained !== undefined) return run.recorded.result ?? 'drained'
  return run.ctx.config.cordonOnly ? 'cordoned (CORDON_ONLY: no drain)' : 'cordoned (no drain for this kind; see ENABLE_REBALANCE_DRAINING)'
}

async function recordResult (run: Run): Promise<undefined> {
  const { ctx, notice, log } = run
  if (run.result === undefined) {
    run.result = resultWithoutDrain(run)
    if (run.recorded?.drained === undefined) {
      ctx.metrics.actions.inc({ action: 'drain', result: 'skipped' })
      log.info(run.result)
    }
  }
  if (run.recorded?.drained !== undefined) return undefined
  const result = run.result
  const drain = run.report === undefined ? {} : { drain: recordedDrain(run.report), drainComplete: run.report.complete }
  run.node = await ctx.client.updateNode(n => updateRecord(n, notice.eventId, { drained: new Date(ctx.now()).toISOString(), result, ...drain }), { from: run.node })
  const complete = run.report === undefined || run.report.complete
  ctx.metrics.nthActions.inc({ node_action: run.report === undefined ? 'cordon' : 'cordon-and-drain', node_status: complete ? 'success' : 'error' })
  await recordKubeEvent(ctx, log, run.node, {
    reason: run.report === undefined ? STEP_REASONS.cordoned : complete ? STEP_REASONS.drained : STEP_REASONS.drainIncomplete,
    message: `${notice.rehearsal === true ? 'Rehearsal: ' : ''}${notice.kind} ${notice.eventId}: ${result}`,
    type: complete ? 'Normal' : 'Warning'
  })
  return undefined
}

/**
 * Taints the node out of service once its drain is complete (as the Node
 * Termination Handler does): Kubernetes then deletes what is left and detaches
 * volumes. Never after an incomplete drain, whose node may still be running.
 */
async function outOfService (run: Run): Promise<undefined> {
  const { ctx, log } = run
  const complete = run.report?.complete ?? run.recorded?.drainComplete === true
  if (!complete) {
    log.info('drain incomplete: the node is not tainted out of service')
    ctx.metrics.actions.inc({ action: 'out-of-service', result: 'skipped' })
    return undefined
  }
  const before = run.node
  run.node = await ctx.client.updateNode(withOutOfService, { from: run.node })
  const already = nodePatch(before, withOutOfService(before)).length === 0
  ctx.metrics.actions.inc({ action: 'out-of-service', result: already ? 'already' : 'ok' })
  log.info({ action: 'out-of-service', already }, 'node tainted out of service')
  return undefined
}

/**
 * Sends the notification at most once per event: the intent is recorded on
 * the Node first, so a restart after that never sends again (if the agent
 * dies between the intent and the receiver's answer, that one notification
 * is lost rather than sent twice), and the event id goes along as the
 * Idempotency-Key header and the EventID field for receivers that drop
 * repeats. Notification fields come from this run's drain, or the one
 * recorded before a restart.
 */
async function notify (run: Run): Promise<undefined> {
  const { ctx, notice, log } = run
  if (run.recorded?.notified === true || ctx.config.webhookUrl === undefined) return undefined
  if (run.recorded?.notifying !== undefined) {
    log.warn({ since: run.recorded.notifying }, 'the notification was being sent when the agent stopped; not sending it again (at most one per event)')
    return undefined
  }
  run.node = await ctx.client.updateNode(n => updateRecord(n, notice.eventId, { notifying: new Date(ctx.now()).toISOString() }), { from: run.node })
  let body: string
  try {
    body = ctx.template({
      nodeName: ctx.client.nodeName,
      nodeLabels: run.node.metadata?.labels ?? {},
      providerId: run.node.spec?.providerID ?? '',
      notice,
      metadata: ctx.metadata,
      drain: run.report ?? run.recorded?.drain,
      result: run.result ?? '',
      seenAt: run.recorded?.since === undefined ? run.startedAt : Date.parse(run.recorded.since)
    })
  } catch (err) {
    ctx.metrics.actions.inc({ action: 'notify', result: 'error' })
    log.error({ err: { message: (err as Error).message } }, 'the notification template failed on this event; nothing sent')
    return undefined
  }
  const ok = await sendNotification({ url: ctx.config.webhookUrl, proxy: ctx.config.webhookProxy, headers: { 'idempotency-key': notice.eventId, ...ctx.config.webhookHeaders }, sleep: ctx.sleep, logger: log }, body)
  ctx.metrics.actions.inc({ action: 'notify', result: ok ? 'ok' : 'error' })
  if (!ok) log.error('notification could not be delivered')
  else log.info('notification sent')
  try {
    run.node = await ctx.client.updateNode(n => updateRecord(n, notice.eventId, { notified: true }), { from: run.node })
  } catch (err) {
    log.warn({ err }, 'could not record the notification on the node (its intent is recorded: it is not sent again)')
  }
  return undefined
}

async function endRehearsal (run: Run): Promise<undefined> {
  const { ctx, notice, log } = run
  run.node = await ctx.client.updateNode(n => withoutRehearsal(withEventUndone(n, notice.eventId, ctx.now())), { from: run.node })
  ctx.metrics.actions.inc({ action: 'undo', result: 'ok' })
  log.info('rehearsal finished: annotation removed, node back in service')
  return undefined
}

/** Undoes an event (canceled or completed, rebooted, rebalance expired): only what it added. True when something was undone. */
export async function undoInterruption (eventId: string, kind: NoticeKind, why: string, ctx: ActionContext): Promise<boolean> {
  const log = eventLogger(ctx, { eventId, kind })
  const record = findRecord(readState(await ctx.client.currentNode()), eventId)
  if (record === undefined || record.undone !== undefined) return false
  if (ctx.config.dryRun) {
    log.info({ dryRun: true, why }, 'dry run: would undo the event (remove taint, uncordon if nothing else holds the node)')
    return false
  }
  const node = await ctx.client.updateNode(n => withEventUndone(n, eventId, ctx.now()))
  ctx.metrics.actions.inc({ action: 'undo', result: 'ok' })
  const uncordoned = node.spec?.unschedulable !== true
  if (uncordoned) ctx.metrics.nthActions.inc({ node_action: 'uncordon', node_status: 'success' })
  log.info({ why, uncordoned }, uncordoned ? 'event undone; node back in service' : 'event undone; node still held by another event or cordoned by someone else')
  await recordKubeEvent(ctx, log, node, { reason: STEP_REASONS.undone, message: `${kind} ${eventId} ${why}: ${uncordoned ? 'taint removed, node uncordoned' : 'taint removed, node stays cordoned'}`, type: 'Normal' })
  return true
}
