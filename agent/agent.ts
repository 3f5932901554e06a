/**
 * The agent as a function: `startAgent(config, deps)` reads the instance
 * metadata, starts one monitor per enabled notice kind, a Node loop
 * (rehearsal annotation, reboot and rebalance expiry), the ops servers, and
 * dispatches notices to handlers so each event runs once. Faults in IMDS or
 * the API are logged, counted and retried on the next poll; nothing here
 * crashes the process. `stop()` stops polling and hands the event in
 * progress over to the next start (its state is on the Node).
 */
import { EventEmitter } from 'node:events'
import { readFile } from 'node:fs/promises'
import type { KubeConfig } from '@kubernetes/client-node'
import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import { buildOpsServer } from '../webhook/common/ops-server.ts'
import type { Registry } from '../webhook/common/metrics.ts'
import type { AgentConfig } from './config.ts'
import { handleNotice, undoNotice, eventLogger, EVENT_REASONS, type HandlerContext, type HandlerOutcome } from './handler.ts'
import { ImdsClient, type NodeMetadata } from './imds.ts'
import { NodeClient } from './kube.ts'
import { createAgentMetrics, type AgentMetrics } from './metrics.ts'
import { startMonitor, type Monitor, type MonitorSink } from './monitors.ts'
import { expiredEvents, parseUptime, readState, REHEARSE_ANNOTATION } from './node-state.ts'
import { NOTICE_KINDS, type Notice, type NoticeKind } from './notices.ts'
import { rehearsalRequest } from './rehearsal.ts'
import { loadTemplate } from './notify.ts'
import { createApiGate } from './rate-limit.ts'

/** What the agent is built from besides its configuration. */
export interface AgentDeps {
  kubeConfig: KubeConfig
  logger: Logger
  /** Metrics registry (a fresh one with process metrics by default). */
  registry?: Registry
  now?: () => number
  /** Per-request IMDS timeout (default 2 s). */
  imdsTimeoutMs?: number
  /** First IMDS retry backoff step (default 100 ms). */
  imdsBackoffBaseMs?: number
  /** How often pods are listed while waiting for them to go (default 250 ms). */
  goneCheckIntervalMs?: number
  /** Address the ops servers listen on (default 0.0.0.0). */
  opsHost?: string
}

/** What a finished handler run reports on `events` ('outcome'). */
export interface OutcomeEvent {
  notice: Notice
  outcome: HandlerOutcome | 'error'
  error?: Error
}

/** A running agent. */
export interface RunningAgent {
  metrics: AgentMetrics
  metadata: NodeMetadata
  /** Emits 'outcome' (OutcomeEvent), 'undo' ({ eventId, kind, why }) and 'unparseable' ({ kind, error }). */
  events: EventEmitter
  /** Base URLs of the ops servers that were started. */
  opsUrls: { probes?: string, metrics?: string }
  /** Stops polling, hands over the event in progress, closes the servers. */
  stop (): Promise<void>
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function abortableSleep (ms: number, signal: AbortSignal): Promise<void> {
  return new Promise(resolve => {
    if (signal.aborted) { resolve(); return }
    const done = (): void => { clearTimeout(timer); signal.removeEventListener('abort', done); resolve() }
    const timer = setTimeout(done, ms)
    signal.addEventListener('abort', done, { once: true })
  })
}

/** Which notice kinds have a monitor under `config`. */
export function monitoredKinds (config: AgentConfig): NoticeKind[] {
  const enabled: Record<NoticeKind, boolean> = {
    'spot-itn': config.enableSpotInterruptionDraining,
    'rebalance-recommendation': config.enableRebalanceMonitoring || config.enableRebalanceDraining,
    'scheduled-maintenance': config.enableScheduledEventDraining,
    'asg-lifecycle-termination': config.enableAsgLifecycleDraining
  }
  return NOTICE_KINDS.filter(k => enabled[k])
}

/** Starts the agent. Throws only for problems that make running pointless (an unreadable template file). */
export async function startAgent (config: AgentConfig, deps: AgentDeps): Promise<RunningAgent> {
  const logger = deps.logger
  const now = deps.now ?? Date.now
  const metrics = createAgentMetrics(deps.registry)
  const abort = new AbortController()
  const sleep = (ms: number): Promise<void> => abortableSleep(ms, abort.signal)
  const events = new EventEmitter()
  const template = await loadTemplate(config.webhookTemplate, config.webhookTemplateFile)
  const imds = new ImdsClient({
    baseUrl: config.instanceMetadataUrl,
    tries: config.metadataTries,
    logger: logger.child({ component: 'imds' }),
    now,
    sleep,
    ...(deps.imdsTimeoutMs !== undefined ? { timeoutMs: deps.imdsTimeoutMs } : {}),
    ...(deps.imdsBackoffBaseMs !== undefined ? { backoffBaseMs: deps.imdsBackoffBaseMs } : {}),
    onError: (path, reason) => metrics.imdsErrors.inc({ path, reason })
  })
  const client = new NodeClient(deps.kubeConfig, config.nodeName, createApiGate(config.kubeApiQps, config.kubeApiBurst, config.drainParallelism, now, sleep), now)
  // Ops servers first (probes and metrics, one server when they share a port),
  // so liveness holds while a slow or absent IMDS is asked for the metadata.
  const servers: FastifyInstance[] = []
  const opsUrls: RunningAgent['opsUrls'] = {}
  const staleAfterMs = Math.max(30_000, config.pollInterval * 5)
  const notReadyReason = (): string | undefined => {
    const last = metrics.lastImdsSuccess.get() * 1000
    if (monitoredKinds(config).length > 0 && now() - last > staleAfterMs) return last === 0 ? 'no successful IMDS poll yet' : `no successful IMDS poll for ${Math.round((now() - last) / 1000)}s`
    return undefined
  }
  const unhealthyReason = (): string | undefined => abort.signal.aborted ? 'stopping' : undefined
  const wanted = new Map<number, Array<'probes' | 'metrics'>>()
  if (config.enableProbesServer) wanted.set(config.probesServerPort, ['probes'])
  if (config.enablePrometheusServer) wanted.set(config.prometheusServerPort, [...(wanted.get(config.prometheusServerPort) ?? []), 'metrics'])
  for (const [port, roles] of wanted) {
    const app = buildOpsServer({ registry: metrics.registry, notReadyReason, unhealthyReason })
    const address = await app.listen({ port, host: deps.opsHost ?? '0.0.0.0' })
    servers.push(app)
    for (const role of roles) opsUrls[role] = address
  }
  const metadata = await imds.readNodeMetadata()
  logger.info({ metadata }, 'instance metadata read')
  const ctx: HandlerContext = {
    config, client, metadata, metrics, logger, template, now, sleep, signal: abort.signal, announced: new Set(),
    ...(deps.goneCheckIntervalMs !== undefined ? { goneCheckIntervalMs: deps.goneCheckIntervalMs } : {})
  }

  const running = new Map<string, Promise<void>>()
  const finished = new Set<string>()
  const run = (key: string, job: () => Promise<void>): void => {
    if (running.has(key) || finished.has(key) || abort.signal.aborted) return
    running.set(key, job().finally(() => running.delete(key)))
  }
  const dispatch = (notice: Notice): void => {
    if (notice.state === 'active') {
      run(notice.eventId, async () => {
        try {
          const outcome = await handleNotice(notice, ctx)
          if (outcome !== 'handed-over') finished.add(notice.eventId)
          events.emit('outcome', { notice, outcome } satisfies OutcomeEvent)
        } catch (err) {
          metrics.actions.inc({ action: 'handle', result: 'error' })
          eventLogger(ctx, notice).error({ err }, 'handling the notice failed; retrying on the next poll')
          events.emit('outcome', { notice, outcome: 'error', error: err as Error } satisfies OutcomeEvent)
        }
      })
    } else {
      undo(notice.eventId, notice.kind, notice.state)
    }
  }
  const undo = (eventId: string, kind: NoticeKind, why: string): void => {
    run(`undo:${eventId}`, async () => {
      try {
        await running.get(eventId)
        if (await undoNotice(eventId, kind, why, ctx)) events.emit('undo', { eventId, kind, why })
        finished.add(`undo:${eventId}`)
        finished.add(eventId)
      } catch (err) {
        eventLogger(ctx, { eventId, kind }).error({ err }, 'undoing the event failed; retrying on the next poll')
      }
    })
  }
  const lastGarbage = new Map<NoticeKind, string>()
  const sink: MonitorSink = {
    notices: (_kind, notices) => { for (const n of notices) dispatch(n) },
    unparseable: (kind, error) => {
      events.emit('unparseable', { kind, error })
      if (lastGarbage.get(kind) === error.excerpt || !config.emitKubernetesEvents || config.dryRun) return
      lastGarbage.set(kind, error.excerpt)
      client.createNodeEvent(undefined, { reason: 'UnparseableNotice', message: `${EVENT_REASONS[kind]}: ${error.message}`, type: 'Warning' })
        .catch(err => logger.warn({ err }, 'could not record the unparseable-notice event'))
    }
  }
  const monitors: Monitor[] = monitoredKinds(config).map(kind => startMonitor(kind, {
    imds, instanceId: metadata.instanceId, intervalMs: config.pollInterval, logger: logger.child({ component: 'monitor', kind }), metrics, now, sink
  }))

  // The Node loop: rehearsal annotation, reboots, expired rebalance cordons.
  let uptimeWarned = false
  const bootTime = async (): Promise<number | undefined> => {
    try {
      return now() - parseUptime(await readFile(config.uptimeFromFile, 'utf8')) * 1000
    } catch (err) {
      if (!uptimeWarned) logger.warn({ err: { message: (err as Error).message }, file: config.uptimeFromFile }, 'cannot read the uptime; reboots will not be noticed')
      uptimeWarned = true
      return undefined
    }
  }
  let rehearsalWarned = ''
  const nodeTick = async (): Promise<void> => {
    try {
      const node = await client.getNode()
      for (const { record, why } of expiredEvents(readState(node), now(), await bootTime(), config.rebalanceUncordonAfter)) {
        undo(record.id, record.kind, why === 'rebooted' ? 'instance rebooted since' : `no interruption followed within ${config.rebalanceUncordonAfter! / 1000}s`)
      }
      if (!config.enableRehearsal) return
      const request = rehearsalRequest(node, now())
      if (request.kind === 'invalid' && rehearsalWarned !== request.value) {
        logger.warn({ value: request.value, expected: NOTICE_KINDS }, `ignoring ${REHEARSE_ANNOTATION}: unknown notice kind`)
        rehearsalWarned = request.value
      }
      if (request.kind === 'rehearse' && ![...running.keys()].some(k => k.startsWith('rehearsal-'))) dispatch(request.notice)
    } catch (err) {
      logger.warn({ err: { message: (err as Error).message } }, 'reading the node failed; will try again')
    }
  }
  let nodeTimer: NodeJS.Timeout | undefined
  let nodeLoop: Promise<void> = Promise.resolve()
  const scheduleNodeTick = (): void => {
    nodeLoop = nodeTick().finally(() => { if (!abort.signal.aborted) nodeTimer = setTimeout(scheduleNodeTick, config.nodePollInterval) })
  }
  scheduleNodeTick()

  logger.info({ monitors: monitors.map(m => m.kind), opsUrls, dryRun: config.dryRun }, 'agent started')

  return {
    metrics,
    metadata,
    events,
    opsUrls,
    async stop () {
      abort.abort()
      clearTimeout(nodeTimer)
      await Promise.all(monitors.map(m => m.stop()))
      await nodeLoop
      await Promise.all(running.values())
      await Promise.all(servers.map(s => s.close()))
      logger.info('agent stopped')
    }
  }
}
