/**
 * The agent's sources, one interface for all: an IMDS monitor per notice kind
 * (polls the kind's path every POLL_INTERVAL and parses what it finds) and the
 * Node monitor (watches the agent's own Node for the rehearsal annotation,
 * and notices events that outlived their reason: a reboot since, a rebalance
 * cordon past REBALANCE_UNCORDON_AFTER). Both report to the event store's
 * sink. A 404 is "no notice"; IMDS failures and unparseable bodies are
 * reported and never trigger a drain; a monitor keeps going whatever happens.
 */
import { readFile } from 'node:fs/promises'
import type { V1Node } from '@kubernetes/client-node'
import type { Logger } from 'pino'
import { timerDelay } from '#common/timers.ts'
import type { NoticeSink } from './event-store.ts'
import type { ImdsClient } from './imds.ts'
import type { WatchedNode } from './kube.ts'
import type { AgentMetrics } from './metrics.ts'
import { expiredRecords, nextRebalanceExpiry, parseUptime, readState, REHEARSE_ANNOTATION } from './node-state.ts'
import { NOTICE_KINDS, NOTICE_PATHS, NTH_KINDS, parseNoticeBody, type InstanceIdentity, type NoticeKind } from './notices.ts'
import { rehearsalRequest } from './rehearsal.ts'

/** A running source. */
export interface Monitor {
  /** `imds:<kind>` or `node`. */
  readonly name: string
  /** Stops; resolves once the work in progress (if any) finished. */
  stop (): Promise<void>
}

/** A running IMDS monitor. */
export interface ImdsMonitor extends Monitor {
  readonly kind: NoticeKind
  /** When a poll last succeeded (ms since epoch), undefined when none has. */
  lastSuccess (): number | undefined
}

/** What an IMDS monitor needs. */
export interface ImdsMonitorDeps {
  imds: Pick<ImdsClient, 'get'>
  /** The instance as known at the time of a poll (its metadata is filled in as IMDS answers). */
  instance: () => InstanceIdentity
  intervalMs: number
  logger: Logger
  metrics: AgentMetrics
  now: () => number
  sink: NoticeSink
}

/** Polls once: fetch, parse, report. Resolves true when IMDS answered. Never throws. */
export async function pollOnce (kind: NoticeKind, deps: ImdsMonitorDeps): Promise<boolean> {
  let body: string
  try {
    const result = await deps.imds.get(NOTICE_PATHS[kind])
    deps.metrics.lastImdsSuccess.set({}, deps.now() / 1000)
    if (!result.found) return true
    body = result.body
  } catch (err) {
    deps.metrics.nthEventErrors.inc({ event_error_where: `${NTH_KINDS[kind]}_MONITOR` })
    deps.logger.warn({ err: { message: (err as Error).message }, kind }, 'IMDS poll failed; will poll again')
    return false
  }
  const parsed = parseNoticeBody(kind, body, deps.instance())
  if (!parsed.ok) {
    deps.metrics.unparseableNotices.inc({ kind })
    deps.metrics.nthEventErrors.inc({ event_error_where: `${NTH_KINDS[kind]}_MONITOR` })
    deps.logger.warn({ kind, excerpt: parsed.error.excerpt }, parsed.error.message)
    deps.sink.unparseable(kind, parsed.error)
    return true
  }
  for (const notice of parsed.notices) deps.sink.notice(notice)
  return true
}

/** Starts polling `kind` right away and then every interval. */
export function startImdsMonitor (kind: NoticeKind, deps: ImdsMonitorDeps): ImdsMonitor {
  let timer: NodeJS.Timeout | undefined
  let stopped = false
  let lastSuccess: number | undefined
  let current: Promise<void> = Promise.resolve()
  const tick = (): void => {
    current = pollOnce(kind, deps).then(ok => {
      if (ok) lastSuccess = deps.now()
      if (!stopped) timer = setTimeout(tick, deps.intervalMs)
    })
  }
  tick()
  return {
    name: `imds:${kind}`,
    kind,
    lastSuccess: () => lastSuccess,
    async stop () {
      stopped = true
      clearTimeout(timer)
      await current
    }
  }
}

/** What the Node monitor needs. */
export interface NodeMonitorDeps {
  /** Starts the watch of the agent's Node (NodeClient.watchNode). */
  watchNode: (onNode: (node: V1Node) => void) => WatchedNode
  /** Act on the rehearsal annotation. */
  enableRehearsal: boolean
  /** Undo a rebalance cordon this long after it when no interruption followed (ms); undefined keeps it. */
  rebalanceUncordonAfterMs: number | undefined
  /** File holding the uptime (/proc/uptime): a boot after an event's start means the event is over. */
  uptimeFile: string
  logger: Logger
  now: () => number
  sink: NoticeSink
}

/** A running Node monitor. */
export interface NodeMonitor extends Monitor {
  /** Since when the Node watch has been down, undefined while it is up. */
  downSince (): number | undefined
}

/** When the instance booted (ms since epoch), from the uptime file; undefined when it cannot be read. */
async function bootTime (file: string, now: () => number, logger: Logger): Promise<number | undefined> {
  try {
    return now() - parseUptime(await readFile(file, 'utf8')) * 1000
  } catch (err) {
    logger.warn({ err: { message: (err as Error).message }, file }, 'cannot read the uptime; reboots will not be noticed')
    return undefined
  }
}

/** Starts watching the Node; each version of it is checked for a rehearsal request and events to undo. */
export async function startNodeMonitor (deps: NodeMonitorDeps): Promise<NodeMonitor> {
  const { logger, now, sink } = deps
  const booted = await bootTime(deps.uptimeFile, now, logger)
  let expiryTimer: NodeJS.Timeout | undefined
  let warnedValue: string | undefined
  let latest: V1Node | undefined
  const check = (node: V1Node): void => {
    latest = node
    const state = readState(node)
    for (const { record, why } of expiredRecords(state, now(), booted, deps.rebalanceUncordonAfterMs)) {
      sink.undo({ type: 'undo', eventId: record.id, kind: record.kind, why: why === 'rebooted' ? 'instance rebooted since' : `no interruption followed within ${deps.rebalanceUncordonAfterMs! / 1000}s` })
    }
    clearTimeout(expiryTimer)
    const expiry = nextRebalanceExpiry(state, deps.rebalanceUncordonAfterMs)
    if (expiry !== undefined) expiryTimer = setTimeout(() => { if (latest !== undefined) check(latest) }, timerDelay(expiry - now()))
    if (!deps.enableRehearsal) return
    const request = rehearsalRequest(node, now())
    if (request.kind === 'invalid' && warnedValue !== request.value) {
      logger.warn({ value: request.value, expected: NOTICE_KINDS }, `ignoring ${REHEARSE_ANNOTATION}: unknown notice kind`)
      warnedValue = request.value
    }
    if (request.kind === 'rehearse') sink.notice(request.notice)
  }
  const watch = deps.watchNode(check)
  return {
    name: 'node',
    downSince: () => watch.downSince(),
    async stop () {
      clearTimeout(expiryTimer)
      await watch.stop()
    }
  }
}
