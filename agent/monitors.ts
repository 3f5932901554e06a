/**
 * One monitor per notice kind: polls the kind's IMDS path every POLL_INTERVAL,
 * parses the body and hands the notices to the agent. A 404 is "no notice";
 * IMDS failures and unparseable bodies are reported (log, metric, callback)
 * and never trigger a drain; the monitor keeps polling whatever happens.
 */
import type { Logger } from 'pino'
import type { ImdsClient } from './imds.ts'
import type { AgentMetrics } from './metrics.ts'
import { NOTICE_PATHS, parseNoticeBody, type Notice, type NoticeKind, type NoticeParseError } from './notices.ts'

/** What a monitor reports to. */
export interface MonitorSink {
  notices (kind: NoticeKind, notices: Notice[]): void
  unparseable (kind: NoticeKind, error: NoticeParseError): void
}

/** What a monitor needs. */
export interface MonitorDeps {
  imds: Pick<ImdsClient, 'get'>
  instanceId: string
  intervalMs: number
  logger: Logger
  metrics: AgentMetrics
  now: () => number
  sink: MonitorSink
}

/** A running monitor. */
export interface Monitor {
  readonly kind: NoticeKind
  /** Stops polling; resolves once the poll in progress (if any) finished. */
  stop (): Promise<void>
}

/** Polls once: fetch, parse, report. Never throws. */
export async function pollOnce (kind: NoticeKind, deps: MonitorDeps): Promise<void> {
  const log = deps.logger
  let body: string | undefined
  try {
    const result = await deps.imds.get(NOTICE_PATHS[kind])
    deps.metrics.lastImdsSuccess.set({}, deps.now() / 1000)
    if (!result.found) {
      deps.sink.notices(kind, [])
      return
    }
    body = result.body
  } catch (err) {
    log.warn({ err: { message: (err as Error).message }, kind }, 'IMDS poll failed; will poll again')
    return
  }
  const parsed = parseNoticeBody(kind, body, deps.instanceId)
  if (!parsed.ok) {
    deps.metrics.unparseableNotices.inc({ kind })
    log.warn({ kind, excerpt: parsed.error.excerpt }, parsed.error.message)
    deps.sink.unparseable(kind, parsed.error)
    return
  }
  deps.sink.notices(kind, parsed.notices)
}

/** Starts polling `kind` right away and then every interval. */
export function startMonitor (kind: NoticeKind, deps: MonitorDeps): Monitor {
  let timer: NodeJS.Timeout | undefined
  let stopped = false
  let current: Promise<void> = Promise.resolve()
  const tick = (): void => {
    current = pollOnce(kind, deps).finally(() => {
      if (!stopped) timer = setTimeout(tick, deps.intervalMs)
    })
  }
  tick()
  return {
    kind,
    async stop () {
      stopped = true
      clearTimeout(timer)
      await current
    }
  }
}
