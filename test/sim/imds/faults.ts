/**
 * Fault injection: which requests misbehave and how. Pure bookkeeping; the
 * HTTP shell (server.ts) carries the faults out.
 */

/** The ways a request can misbehave. */
export const FAULT_KINDS = ['latency', 'status', 'drop', 'truncate', 'garbage'] as const

/**
 * - `latency`: answer normally after `ms` milliseconds (default 1000).
 * - `status`: answer `status` (default 500) with IMDS's error page.
 * - `drop`: destroy the connection without answering (the client sees a socket error).
 * - `truncate`: send the real status and headers (Content-Length of the full body), half the body, then close.
 * - `garbage`: answer 200 with bytes that are neither UTF-8 text nor JSON.
 */
export type FaultKind = typeof FAULT_KINDS[number]

/** A fault to inject (see `ImdsSim.injectFault`). */
export interface FaultSpec {
  /** Exact URL path (no query) or a pattern; default: every IMDS path. */
  path?: string | RegExp
  /** HTTP method, case-insensitive; default: any. */
  method?: string
  kind: FaultKind
  /** `latency`: delay in milliseconds. */
  ms?: number
  /** `status`: the status code to answer. */
  status?: number
  /** How many matching requests it affects; default: every one until `clearFaults`. */
  count?: number
}

/** The fault a request gets. */
export interface Fault {
  kind: FaultKind
  ms: number
  status: number
}

/** The body a `garbage` fault sends: invalid UTF-8 and not JSON. */
export const GARBAGE_BODY = Buffer.from([0xff, 0xfe, 0x00, 0x7b, 0x22, 0xc3, 0x28, 0x9f, 0x3c, 0x21, 0x2d, 0x2d, 0x0a])

interface Entry extends Fault {
  path: string | RegExp | undefined
  method: string | undefined
  remaining: number
}

/** Checks a spec and fills in defaults; throws an Error naming the bad field. */
function toEntry (spec: FaultSpec): Entry {
  if (!(FAULT_KINDS as readonly string[]).includes(spec.kind)) throw new Error(`fault kind must be one of ${FAULT_KINDS.join(', ')}, got ${JSON.stringify(spec.kind)}`)
  const ms = spec.ms ?? 1000
  if (!Number.isFinite(ms) || ms < 0) throw new Error(`fault ms must be a non-negative number, got ${spec.ms}`)
  const status = spec.status ?? 500
  if (!Number.isInteger(status) || status < 100 || status > 599) throw new Error(`fault status must be an HTTP status code, got ${spec.status}`)
  const count = spec.count ?? Infinity
  if (count !== Infinity && (!Number.isInteger(count) || count < 1)) throw new Error(`fault count must be a positive integer, got ${spec.count}`)
  return { kind: spec.kind, ms, status, path: spec.path, method: spec.method?.toUpperCase(), remaining: count }
}

function matches (e: Entry, method: string, path: string): boolean {
  if (e.method !== undefined && e.method !== method.toUpperCase()) return false
  if (e.path === undefined) return true
  if (typeof e.path === 'string') return e.path === path
  e.path.lastIndex = 0
  return e.path.test(path)
}

/** The injected faults, in injection order; a request gets the first that matches. */
export class FaultTable {
  #entries: Entry[] = []

  /** Adds a fault; throws on an invalid spec. */
  add (spec: FaultSpec): void {
    this.#entries.push(toEntry(spec))
  }

  /** Removes every fault. */
  clear (): void {
    this.#entries = []
  }

  /** The fault for this request, if any, counting it against the fault's `count`. */
  take (method: string, path: string): Fault | undefined {
    const entry = this.#entries.find(e => matches(e, method, path))
    if (entry === undefined) return undefined
    entry.remaining--
    if (entry.remaining === 0) this.#entries.splice(this.#entries.indexOf(entry), 1)
    return { kind: entry.kind, ms: entry.ms, status: entry.status }
  }
}
