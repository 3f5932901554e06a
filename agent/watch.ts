/**
 * List-then-watch of one collection, as client-go's reflector does it, so an
 * idle agent costs the API server an open watch and nothing else: list once
 * (or start from a list the caller made), then watch from that
 * resourceVersion with bookmarks, resume from the last resourceVersion seen
 * when the server ends a watch, list again on 410 Gone, and reconnect after
 * failures with capped exponential backoff and jitter. `downSince()` says how
 * long the watch has been unavailable, for readiness. Where RBAC allows the
 * list but not the watch (403, e.g. the Node Termination Handler's
 * ClusterRole), it says so once and lists at a fixed interval instead.
 */
import { setTimeout as delay } from 'node:timers/promises'
import { Watch, type KubeConfig } from '@kubernetes/client-node'
import type { Logger } from 'pino'

/** A change a watch reports. */
export type WatchChange = 'ADDED' | 'MODIFIED' | 'DELETED'

/** The part of any Kubernetes object a watch needs. */
export interface WatchedObject {
  metadata?: { resourceVersion?: string }
}

/** A list answer: the items and the resourceVersion to watch from. */
export interface ListResult<T> {
  items: T[]
  resourceVersion: string
}

/** What to watch and whom to tell. */
export interface ListWatchOptions<T extends WatchedObject> {
  kubeConfig: KubeConfig
  /** Collection path, e.g. `/api/v1/nodes`. */
  path: string
  fieldSelector: string
  list: () => Promise<ListResult<T>>
  /** A list the caller already made: the first watch starts from it. */
  initial?: ListResult<T>
  /** After every list: all objects there are now. */
  onSync: (items: T[]) => void
  /** After every change the watch reports. */
  onChange: (change: WatchChange, object: T) => void
  logger: Logger
  now?: () => number
  random?: () => number
  /** First reconnect delay after a failure (default 500 ms); doubles per failure, capped at `backoffCapMs`. */
  backoffBaseMs?: number
  /** Longest reconnect delay (default 30 s). */
  backoffCapMs?: number
  /** The server ends each watch after a random time between this many seconds and twice as many (default 300, as client-go). */
  minWatchSeconds?: number
  /** When the watch is forbidden (403): list this often instead (default 10 s). */
  pollWhenForbiddenMs?: number
}

/** A running list-watch. */
export interface ListWatch {
  /** Since when (ms since epoch) no watch has been open; undefined while one is. */
  downSince (): number | undefined
  /** Ends the watch; resolves once the loop has stopped. */
  stop (): Promise<void>
}

/** A watch that lasted less than this and ended counts as a failure (no tight reconnect loop). */
const SHORTEST_HEALTHY_WATCH_MS = 1000

/** client-node ends a watch that received nothing for this long past its server-side timeout (a half-open connection). */
const SILENCE_MARGIN_MS = 60_000

/** Delay before reconnect attempt `failures` (1 = first): exponential, capped, with jitter between half and all of it. */
export function reconnectDelayMs (failures: number, baseMs: number, capMs: number, random: () => number): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.max(0, failures - 1))
  return Math.round(ceiling / 2 + random() * ceiling / 2)
}

type WatchEnd = { kind: 'closed' } | { kind: 'expired' } | { kind: 'forbidden' } | { kind: 'failed', error: Error }

/** Starts listing and watching; never throws, reports trouble through the logger and `downSince`. */
export function startListWatch<T extends WatchedObject> (options: ListWatchOptions<T>): ListWatch {
  const now = options.now ?? Date.now
  const random = options.random ?? Math.random
  const baseMs = options.backoffBaseMs ?? 500
  const capMs = options.backoffCapMs ?? 30_000
  const minWatchSeconds = options.minWatchSeconds ?? 300
  const pollMs = options.pollWhenForbiddenMs ?? 10_000
  const log = options.logger
  const stopping = new AbortController()
  let request: AbortController | undefined
  let downSince: number | undefined = now()
  let resourceVersion = options.initial?.resourceVersion ?? ''

  /** One watch request, from `resourceVersion` until the server or a failure ends it. */
  const watchOnce = (): Promise<WatchEnd> => new Promise(settle => {
    const onStop = (): void => resolve({ kind: 'closed' })
    const resolve = (end: WatchEnd): void => {
      stopping.signal.removeEventListener('abort', onStop)
      settle(end)
    }
    stopping.signal.addEventListener('abort', onStop, { once: true })
    const timeoutSeconds = Math.floor(minWatchSeconds * (1 + random()))
    const watch = new Watch(options.kubeConfig)
    // client-node aborts a watch that stays silent for 30 s; a quiet Node is
    // the normal case here, so only a watch silent past its own server-side
    // timeout counts as a dead connection.
    Object.assign(watch, { requestTimeoutMs: timeoutSeconds * 1000 + SILENCE_MARGIN_MS })
    let expired = false
    let ended = false
    const onEvent = (type: string, object: T & { code?: number, message?: string }): void => {
      if (type === 'ERROR') {
        if (object?.code === 410) expired = true
        else log.warn({ code: object?.code, reason: object?.message }, 'watch reported an error')
        return
      }
      resourceVersion = object?.metadata?.resourceVersion ?? resourceVersion
      if (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED') options.onChange(type, object)
    }
    const onDone = (err: (Error & { statusCode?: number }) | null): void => {
      ended = true
      if (expired || err?.statusCode === 410) resolve({ kind: 'expired' })
      else if (err?.statusCode === 403) resolve({ kind: 'forbidden' })
      else if (err !== null && err !== undefined && !stopping.signal.aborted) resolve({ kind: 'failed', error: err })
      else resolve({ kind: 'closed' })
    }
    const query = { fieldSelector: options.fieldSelector, resourceVersion, allowWatchBookmarks: true, timeoutSeconds }
    watch.watch(options.path, query, onEvent, onDone).then(controller => {
      request = controller
      if (!ended) downSince = undefined
      if (stopping.signal.aborted) controller.abort()
    }, (err: Error) => onDone(err))
  })

  const stopped = new Promise<undefined>(resolve => stopping.signal.addEventListener('abort', () => resolve(undefined), { once: true }))
  const pause = (ms: number): Promise<void> => delay(ms, undefined, { signal: stopping.signal }).catch(() => undefined)

  const loop = async (): Promise<void> => {
    let failures = 0
    let polling = false
    if (options.initial !== undefined) options.onSync(options.initial.items)
    while (!stopping.signal.aborted) {
      if (resourceVersion === '' || polling) {
        try {
          const listed = await Promise.race([options.list(), stopped])
          if (listed === undefined) break
          resourceVersion = listed.resourceVersion
          options.onSync(listed.items)
          if (polling) {
            failures = 0
            downSince = undefined
            await pause(pollMs)
            continue
          }
        } catch (err) {
          downSince ??= now()
          failures++
          const waitMs = reconnectDelayMs(failures, baseMs, capMs, random)
          log.warn({ err: { message: (err as Error).message }, path: options.path, retryInMs: waitMs }, 'listing failed; retrying')
          await pause(waitMs)
          continue
        }
      }
      const started = now()
      const end = await watchOnce()
      request = undefined
      downSince ??= now()
      if (stopping.signal.aborted) break
      if (end.kind === 'forbidden') {
        log.warn({ path: options.path, pollEveryMs: pollMs }, 'not allowed to watch (403); listing at an interval instead. Grant the watch verb (docs/migrating.md) and restart to watch again')
        polling = true
        continue
      }
      if (end.kind === 'expired') {
        log.info({ path: options.path, resourceVersion }, 'watch resourceVersion expired (410 Gone); listing again')
        resourceVersion = ''
        continue
      }
      if (end.kind === 'closed' && now() - started >= SHORTEST_HEALTHY_WATCH_MS) {
        failures = 0
        log.debug({ path: options.path, resourceVersion }, 'watch ended by the server; resuming')
        continue
      }
      failures++
      const waitMs = reconnectDelayMs(failures, baseMs, capMs, random)
      log.warn({ err: end.kind === 'failed' ? { message: end.error.message } : undefined, path: options.path, retryInMs: waitMs }, 'watch failed; reconnecting')
      await pause(waitMs)
    }
  }
  const running = loop()

  return {
    downSince: () => downSince,
    async stop () {
      stopping.abort()
      request?.abort()
      await running
    }
  }
}
