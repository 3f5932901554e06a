/**
 * A budget of request-body bytes in flight, so concurrent large reviews cannot
 * take the webhook past its memory limit. A review costs several times its
 * body in memory while it is read, parsed and answered; reviews up to
 * SMALL_BODY_BYTES (every handler DaemonSet seen in practice) pass freely,
 * larger ones reserve their size first, wait in line (first come, first
 * served) while the budget is spent, and are refused when the line is full.
 * Pure: no timers and no I/O; the caller decides how long a waiter may wait.
 */

/** Bodies up to this size are not counted (their memory is bounded by the connection cap). */
export const SMALL_BODY_BYTES = 64 * 1024
/** Bytes of larger bodies in flight at once: two near-limit reviews. */
export const LARGE_BODY_BUDGET_BYTES = 8 * 1024 * 1024
/** Larger reviews that may wait for the budget; the next one is refused. */
export const MAX_WAITING_REVIEWS = 8

/**
 * The bytes a request reserves: its Content-Length when that is above
 * SMALL_BODY_BYTES and within `bodyLimit`, the whole limit for a chunked body
 * (its size is unknown until read), and undefined (nothing to reserve) for a
 * small body, no body, or one the body limit refuses anyway.
 */
export function reservedBytes (headers: { 'content-length'?: string, 'transfer-encoding'?: string }, bodyLimit: number): number | undefined {
  const length = headers['content-length']
  if (length === undefined) return headers['transfer-encoding'] === undefined ? undefined : bodyLimit
  const bytes = Number(length)
  return Number.isSafeInteger(bytes) && bytes > SMALL_BODY_BYTES && bytes <= bodyLimit ? bytes : undefined
}

interface Waiter {
  bytes: number
  grant: () => void
}

/** Byte reservations against a fixed capacity, granted in arrival order. */
export class BodyBudget {
  readonly capacity: number
  readonly maxWaiting: number
  #inUse = 0
  readonly #waiting: Waiter[] = []

  constructor (capacity = LARGE_BODY_BUDGET_BYTES, maxWaiting = MAX_WAITING_REVIEWS) {
    this.capacity = capacity
    this.maxWaiting = maxWaiting
  }

  /** Bytes reserved now. */
  get inUse (): number {
    return this.#inUse
  }

  /** Reservations waiting for the budget. */
  get waiting (): number {
    return this.#waiting.length
  }

  /**
   * Reserves `bytes` (at most the whole capacity, so any body fits alone).
   * Returns 'granted' at once when it fits and nobody waits, a promise that
   * resolves true when granted or false when `signal` aborts first, or
   * 'refused' when the line is full. A granted reservation must be released.
   */
  reserve (bytes: number, signal: AbortSignal): 'granted' | 'refused' | Promise<boolean> {
    const size = Math.min(bytes, this.capacity)
    if (this.#waiting.length === 0 && this.#inUse + size <= this.capacity) {
      this.#inUse += size
      return 'granted'
    }
    if (this.#waiting.length >= this.maxWaiting || signal.aborted) return 'refused'
    return new Promise(resolve => {
      const waiter: Waiter = {
        bytes: size,
        grant: () => {
          signal.removeEventListener('abort', abandon)
          resolve(true)
        }
      }
      const abandon = (): void => {
        this.#waiting.splice(this.#waiting.indexOf(waiter), 1)
        this.#grantWaiting()
        resolve(false)
      }
      signal.addEventListener('abort', abandon, { once: true })
      this.#waiting.push(waiter)
    })
  }

  /** Returns a granted reservation of `bytes` and grants the waiters that now fit. */
  release (bytes: number): void {
    this.#inUse = Math.max(0, this.#inUse - Math.min(bytes, this.capacity))
    this.#grantWaiting()
  }

  #grantWaiting (): void {
    while (this.#waiting.length > 0 && this.#inUse + this.#waiting[0]!.bytes <= this.capacity) {
      const next = this.#waiting.shift()!
      this.#inUse += next.bytes
      next.grant()
    }
  }
}
