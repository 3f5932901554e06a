/**
 * Client-side limits on Kubernetes API calls during a drain: a token bucket
 * (KUBE_API_QPS sustained, KUBE_API_BURST at once) and a bound on requests in
 * flight (DRAIN_PARALLELISM), combined in one gate every call passes through.
 */

/** A token bucket; `delayFor` is pure arithmetic, `take` waits with the injected sleep. */
export class TokenBucket {
  private tokens: number
  private last: number
  private readonly qps: number
  private readonly burst: number
  private readonly now: () => number
  private readonly sleep: (ms: number) => Promise<void>

  constructor (qps: number, burst: number, now: () => number, sleep: (ms: number) => Promise<void>) {
    this.qps = qps
    this.burst = burst
    this.now = now
    this.sleep = sleep
    this.tokens = burst
    this.last = now()
  }

  /** Reserves one token and returns how long (ms) the caller must wait before using it. */
  reserve (): number {
    const t = this.now()
    this.tokens = Math.min(this.burst, this.tokens + (t - this.last) * this.qps / 1000)
    this.last = t
    this.tokens -= 1
    return this.tokens >= 0 ? 0 : Math.ceil(-this.tokens * 1000 / this.qps)
  }

  /** Waits until a token is available. */
  async take (): Promise<void> {
    const wait = this.reserve()
    if (wait > 0) await this.sleep(wait)
  }
}

/** Bounds how many async tasks run at once. */
export class Semaphore {
  private active = 0
  private readonly waiting: Array<() => void> = []
  private readonly limit: number
  constructor (limit: number) { this.limit = limit }

  /** Runs `task` once a slot is free. */
  async run<T> (task: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>(resolve => this.waiting.push(resolve))
    else this.active++
    try {
      return await task()
    } finally {
      const next = this.waiting.shift()
      if (next !== undefined) next()
      else this.active--
    }
  }
}

/** Rate limit plus concurrency bound for API calls. */
export interface ApiGate {
  run<T> (call: () => Promise<T>): Promise<T>
}

/** Builds the gate from the configured limits. */
export function createApiGate (qps: number, burst: number, parallelism: number, now: () => number, sleep: (ms: number) => Promise<void>): ApiGate {
  const bucket = new TokenBucket(qps, burst, now, sleep)
  const slots = new Semaphore(parallelism)
  return { run: call => slots.run(async () => { await bucket.take(); return await call() }) }
}
