/**
 * Benchmark harness: the row formats bench modules return (load rows in req/s,
 * figure rows for anything else: drain time, memory), a keep-alive HTTPS load
 * generator with N concurrent clients, and percentile maths.
 */
import { Agent } from 'node:https'
import { httpsCall } from '../helpers/https.ts'

/** One measured configuration. */
export interface BenchRow {
  bench: string
  case: string
  target: string
  requests: number
  errors: number
  rps: number
  p50Ms: number
  p99Ms: number
}

/** A comparison of a measured row against its same-run baseline. */
export interface BenchRatio {
  bench: string
  case: string
  /** target rps / baseline rps (1 = as fast as the baseline). */
  rpsRatio: number
  /** target p99 / baseline p99 (1 = same tail latency). */
  p99Ratio: number
}

/** One named measurement of a figure row. */
export interface Figure {
  name: string
  value: number
  unit: string
  /** Decimals printed (default 0). */
  digits?: number
}

/** One measured configuration reported as named figures rather than a load run. */
export interface FigureRow {
  bench: string
  case: string
  target: string
  figures: Figure[]
}

/** A figure of a target row against the same figure of its same-run baseline. */
export interface FigureRatio {
  bench: string
  case: string
  /** What is compared with what, e.g. "webhook RSS vs bare node". */
  figure: string
  /** target / baseline. */
  ratio: number
}

/** Settings shared by all bench modules. */
export interface BenchSettings {
  durationMs: number
  warmupMs: number
  concurrency: number
  /** Drain bench: pods on the drained node (spread over the Deployments). */
  drainPods: number
  /** Drain bench: the simulated kubelet's time to finish a terminating pod. */
  drainKubeletDelayMs: number
  /** Drain bench: the simulated kubelet's time from scheduled to Ready. */
  drainReadyDelayMs: number
  /** Memory bench: /mutate reviews sent before the loaded reading. */
  memoryReviews: number
  /** Memory bench: time a started program is left idle before its idle reading. */
  memorySettleMs: number
}

/** What a bench module returns: rows and their ratios against baselines. */
export interface BenchResult {
  rows?: BenchRow[]
  ratios?: BenchRatio[]
  figureRows?: FigureRow[]
  figureRatios?: FigureRatio[]
}

/** A benchmark; `test/bench/main.ts` runs the registered ones in order. */
export interface BenchModule {
  name: string
  run: (settings: BenchSettings) => Promise<BenchResult>
}

/** The p-th percentile (0..100) of sorted values, nearest-rank. */
export function percentile (sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!
}

/** Where and what to send. */
export interface LoadTarget {
  port: number
  path: string
  body: string
  ca: string
  servername: string
}

/** Runs `concurrency` clients, each on its own keep-alive connection, sending back to back for `durationMs` or until `maxRequests` were sent in all. */
export async function runLoad (target: LoadTarget, durationMs: number, concurrency: number, maxRequests = Infinity): Promise<{ latencies: number[], errors: number, elapsedMs: number }> {
  const latencies: number[] = []
  let errors = 0
  let sent = 0
  const started = performance.now()
  const deadline = started + durationMs
  const client = async (): Promise<void> => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 })
    try {
      while (performance.now() < deadline && sent < maxRequests) {
        sent++
        const t0 = performance.now()
        const status = await httpsCall({ ...target, agent }).then(answer => answer.status, () => 0)
        if (status === 200) latencies.push(performance.now() - t0)
        else errors++
      }
    } finally {
      agent.destroy()
    }
  }
  await Promise.all(Array.from({ length: concurrency }, client))
  return { latencies, errors, elapsedMs: performance.now() - started }
}

/** Warms up, measures, and summarises one target as a row. */
export async function measure (bench: string, caseName: string, targetName: string, target: LoadTarget, settings: BenchSettings): Promise<BenchRow> {
  await runLoad(target, settings.warmupMs, settings.concurrency)
  const { latencies, errors, elapsedMs } = await runLoad(target, settings.durationMs, settings.concurrency)
  latencies.sort((a, b) => a - b)
  return {
    bench,
    case: caseName,
    target: targetName,
    requests: latencies.length,
    errors,
    rps: latencies.length / (elapsedMs / 1000),
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99)
  }
}

/** The ratio of `target`'s figure `name` against `baseline`'s. */
export function figureRatio (figure: string, name: string, target: FigureRow, baseline: FigureRow): FigureRatio {
  const valueOf = (row: FigureRow): number => {
    const found = row.figures.find(f => f.name === name)
    if (found === undefined) throw new Error(`bench ${row.bench}: row "${row.target}" has no figure "${name}"`)
    return found.value
  }
  return { bench: target.bench, case: target.case, figure, ratio: valueOf(target) / valueOf(baseline) }
}

/** The ratio row of `row` against `baseline`. */
export function ratio (row: BenchRow, baseline: BenchRow): BenchRatio {
  return { bench: row.bench, case: row.case, rpsRatio: row.rps / baseline.rps, p99Ratio: row.p99Ms / baseline.p99Ms }
}
