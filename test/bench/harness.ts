/**
 * Benchmark harness: the row format every bench module returns, a keep-alive
 * HTTPS load generator with N concurrent clients, and percentile maths.
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

/** Settings shared by all bench modules. */
export interface BenchSettings {
  durationMs: number
  warmupMs: number
  concurrency: number
}

/** What a bench module returns: rows and their ratios against baselines. */
export interface BenchResult {
  rows: BenchRow[]
  ratios: BenchRatio[]
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

/** Runs `concurrency` clients, each on its own keep-alive connection, sending back to back for `durationMs`. */
export async function runLoad (target: LoadTarget, durationMs: number, concurrency: number): Promise<{ latencies: number[], errors: number, elapsedMs: number }> {
  const latencies: number[] = []
  let errors = 0
  const started = performance.now()
  const deadline = started + durationMs
  const client = async (): Promise<void> => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 })
    try {
      while (performance.now() < deadline) {
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

/** The ratio row of `row` against `baseline`. */
export function ratio (row: BenchRow, baseline: BenchRow): BenchRatio {
  return { bench: row.bench, case: row.case, rpsRatio: row.rps / baseline.rps, p99Ratio: row.p99Ms / baseline.p99Ms }
}
