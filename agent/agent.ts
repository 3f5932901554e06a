/**
 * The agent's wiring: `startAgent(config, deps)` builds the clients, the ops
 * servers, the event store's dispatcher and the sources (an IMDS monitor per
 * enabled notice kind and the Node monitor), and connects the store's jobs to
 * the actions. Faults in IMDS or the API are logged, counted and retried;
 * nothing here crashes the process. `stop()` stops the sources and hands the
 * event in progress over to the next start (its state is on the Node).
 */
import { EventEmitter } from 'node:events'
import { readFile } from 'node:fs/promises'
import type { KubeConfig } from '@kubernetes/client-node'
import type { Logger } from 'pino'
import { listenError } from '#common/listen.ts'
import { buildOpsServer, type OpsServer } from '#common/ops-server.ts'
import { optionName } from '#common/options.ts'
import type { Registry } from '#common/metrics.ts'
import { actOnNotice, eventLogger, recordKubeEvent, undoInterruption, EVENT_REASONS, STEP_REASONS, type ActionContext, type ActOutcome } from './actions.ts'
import { AGENT_OPTIONS, type AgentConfig } from './config.ts'
import { EventDispatcher, UNPARSEABLE_EVENT_INTERVAL_MS, type Job, type JobEnd, type NoticeSink } from './event-store.ts'
import { fillNodeMetadata, ImdsClient, unknownMetadata, type NodeMetadata } from './imds.ts'
import { NodeClient } from './kube.ts'
import { createAgentMetrics, type AgentMetrics } from './metrics.ts'
import { startImdsMonitor, startNodeMonitor, type ImdsMonitor, type NodeMonitor } from './monitors.ts'
import type { Notice, NoticeKind, NoticeParseError } from './notices.ts'
import { loadTemplate } from './notify.ts'
import { actsOn, imdsStaleAfterMs, monitoredKinds, readinessProblem } from './policy.ts'
import { createApiGate } from './rate-limit.ts'

/** What the agent is built from besides its configuration. */
export interface AgentDeps {
  kubeConfig: KubeConfig
  logger: Logger
  /** Metrics registry (a fresh one with process metrics by default). */
  registry?: Registry
  now?: () => number
  /** First IMDS retry backoff step (default 100 ms). */
  imdsBackoffBaseMs?: number
  /** First reconnect delay of the Kubernetes watches (default 500 ms). */
  watchBackoffBaseMs?: number
  /** How long the Node watch may be down before the agent reports not ready (default 60 s). */
  nodeWatchStaleAfterMs?: number
  /** Where the agent reports its activity (a new emitter by default); pass one to listen from the very start. */
  activity?: EventEmitter<AgentActivity>
  /** The machine's boot id (default /proc/sys/kernel/random/boot_id). */
  bootIdFile?: string
  /** Wait before reading missing instance metadata again (default 1 s, doubling). */
  metadataRetryMs?: number
}

/** Linux's random id of this boot, readable in containers too. */
export const BOOT_ID_FILE = '/proc/sys/kernel/random/boot_id'

/** This boot's id, or undefined (logged) when it cannot be read: Spot notices are then told apart by instance id only. */
async function readBootId (file: string, logger: Logger): Promise<string | undefined> {
  try {
    const id = (await readFile(file, 'utf8')).trim()
    if (id !== '') return id
  } catch (err) {
    logger.warn({ err: { message: (err as Error).message }, file }, 'cannot read the boot id; Spot interruptions are told apart by instance id only')
  }
  return undefined
}

/** How acting on a notice ended, as the agent reports it. */
export interface OutcomeReport {
  notice: Notice
  outcome: ActOutcome | 'error'
  error?: Error
}

/** An event undone, as the agent reports it. */
export interface UndoReport {
  eventId: string
  kind: NoticeKind
  why: string
}

/** What the agent reports as it works, for tests, the rehearsal and embedding programs. */
export interface AgentActivity {
  outcome: [OutcomeReport]
  undo: [UndoReport]
  unparseable: [{ kind: NoticeKind, error: NoticeParseError }]
}

/** A running agent. */
export interface RunningAgent {
  metrics: AgentMetrics
  metadata: NodeMetadata
  activity: EventEmitter<AgentActivity>
  /** Base URLs of the ops servers that were started. */
  opsUrls: { probes?: string, metrics?: string }
  /** Stops the sources, hands over the event in progress, closes the servers. */
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

/** Starts the agent. Throws only for problems that make running pointless (an unreadable template file). */
export async function startAgent (config: AgentConfig, deps: AgentDeps): Promise<RunningAgent> {
  const { logger } = deps
  const now = deps.now ?? Date.now
  const metrics = createAgentMetrics(deps.registry)
  const stopping = new AbortController()
  const sleep = (ms: number): Promise<void> => abortableSleep(ms, stopping.signal)
  const activity = deps.activity ?? new EventEmitter<AgentActivity>()
  const template = await loadTemplate(config.webhookTemplate, config.webhookTemplateFile)
  const imds = new ImdsClient({
    baseUrl: config.instanceMetadataUrl,
    tries: config.metadataTries,
    logger: logger.child({ component: 'imds' }),
    now,
    sleep,
    timeoutMs: config.metadataTimeout,
    backoffBaseMs: deps.imdsBackoffBaseMs,
    onError: (path, reason) => metrics.imdsErrors.inc({ path, reason })
  })
  const client = new NodeClient({
    kubeConfig: deps.kubeConfig,
    nodeName: config.nodeName,
    gate: createApiGate(config.kubeApiQps, config.kubeApiBurst, config.drainParallelism, now, sleep),
    logger,
    now,
    watchBackoffBaseMs: deps.watchBackoffBaseMs
  })

  const imdsMonitors: ImdsMonitor[] = []
  let nodeMonitor: NodeMonitor | undefined
  const notReadyReason = (): string | undefined => readinessProblem({
    now: now(),
    imdsMonitors: imdsMonitors.map(m => ({ kind: m.kind, lastSuccess: m.lastSuccess() })),
    imdsStaleAfterMs: imdsStaleAfterMs(config),
    nodeWatchDownSince: nodeMonitor?.downSince(),
    nodeWatchStaleAfterMs: deps.nodeWatchStaleAfterMs ?? 60_000
  })
  const servers = await startOpsServers(config, metrics.registry, notReadyReason, () => stopping.signal.aborted ? 'stopping' : undefined)
  // Nothing waits for the instance metadata: it is filled in as IMDS answers.
  const metadata = unknownMetadata()
  const metadataFilled = fillNodeMetadata(imds, metadata, { sleep, logger: logger.child({ component: 'imds' }), signal: stopping.signal, firstDelayMs: deps.metadataRetryMs })
  const bootId = await readBootId(deps.bootIdFile ?? BOOT_ID_FILE, logger)

  const ctx: ActionContext = { config, client, metadata, metrics, logger, template, now, sleep, signal: stopping.signal }
  const dispatcher = new EventDispatcher({
    run: job => runJob(job, ctx, activity),
    unparseable: (kind, error, verdict) => {
      activity.emit('unparseable', { kind, error })
      if (!verdict.report || !config.emitKubernetesEvents || config.dryRun) return
      const more = verdict.suppressed > 0 ? ` (and ${verdict.suppressed} more unparseable bodies in the last ${UNPARSEABLE_EVENT_INTERVAL_MS / 60_000} minutes)` : ''
      void recordKubeEvent(ctx, logger, undefined, { reason: STEP_REASONS.monitorError, message: `${EVENT_REASONS[kind]}: ${error.message}${more}`, type: 'Warning' })
    }
  }, now)
  // Scheduled events whose code is not acted on never reach the store.
  const imdsSink: NoticeSink = {
    notice: notice => { if (actsOn(notice, config)) dispatcher.notice(notice) },
    undo: undo => dispatcher.undo(undo),
    unparseable: (kind, error) => dispatcher.unparseable(kind, error)
  }
  for (const kind of monitoredKinds(config)) {
    imdsMonitors.push(startImdsMonitor(kind, { imds, instance: () => ({ instanceId: metadata.instanceId, bootId }), intervalMs: config.pollInterval, logger: logger.child({ component: 'monitor', kind }), metrics, now, sink: imdsSink }))
  }
  nodeMonitor = await startNodeMonitor({
    watchNode: onNode => client.watchNode(onNode),
    enableRehearsal: config.enableRehearsal,
    rebalanceUncordonAfterMs: config.rebalanceUncordonAfter,
    uptimeFile: config.uptimeFromFile,
    logger: logger.child({ component: 'node-monitor' }),
    now,
    sink: dispatcher
  })
  const monitors = [...imdsMonitors, nodeMonitor]
  logger.info({ monitors: monitors.map(m => m.name), opsUrls: servers.urls, dryRun: config.dryRun }, 'agent started')

  return {
    metrics,
    metadata,
    activity,
    opsUrls: servers.urls,
    async stop () {
      stopping.abort()
      await Promise.all(monitors.map(m => m.stop()))
      await dispatcher.close()
      await metadataFilled
      await Promise.all(servers.apps.map(s => s.close()))
      logger.info('agent stopped')
    }
  }
}

/** Runs one of the store's jobs with the actions, reporting how it went; never throws. */
async function runJob (job: Job, ctx: ActionContext, activity: EventEmitter<AgentActivity>): Promise<JobEnd> {
  if (job.type === 'act') {
    const { notice } = job
    try {
      const outcome = await actOnNotice(notice, job.announce, ctx)
      activity.emit('outcome', { notice, outcome })
      return outcome === 'handed-over' ? 'handed-over' : 'finished'
    } catch (err) {
      ctx.metrics.actions.inc({ action: 'handle', result: 'error' })
      eventLogger(ctx, notice).error({ err }, 'handling the notice failed; retrying on the next poll')
      activity.emit('outcome', { notice, outcome: 'error', error: err as Error })
      return 'failed'
    }
  }
  try {
    if (await undoInterruption(job.eventId, job.kind, job.why, ctx)) activity.emit('undo', { eventId: job.eventId, kind: job.kind, why: job.why })
    return 'finished'
  } catch (err) {
    eventLogger(ctx, job).error({ err }, 'undoing the event failed; retrying on the next poll')
    return 'failed'
  }
}

/** Starts the probes and metrics servers (one server when they share a port); a port that cannot be had is a ConfigError naming its setting. */
async function startOpsServers (config: AgentConfig, registry: Registry, notReadyReason: () => string | undefined, unhealthyReason: () => string | undefined): Promise<{ apps: OpsServer[], urls: RunningAgent['opsUrls'] }> {
  const wanted = new Map<number, Array<'probes' | 'metrics'>>()
  if (config.enableProbesServer) wanted.set(config.probesServerPort, ['probes'])
  if (config.enablePrometheusServer) wanted.set(config.prometheusServerPort, [...(wanted.get(config.prometheusServerPort) ?? []), 'metrics'])
  const apps: OpsServer[] = []
  const urls: RunningAgent['opsUrls'] = {}
  const host = config.listenAddress
  try {
    for (const [port, roles] of wanted) {
      const app = buildOpsServer({ registry, notReadyReason, unhealthyReason, healthPath: config.probesServerEndpoint })
      const setting = optionName(AGENT_OPTIONS[roles[0] === 'probes' ? 'probesServerPort' : 'prometheusServerPort'])
      const address = await app.listen({ port, host }).catch(err => { throw listenError(err, { host, port, setting }) })
      apps.push(app)
      for (const role of roles) urls[role] = address
    }
  } catch (err) {
    await Promise.all(apps.map(a => a.close()))
    throw err
  }
  return { apps, urls }
}
