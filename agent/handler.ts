/**
 * The orchestrator for one notice: Event, then taint + load-balancer label +
 * cordon (one guarded patch that also records the event on the Node), drain,
 * notification and a final summary Event. State on the Node makes every step
 * resumable: a restarted agent continues the same event and never repeats a
 * notification. Undo removes exactly what an event added. DRY_RUN logs each
 * step and changes nothing.
 */
import type { V1Node } from '@kubernetes/client-node'
import type { Logger } from 'pino'
import type { AgentConfig } from './config.ts'
import { drainNode, summarizeDrain, type DrainReport } from './drain.ts'
import type { NodeMetadata } from './imds.ts'
import type { NodeClient, NodeEventInput } from './kube.ts'
import type { AgentMetrics } from './metrics.ts'
import { applyNotice, findEvent, LB_EXCLUSION_LABEL, readState, taintKey, undoEvent, updateEvent, withoutRehearsal } from './node-state.ts'
import type { Notice, NoticeKind } from './notices.ts'
import { notificationFields, renderTemplate, sendNotification } from './notify.ts'

/** Everything a handler needs; built once by the agent. */
export interface HandlerContext {
  config: AgentConfig
  client: NodeClient
  metadata: NodeMetadata
  metrics: AgentMetrics
  logger: Logger
  template: string
  now: () => number
  sleep: (ms: number) => Promise<void>
  /** Aborted when the agent stops. */
  signal: AbortSignal
  /** Poll interval while waiting for pods to go (default 250 ms). */
  goneCheckIntervalMs?: number
  /** Event ids announced (Event, metric) by this process, so a retry after an API fault does not announce again. */
  announced: Set<string>
}

/** How a handler run ended. */
export type HandlerOutcome = 'done' | 'already-done' | 'handed-over' | 'dry-run'

/** Event reason per notice kind. */
export const EVENT_REASONS: Record<NoticeKind, string> = {
  'spot-itn': 'SpotInterruption',
  'rebalance-recommendation': 'RebalanceRecommendation',
  'scheduled-maintenance': 'ScheduledMaintenance',
  'asg-lifecycle-termination': 'ASGLifecycleTermination'
}

/** Whether a notice of `kind` leads to a drain under `config`. */
export function drainsFor (kind: NoticeKind, config: AgentConfig): boolean {
  if (config.cordonOnly) return false
  return kind !== 'rebalance-recommendation' || config.enableRebalanceDraining
}

/** The logger every line of an event goes through. */
export function eventLogger (ctx: HandlerContext, notice: Pick<Notice, 'eventId' | 'kind'>): Logger {
  return ctx.logger.child({ eventId: notice.eventId, kind: notice.kind, node: ctx.client.nodeName })
}

async function emit (ctx: HandlerContext, log: Logger, node: V1Node | undefined, event: NodeEventInput): Promise<void> {
  if (!ctx.config.emitKubernetesEvents) return
  try {
    await ctx.client.createNodeEvent(node, event)
    ctx.metrics.actions.inc({ action: 'event', result: 'ok' })
  } catch (err) {
    ctx.metrics.actions.inc({ action: 'event', result: 'error' })
    log.warn({ err }, 'could not record the Kubernetes event; carrying on')
  }
}

function describeNotice (ctx: HandlerContext, notice: Notice): string {
  const deadline = notice.deadline !== undefined ? new Date(notice.deadline).toISOString() : 'none'
  return `${notice.rehearsal === true ? 'Rehearsal: ' : ''}${notice.detail}; instance ${ctx.metadata.instanceId} (${ctx.metadata.instanceType}, ${ctx.metadata.availabilityZone}); event ${notice.eventId}; deadline ${deadline}`
}

/** Logs what DRY_RUN would do, step by step. */
function dryRun (ctx: HandlerContext, log: Logger, notice: Notice): HandlerOutcome {
  const c = ctx.config
  const steps: Array<[action: string, enabled: boolean, step: string]> = [
    ['event', c.emitKubernetesEvents, `record Event ${EVENT_REASONS[notice.kind]} on the node`],
    ['taint', c.taintNode, `taint ${taintKey(notice.kind)}=${notice.eventId}:${c.taintEffect}`],
    ['label', c.excludeFromLoadBalancers, `label ${LB_EXCLUSION_LABEL}=true unless present`],
    ['cordon', true, 'cordon the node'],
    ['drain', drainsFor(notice.kind, c), 'drain the node'],
    ['notify', c.webhookUrl !== undefined, 'send the notification']
  ]
  for (const [action, enabled, step] of steps) {
    if (!enabled) continue
    log.info({ dryRun: true, step }, `dry run: would ${step}`)
    ctx.metrics.actions.inc({ action, result: 'dry-run' })
  }
  return 'dry-run'
}

/** Acts on an active notice, resuming from the state recorded on the Node. */
export async function handleNotice (notice: Notice, ctx: HandlerContext): Promise<HandlerOutcome> {
  const log = eventLogger(ctx, notice)
  const startedAt = ctx.now()
  if (ctx.config.dryRun) return dryRun(ctx, log, notice)
  let node = await ctx.client.getNode()
  const existing = findEvent(readState(node), notice.eventId)
  const notifiedOrNothingToSend = existing?.notified === true || ctx.config.webhookUrl === undefined
  if (existing?.undone !== undefined || (existing?.drained !== undefined && notifiedOrNothingToSend && notice.rehearsal !== true)) {
    log.debug('event already handled')
    return 'already-done'
  }
  if (existing === undefined && !ctx.announced.has(notice.eventId)) {
    ctx.announced.add(notice.eventId)
    ctx.metrics.notices.inc({ kind: notice.kind })
    log.info({ deadline: notice.deadline !== undefined ? new Date(notice.deadline).toISOString() : undefined, detail: notice.detail }, 'acting on notice')
    await emit(ctx, log, node, { reason: EVENT_REASONS[notice.kind], message: describeNotice(ctx, notice), type: 'Warning' })
  } else if (existing !== undefined) {
    log.info({ since: existing.since, drained: existing.drained }, 'resuming event recorded on the node')
  }

  const before = node
  node = await ctx.client.updateNode(n => applyNotice(n, notice, { taint: ctx.config.taintNode, taintEffect: ctx.config.taintEffect, excludeFromLoadBalancers: ctx.config.excludeFromLoadBalancers }, ctx.now()))
  reportNodeActions(ctx, log, before, node, notice)

  let report: DrainReport | undefined
  let result: string
  const recorded = findEvent(readState(node), notice.eventId)
  if (recorded?.drained !== undefined) {
    result = recorded.result ?? 'drained'
  } else if (drainsFor(notice.kind, ctx.config)) {
    report = await drainNode({
      ignoreDaemonSets: ctx.config.ignoreDaemonSets,
      deleteLocalData: ctx.config.deleteLocalData,
      podTerminationGracePeriod: ctx.config.podTerminationGracePeriod,
      ...(ctx.config.podName !== '' ? { ownPod: { namespace: ctx.config.podNamespace, name: ctx.config.podName } } : {}),
      ...(notice.deadline !== undefined ? { deadline: notice.deadline } : {}),
      noDeadlineBudgetMs: ctx.config.nodeTerminationGracePeriod * 1000,
      safetyMarginMs: ctx.config.deadlineSafetyMargin,
      deleteAtDeadline: ctx.config.deleteAtDeadline.includes(notice.kind),
      ...(ctx.goneCheckIntervalMs !== undefined ? { goneCheckIntervalMs: ctx.goneCheckIntervalMs } : {})
    }, { client: ctx.client, logger: log, metrics: ctx.metrics, now: ctx.now, sleep: ctx.sleep, signal: ctx.signal })
    result = summarizeDrain(report)
    if (report.handedOver) {
      log.info({ result }, 'agent stopping: leaving the rest of this event to the next start')
      return 'handed-over'
    }
    ctx.metrics.drainDuration.observe({ kind: notice.kind }, report.durationMs / 1000)
    ctx.metrics.actions.inc({ action: 'drain', result: report.complete ? 'ok' : 'incomplete' })
    log.info({ report, durationMs: report.durationMs }, result)
  } else {
    result = ctx.config.cordonOnly ? 'cordoned (CORDON_ONLY: no drain)' : 'cordoned (no drain for this kind; see ENABLE_REBALANCE_DRAINING)'
    ctx.metrics.actions.inc({ action: 'drain', result: 'skipped' })
    log.info(result)
  }
  if (recorded?.drained === undefined) {
    node = await ctx.client.updateNode(n => updateEvent(n, notice.eventId, { drained: new Date(ctx.now()).toISOString(), result }))
    await emit(ctx, log, node, {
      reason: report === undefined || report.complete ? 'DrainComplete' : 'DrainIncomplete',
      message: `${notice.rehearsal === true ? 'Rehearsal: ' : ''}${notice.kind} ${notice.eventId}: ${result}`,
      type: report === undefined || report.complete ? 'Normal' : 'Warning'
    })
  }
  if (recorded?.notified !== true) await notify(ctx, log, notice, report, result, startedAt)
  if (notice.rehearsal === true) await endRehearsal(ctx, log, notice)
  return 'done'
}

function reportNodeActions (ctx: HandlerContext, log: Logger, before: V1Node, after: V1Node, notice: Notice): void {
  const key = taintKey(notice.kind)
  const hadTaint = (before.spec?.taints ?? []).some(t => t.key === key && t.value === notice.eventId)
  const steps: Array<[string, boolean, boolean]> = [
    ['taint', ctx.config.taintNode, hadTaint],
    ['label', ctx.config.excludeFromLoadBalancers, before.metadata?.labels?.[LB_EXCLUSION_LABEL] !== undefined],
    ['cordon', true, before.spec?.unschedulable === true]
  ]
  for (const [action, enabled, already] of steps) {
    if (!enabled) continue
    ctx.metrics.actions.inc({ action, result: already ? 'already' : 'ok' })
    log.info({ action, already }, already ? `${action}: already in place` : `${action}: done`)
  }
  log.debug({ taints: after.spec?.taints, unschedulable: after.spec?.unschedulable }, 'node updated')
}

async function notify (ctx: HandlerContext, log: Logger, notice: Notice, report: DrainReport | undefined, result: string, startedAt: number): Promise<void> {
  if (ctx.config.webhookUrl === undefined) return
  const body = renderTemplate(ctx.template, notificationFields(ctx.client.nodeName, notice, ctx.metadata, report, result, startedAt))
  const ok = await sendNotification({ url: ctx.config.webhookUrl, headers: ctx.config.webhookHeaders, sleep: ctx.sleep, logger: log }, body)
  ctx.metrics.actions.inc({ action: 'notify', result: ok ? 'ok' : 'error' })
  if (!ok) log.error('notification could not be delivered')
  else log.info('notification sent')
  try {
    await ctx.client.updateNode(n => updateEvent(n, notice.eventId, { notified: true }))
  } catch (err) {
    log.warn({ err }, 'could not record the notification on the node')
  }
}

async function endRehearsal (ctx: HandlerContext, log: Logger, notice: Notice): Promise<void> {
  await ctx.client.updateNode(n => withoutRehearsal(undoEvent(n, notice.eventId, ctx.now())))
  ctx.metrics.actions.inc({ action: 'undo', result: 'ok' })
  log.info('rehearsal finished: annotation removed, node back in service')
}

/** Undoes an event (canceled or completed, rebooted, rebalance expired): only what it added. */
export async function undoNotice (eventId: string, kind: NoticeKind, why: string, ctx: HandlerContext): Promise<boolean> {
  const log = eventLogger(ctx, { eventId, kind })
  const record = findEvent(readState(await ctx.client.getNode()), eventId)
  if (record === undefined || record.undone !== undefined) return false
  if (ctx.config.dryRun) {
    log.info({ dryRun: true, why }, 'dry run: would undo the event (remove taint, uncordon if nothing else holds the node)')
    return false
  }
  const node = await ctx.client.updateNode(n => undoEvent(n, eventId, ctx.now()))
  ctx.metrics.actions.inc({ action: 'undo', result: 'ok' })
  const uncordoned = node.spec?.unschedulable !== true
  log.info({ why, uncordoned }, uncordoned ? 'event undone; node back in service' : 'event undone; node still held by another event or cordoned by someone else')
  await emit(ctx, log, node, { reason: 'SpotHandlerUndo', message: `${kind} ${eventId} ${why}: ${uncordoned ? 'taint removed, node uncordoned' : 'taint removed, node stays cordoned'}`, type: 'Normal' })
  return true
}
