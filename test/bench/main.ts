#!/usr/bin/env node
/**
 * `npm run bench`: runs every registered bench module and prints its rows and
 * the ratios against the same-run baselines. Add a module by appending it to
 * BENCHES. Settings (environment variables or the matching flags, see
 * `npm run bench -- --help`): load duration, warm-up and concurrency for the
 * webhook; pods and kubelet delays for the drain; reviews and settle time for
 * the memory readings; readiness settings for the fleet wave.
 */
import { integer, list, option, readOptionsOrExit, type Parser } from '#common/options.ts'
import { buildPrograms } from '../../deploy/build.ts'
import type { BenchModule, BenchRatio, BenchRow, FigureRatio, FigureRow } from './harness.ts'
import { webhookBench } from './webhook.bench.ts'
import { drainBench } from './drain.bench.ts'
import { memoryBench } from './memory.bench.ts'
import { fleetBench } from './fleet.bench.ts'

/** The bench modules, run in this order. */
const BENCHES: BenchModule[] = [webhookBench, drainBench, memoryBench, fleetBench]

/** A comma list of integers, each within [min, max]. */
const integerList = (min: number, max: number): Parser<number[]> => raw => list(raw).map(integer(min, max))

const SETTINGS = {
  durationMs: option({ flag: 'duration-ms', env: 'BENCH_DURATION_MS', default: 3000, help: 'Measured time per target.', parse: integer(100, 10_000) }),
  warmupMs: option({ flag: 'warmup-ms', env: 'BENCH_WARMUP_MS', default: 500, help: 'Warm-up time per target.', parse: integer(0, 5_000) }),
  concurrency: option({ flag: 'concurrency', env: 'BENCH_CONCURRENCY', default: 8, help: 'Concurrent keep-alive clients.', parse: integer(1, 256) }),
  drainPods: option({ flag: 'drain-pods', env: 'BENCH_DRAIN_PODS', default: 24, help: 'Drain: pods on the drained node, spread over 3 Deployments (each with a PDB maxUnavailable 1); the kubectl-like baseline needs about 5 s per pod of the largest Deployment.', parse: integer(3, 300) }),
  drainKubeletDelayMs: option({ flag: 'drain-kubelet-delay-ms', env: 'BENCH_DRAIN_KUBELET_DELAY_MS', default: 200, help: 'Drain: time the simulated kubelet takes to finish a terminating pod.', parse: integer(0, 30_000) }),
  drainReadyDelayMs: option({ flag: 'drain-ready-delay-ms', env: 'BENCH_DRAIN_READY_DELAY_MS', default: 300, help: 'Drain: time from a replacement pod scheduled to Ready.', parse: integer(0, 30_000) }),
  memoryReviews: option({ flag: 'memory-reviews', env: 'BENCH_MEMORY_REVIEWS', default: 3000, help: 'Memory: /mutate reviews sent before the loaded reading.', parse: integer(0, 1_000_000) }),
  only: option({ flag: 'only', env: 'BENCH_ONLY', default: [] as string[], help: `Run only these modules (comma list of ${BENCHES.map(b => b.name).join(', ')}); empty runs all.`, parse: list }),
  memoryDrainPods: option({ flag: 'memory-drain-pods', env: 'BENCH_MEMORY_DRAIN_PODS', default: 250, help: 'Memory: pods on the node the built agent drains for its peak reading.', parse: integer(1, 1000) }),
  fleetReadyDelaysMs: option({ flag: 'fleet-ready-delays-ms', env: 'BENCH_FLEET_READY_DELAYS_MS', default: [2000, 10_000], shownDefault: '2000,10000', help: 'Fleet: readiness settings to run the wave at (ms from a replacement scheduled to Ready), a comma list; each runs three waves of up to two minutes.', parse: integerList(0, 60_000) }),
  memorySettleMs: option({ flag: 'memory-settle-ms', env: 'BENCH_MEMORY_SETTLE_MS', default: 2500, help: 'Memory: idle time after a program is ready, before its reading (longer than the agent\'s 2 s IMDS poll interval).', parse: integer(0, 60_000) })
}

function formatRow (r: BenchRow): string {
  const cpu = r.cpuUsPerRequest === undefined ? '' : `  CPU ${r.cpuUsPerRequest.toFixed(0).padStart(4)} µs/req`
  return `${r.case.padEnd(44)} ${r.target.padEnd(40)} ${r.rps.toFixed(0).padStart(7)} req/s  p50 ${r.p50Ms.toFixed(2).padStart(7)} ms  p99 ${r.p99Ms.toFixed(2).padStart(7)} ms${cpu}  (${r.requests} ok, ${r.errors} errors)`
}

function formatRatio (r: BenchRatio): string {
  const cpu = r.cpuRatio === undefined ? '' : `, CPU per request ${r.cpuRatio.toFixed(2)}x baseline`
  return `${r.case.padEnd(44)} throughput ${r.rpsRatio.toFixed(2)}x baseline, p99 ${r.p99Ratio.toFixed(2)}x baseline${cpu}`
}

function formatFigureRow (r: FigureRow): string {
  return `${r.case.padEnd(44)} ${r.target.padEnd(40)} ${r.figures.map(f => `${f.name} ${f.value.toFixed(f.digits ?? 0)}${f.unit === '' ? '' : ` ${f.unit}`}`).join(', ')}`
}

function formatFigureRatio (r: FigureRatio): string {
  return `${r.case.padEnd(44)} ${r.figure}: ${r.ratio.toFixed(2)}x`
}

const settings = readOptionsOrExit('npm run bench', 'Benchmarks: each target against a baseline measured in the same run, reported as ratios.', SETTINGS).values
// The benches measure the programs the image ships: build them first (about a second).
await buildPrograms()
console.log(`bench: ${settings.concurrency} concurrent keep-alive clients, ${settings.warmupMs} ms warm-up + ${settings.durationMs} ms per target, Node ${process.version}\n`)
const unknown = settings.only.filter(name => !BENCHES.some(b => b.name === name))
if (unknown.length > 0) {
  process.stderr.write(`npm run bench: invalid value for --only (BENCH_ONLY): unknown module ${unknown.join(', ')}; expected some of ${BENCHES.map(b => b.name).join(', ')}\n`)
  process.exit(2)
}
for (const bench of BENCHES.filter(b => settings.only.length === 0 || settings.only.includes(b.name))) {
  const started = performance.now()
  const { rows = [], ratios = [], figureRows = [], figureRatios = [] } = await bench.run(settings)
  console.log(`== ${bench.name} (${((performance.now() - started) / 1000).toFixed(1)} s)`)
  for (const row of rows) console.log(formatRow(row))
  for (const row of figureRows) console.log(formatFigureRow(row))
  console.log('')
  for (const r of ratios) console.log(formatRatio(r))
  for (const r of figureRatios) console.log(formatFigureRatio(r))
  console.log('')
}
