/**
 * Fault injection rules (pure): match a request by Kubernetes verb and a path
 * regex, then delay it, fail it with a Status of the given code, or drop the
 * connection — for the next `count` matching requests (default: all).
 */

/** Kubernetes request verbs (as the API server's audit log names them). */
export type Verb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete' | 'deletecollection'

/** What to do to matching requests. */
export interface FaultSpec {
  /** Verb(s) to match; undefined or `*` matches any. */
  verb?: Verb | '*' | Array<Verb>
  /** Path regex (a string is compiled); tested against the path without the query. */
  path?: RegExp | string
  /** Answer with this HTTP code and a matching Status body (409 Conflict, 429 TooManyRequests, 500, 503, ...). */
  status?: number
  /** Status message (default: `injected fault: <Reason> (<code>)`). */
  message?: string
  /** With 429/503: sets `Retry-After` and `details.retryAfterSeconds`. */
  retryAfterSeconds?: number
  /** Wait this long before answering (or before handling normally when no status is set). */
  latencyMs?: number
  /** Destroy the socket instead of answering. */
  drop?: boolean
  /** How many matching requests are affected (default: unlimited). */
  count?: number
}

/** An installed fault; `hits` counts the requests it affected. */
export interface Fault {
  readonly spec: FaultSpec
  hits: number
}

/** The active faults, matched first-added first. */
export class FaultTable {
  readonly #faults: Array<{ fault: Fault, path: RegExp | undefined }> = []

  /** Installs a fault and returns its handle. */
  add (spec: FaultSpec): Fault {
    const fault: Fault = { spec, hits: 0 }
    this.#faults.push({ fault, path: spec.path === undefined ? undefined : typeof spec.path === 'string' ? new RegExp(spec.path) : spec.path })
    return fault
  }

  /** Removes every fault. */
  clear (): void {
    this.#faults.length = 0
  }

  /** The first fault matching the request with count left; its hit is counted. */
  take (verb: Verb, path: string): FaultSpec | undefined {
    for (const { fault, path: re } of this.#faults) {
      const verbs = fault.spec.verb === undefined || fault.spec.verb === '*' ? undefined : [fault.spec.verb].flat()
      if (verbs !== undefined && !verbs.includes(verb)) continue
      if (re !== undefined && !re.test(path)) continue
      if (fault.spec.count !== undefined && fault.hits >= fault.spec.count) continue
      fault.hits++
      return fault.spec
    }
    return undefined
  }
}
