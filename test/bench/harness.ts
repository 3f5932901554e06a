/**
 * Benchmark harness: the row formats bench modules return (load rows in req/s,
 * figure rows for anything else: drain time, memory), a keep-alive HTTPS load
 * generator with N concurrent connections on bare TLS sockets, and
 * percentile maths.
 */
import { readFile } from 'node:fs/promises'
import { connect, type TLSSocket } from 'node:tls'

/** One measured configuration. */
export interface BenchRow {
  bench: string
  case: string
  target: string
  requests: number
  errors: number
  rps: number
  /** CPU time (user + system) the server process spent per answered request, when its pid was given. */
  cpuUsPerRequest?: number
  p50Ms: number
  p99Ms: number
}

/** A comparison of a measured row against its same-run baseline. */
export interface BenchRatio {
  bench: string
  case: string
  /** target rps / baseline rps (1 = as fast as the baseline). */
  rpsRatio: number
  /** target CPU per request / baseline's (1 = as cheap as the baseline): steadier than throughput on a busy machine. */
  cpuRatio?: number
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
  /** Memory bench: pods on the node the agent drains for its peak reading. */
  memoryDrainPods: number
  /** Fleet bench: the readiness settings (ms from scheduled to Ready) to run the wave at. */
  fleetReadyDelaysMs: number[]
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

/**
 * One keep-alive connection sending `request` back to back and reading each
 * answer with the least work that is still correct: the status line, the
 * Content-Length, then that many body bytes (the servers measured answer with
 * a length, not chunked). Built on a bare TLS socket with the request bytes
 * prepared once, so a client costs much less than the server it loads and the
 * figures describe the server (https.request on one core could not keep a
 * fastify server on the other core busy).
 */
class LoadConnection {
  private readonly socket: TLSSocket
  private buffer: Buffer = Buffer.alloc(0)
  private waiting: ((status: number) => void) | undefined
  private failed: ((err: Error) => void) | undefined

  constructor (target: LoadTarget) {
    this.socket = connect({ host: '127.0.0.1', port: target.port, ca: target.ca, servername: target.servername })
    this.socket.on('data', (chunk: Buffer) => { this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]); this.parse() })
    this.socket.on('error', err => this.failed?.(err))
    this.socket.on('close', () => this.failed?.(new Error('connection closed')))
  }

  /** Sends the request and resolves with the answer's status. */
  send (request: Buffer): Promise<number> {
    return new Promise((resolve, reject) => {
      this.waiting = resolve
      this.failed = reject
      this.socket.write(request)
    })
  }

  private parse (): void {
    const headEnd = this.buffer.indexOf('\r\n\r\n')
    if (headEnd === -1) return
    const head = this.buffer.subarray(0, headEnd).toString('latin1')
    const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0)
    if (this.buffer.length < headEnd + 4 + length) return
    this.buffer = this.buffer.subarray(headEnd + 4 + length)
    const done = this.waiting
    this.waiting = undefined
    this.failed = undefined
    done?.(Number(head.slice(9, 12)))
  }

  close (): void {
    this.socket.destroy()
  }
}

/** The request bytes for `target`: a keep-alive POST of its body as JSON. */
function requestBytes (target: LoadTarget): Buffer {
  const body = Buffer.from(target.body)
  const head = `POST ${target.path} HTTP/1.1\r\nhost: ${target.servername}\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: keep-alive\r\n\r\n`
  return Buffer.concat([Buffer.from(head, 'latin1'), body])
}

/** Runs `concurrency` clients, each on its own keep-alive connection, sending back to back for `durationMs` or until `maxRequests` were sent in all. */
export async function runLoad (target: LoadTarget, durationMs: number, concurrency: number, maxRequests = Infinity): Promise<{ latencies: number[], errors: number, elapsedMs: number }> {
  const latencies: number[] = []
  let errors = 0
  let sent = 0
  const request = requestBytes(target)
  const started = performance.now()
  const deadline = started + durationMs
  const client = async (): Promise<void> => {
    let connection: LoadConnection | undefined
    try {
      while (performance.now() < deadline && sent < maxRequests) {
        sent++
        connection ??= new LoadConnection(target)
        const t0 = performance.now()
        const status = await connection.send(request).catch(() => 0)
        if (status === 200) {
          latencies.push(performance.now() - t0)
        } else {
          errors++
          connection.close()
          connection = undefined
        }
      }
    } finally {
      connection?.close()
    }
  }
  await Promise.all(Array.from({ length: concurrency }, client))
  return { latencies, errors, elapsedMs: performance.now() - started }
}

/** CPU time (user + system) of process `pid` so far, in microseconds, from /proc/<pid>/stat (clock ticks of 10 ms). */
async function cpuMicros (pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) * 10_000
}

/** Warms up, measures, and summarises one target as a row; with `serverPid`, also the server's CPU per request. */
export async function measure (bench: string, caseName: string, targetName: string, target: LoadTarget, settings: BenchSettings, serverPid?: number): Promise<BenchRow> {
  await runLoad(target, settings.warmupMs, settings.concurrency)
  const cpuBefore = serverPid === undefined ? 0 : await cpuMicros(serverPid)
  const { latencies, errors, elapsedMs } = await runLoad(target, settings.durationMs, settings.concurrency)
  const cpu = serverPid === undefined ? undefined : await cpuMicros(serverPid) - cpuBefore
  latencies.sort((a, b) => a - b)
  return {
    bench,
    case: caseName,
    target: targetName,
    requests: latencies.length,
    errors,
    rps: latencies.length / (elapsedMs / 1000),
    ...(cpu === undefined || latencies.length === 0 ? {} : { cpuUsPerRequest: cpu / latencies.length }),
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
  const cpuRatio = row.cpuUsPerRequest !== undefined && baseline.cpuUsPerRequest !== undefined ? row.cpuUsPerRequest / baseline.cpuUsPerRequest : undefined
  return { bench: row.bench, case: row.case, rpsRatio: row.rps / baseline.rps, p99Ratio: row.p99Ms / baseline.p99Ms, ...(cpuRatio === undefined ? {} : { cpuRatio }) }
}
