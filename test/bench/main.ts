#!/usr/bin/env node
/**
 * `npm run bench`: runs every registered bench module and prints its rows and
 * the ratios against the same-run baselines. Add a module by appending it to
 * BENCHES. Settings: BENCH_DURATION_MS (default 3000), BENCH_WARMUP_MS (500),
 * BENCH_CONCURRENCY (8), or the matching flags (`npm run bench -- --help`).
 */
import { integer, option, readOptionsOrExit } from '../../webhook/common/options.ts'
import type { BenchModule, BenchRatio, BenchRow } from './harness.ts'
import { webhookBench } from './webhook.bench.ts'

/** The bench modules, run in this order. */
const BENCHES: BenchModule[] = [webhookBench]

const SETTINGS = {
  durationMs: option({ flag: 'duration-ms', env: 'BENCH_DURATION_MS', default: 3000, help: 'Measured time per target.', parse: integer(100, 10_000) }),
  warmupMs: option({ flag: 'warmup-ms', env: 'BENCH_WARMUP_MS', default: 500, help: 'Warm-up time per target.', parse: integer(0, 5_000) }),
  concurrency: option({ flag: 'concurrency', env: 'BENCH_CONCURRENCY', default: 8, help: 'Concurrent keep-alive clients.', parse: integer(1, 256) })
}

function formatRow (r: BenchRow): string {
  return `${r.case.padEnd(44)} ${r.target.padEnd(40)} ${r.rps.toFixed(0).padStart(7)} req/s  p50 ${r.p50Ms.toFixed(2).padStart(7)} ms  p99 ${r.p99Ms.toFixed(2).padStart(7)} ms  (${r.requests} ok, ${r.errors} errors)`
}

function formatRatio (r: BenchRatio): string {
  return `${r.case.padEnd(44)} throughput ${r.rpsRatio.toFixed(2)}x baseline, p99 ${r.p99Ratio.toFixed(2)}x baseline`
}

const settings = readOptionsOrExit('npm run bench', 'Benchmarks: each target against a baseline measured in the same run, reported as ratios.', SETTINGS)
console.log(`bench: ${settings.concurrency} concurrent keep-alive clients, ${settings.warmupMs} ms warm-up + ${settings.durationMs} ms per target, Node ${process.version}\n`)
for (const bench of BENCHES) {
  const started = performance.now()
  const { rows, ratios } = await bench.run(settings)
  console.log(`== ${bench.name} (${((performance.now() - started) / 1000).toFixed(1)} s)`)
  for (const row of rows) console.log(formatRow(row))
  console.log('')
  for (const r of ratios) console.log(formatRatio(r))
  console.log('')
}
