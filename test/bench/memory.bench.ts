/**
 * Memory: resident set size (VmRSS, and the peak VmHWM, from
 * /proc/<pid>/status) of the real programs run as their own processes, against
 * baselines measured in the same run:
 * - a bare Node process that loads nothing, and one running an empty .ts
 *   file (what Node's type stripping, which our programs use, costs);
 * - the webhook (`node webhook/main.ts` with a certificate directory from
 *   certs/) idle and after a few thousand POST /mutate reviews, against a bare
 *   fastify HTTPS server process idle and after the same reviews;
 * - the agent (`node agent/main.ts`) idle, polling the IMDS simulator, with
 *   the Kubernetes API simulator's kubeconfig.
 * These figures size the Helm chart's memory requests (deploy/chart/values.yaml).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { generateCertificates } from '../../certs/generate.ts'
import { writeCertificateFiles } from '../../certs/files.ts'
import { MAX_BODY_BYTES, MUTATE_PATH } from '../../webhook/server.ts'
import { startImdsSim } from '../sim/imds/server.ts'
import { startKubeSim } from '../sim/k8s/sim.ts'
import { httpsCall } from '../helpers/https.ts'
import { parseProcStatus, type ProcessMemory } from './proc-memory.ts'
import { figureRatio, runLoad, type BenchModule, type BenchResult, type BenchSettings, type FigureRow, type LoadTarget } from './harness.ts'

const SERVICE = { service: 'spot-webhook', namespace: 'spot-system' }
const SERVER_NAME = `${SERVICE.service}.${SERVICE.namespace}.svc`
const NODE = 'spot-node-1'
const READY_TIMEOUT_MS = 30_000
/** Longest the reviews may take before the loaded reading is taken anyway. */
const REVIEWS_TIME_LIMIT_MS = 60_000
const MiB = 1024 * 1024

/** A program started for measuring. */
interface Program {
  name: string
  child: ChildProcess
  /** What it wrote on stderr lately (for errors). */
  stderr: () => string
  /** Rejects if the process exits before `stop`. */
  exited: Promise<never>
  /** Resolves once the program printed a line `ready` on stdout. */
  printedReady: Promise<void>
}

/** Starts `node args...` with the same Node binary as the bench. */
function startProgram (name: string, args: string[], env: Record<string, string> = {}): Program {
  const child = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => { stderr = (stderr + chunk).slice(-4000) })
  const printedReady = new Promise<void>(resolve => {
    let tail = ''
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (tail + chunk).split('\n')
      tail = lines.pop()!.slice(-100)
      if (lines.includes('ready')) resolve()
    })
  })
  const exited = new Promise<never>((_resolve, reject) => {
    child.once('exit', (code, signal) => reject(new Error(`${name} exited (${signal ?? `code ${code}`}): ${stderr.trim()}`)))
  })
  exited.catch(() => {})
  return { name, child, stderr: () => stderr, exited, printedReady }
}

/** Waits until the program printed `ready`. */
async function printedReady (program: Program): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`${program.name} did not print "ready" within ${READY_TIMEOUT_MS} ms: ${program.stderr().trim()}`)), READY_TIMEOUT_MS) })
  try {
    await Promise.race([program.printedReady, program.exited, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/** Polls `url` until it answers 200. */
async function readyAt (program: Program, url: string): Promise<void> {
  const deadline = performance.now() + READY_TIMEOUT_MS
  const poll = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const status = await fetch(url).then(r => r.status, () => 0)
      if (status === 200) return
      await sleep(100)
    }
    throw new Error(`${program.name}: ${url} not ready within ${READY_TIMEOUT_MS} ms: ${program.stderr().trim()}`)
  }
  await Promise.race([poll(), program.exited])
}

/** Stops the program (SIGTERM, then SIGKILL after 5 s) and waits for its exit. */
async function stopProgram (program: Program): Promise<void> {
  const { child } = program
  if (child.exitCode !== null || child.signalCode !== null) return
  const exit = once(child, 'exit')
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
  await exit
  clearTimeout(timer)
}

/** The program's memory now. */
async function memoryOf (program: Program): Promise<ProcessMemory> {
  return parseProcStatus(await readFile(`/proc/${program.child.pid}/status`, 'utf8'))
}

/** A port free at the time of asking (the spawned programs take fixed ports). */
async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise(resolve => server.close(resolve))
  return port
}

function row (caseName: string, target: string, memory: ProcessMemory): FigureRow {
  return {
    bench: 'memory',
    case: caseName,
    target,
    figures: [{ name: 'RSS', value: memory.rssBytes / MiB, unit: 'MiB', digits: 1 }, { name: 'peak', value: memory.peakBytes / MiB, unit: 'MiB', digits: 1 }]
  }
}

/** Runs `measure` on a started program and always stops it. */
async function withProgram<T> (program: Program, measure: (program: Program) => Promise<T>): Promise<T> {
  try {
    return await measure(program)
  } finally {
    await stopProgram(program)
  }
}

const repoFile = (path: string): string => fileURLToPath(new URL(`../../${path}`, import.meta.url))

/** Source of a bare Node program: one timer keeps it alive, nothing is imported. */
const BARE_PROGRAM = 'setInterval(() => {}, 1 << 30); process.stdout.write("ready\\n")'

/** A bare Node process idle: the program given with -e (plain JavaScript), or as a .ts file (Node's type stripping loaded, as for our programs). */
async function bareNode (settings: BenchSettings, dir: string, asTypeScript: boolean): Promise<FigureRow> {
  const file = join(dir, 'bare.ts')
  if (asTypeScript) await writeFile(file, BARE_PROGRAM)
  const program = startProgram('bare node', asTypeScript ? [file] : ['-e', BARE_PROGRAM])
  return await withProgram(program, async p => {
    await printedReady(p)
    await sleep(settings.memorySettleMs)
    return row('idle', asTypeScript ? 'baseline: bare node, empty .ts file' : 'baseline: bare node (loads nothing)', await memoryOf(p))
  })
}

/** A program's readings before and after the reviews. */
interface IdleAndLoaded { idle: FigureRow, loaded: FigureRow }

/** Idle and loaded readings of an HTTPS program answering `path`, once `ready` resolves. */
async function idleAndLoaded (settings: BenchSettings, program: Program, target: string, ready: (p: Program) => Promise<void>, load: LoadTarget): Promise<IdleAndLoaded> {
  return await withProgram(program, async p => {
    await ready(p)
    await sleep(settings.memorySettleMs)
    const idle = row('idle', target, await memoryOf(p))
    const { latencies, errors } = await runLoad(load, REVIEWS_TIME_LIMIT_MS, settings.concurrency, settings.memoryReviews)
    if (errors > 0) throw new Error(`${p.name}: ${errors} of ${settings.memoryReviews} reviews failed`)
    return { idle, loaded: row(`after ${latencies.length} reviews`, target, await memoryOf(p)) }
  })
}

/** The webhook program and the bare fastify process, idle and after the reviews. */
async function webhookRows (settings: BenchSettings, dir: string): Promise<{ fastify: IdleAndLoaded, webhook: IdleAndLoaded }> {
  const set = await generateCertificates({ ...SERVICE, hosts: ['127.0.0.1'], days: 1, keyType: 'ecdsa' })
  const certDir = join(dir, 'certs')
  await writeCertificateFiles(certDir, set)
  const { review } = JSON.parse(await readFile(repoFile('test/fixtures/admission/workshop-example-v1.json'), 'utf8'))
  // The port is set per program below.
  const load: LoadTarget = { port: 0, path: MUTATE_PATH, body: JSON.stringify(review), ca: set.ca.cert, servername: SERVER_NAME }

  const [port, metricsPort] = [await freePort(), await freePort()]
  const webhook = startProgram('webhook', [repoFile('webhook/main.ts'), '--port', String(port), '--metrics-port', String(metricsPort), '--listen-address', '127.0.0.1', '--cert-dir', certDir])
  let answer = ''
  const webhookFigures = await idleAndLoaded(settings, webhook, 'webhook (node webhook/main.ts)', async p => {
    await readyAt(p, `http://127.0.0.1:${metricsPort}/readyz`)
    const sample = await httpsCall({ ...load, port })
    if (sample.status !== 200) throw new Error(`webhook answered ${sample.status}: ${sample.text}`)
    answer = sample.text
  }, { ...load, port })

  const answerFile = join(dir, 'answer.json')
  await writeFile(answerFile, answer)
  const fastifyPort = await freePort()
  const fastify = startProgram('bare fastify', [repoFile('test/bench/bare-fastify-main.ts'), certDir, String(fastifyPort), MUTATE_PATH, String(MAX_BODY_BYTES), answerFile])
  const fastifyFigures = await idleAndLoaded(settings, fastify, 'baseline: bare fastify HTTPS', printedReady, { ...load, port: fastifyPort })
  return { fastify: fastifyFigures, webhook: webhookFigures }
}

/** The agent program idle: polling the IMDS simulator (no notice), its Node on the Kubernetes API simulator. */
async function agentRow (settings: BenchSettings, dir: string): Promise<FigureRow> {
  const imds = await startImdsSim()
  const kube = await startKubeSim()
  try {
    await kube.addNode({ name: NODE })
    const kubeconfig = join(dir, 'kubeconfig')
    await kube.writeKubeconfig(kubeconfig)
    const [metricsPort, probesPort] = [await freePort(), await freePort()]
    const agent = startProgram('agent', [repoFile('agent/main.ts')], {
      NODE_NAME: NODE,
      INSTANCE_METADATA_URL: imds.url,
      KUBECONFIG: kubeconfig,
      PROMETHEUS_SERVER_PORT: String(metricsPort),
      PROBES_SERVER_PORT: String(probesPort)
    })
    return await withProgram(agent, async p => {
      await readyAt(p, `http://127.0.0.1:${probesPort}/readyz`)
      await sleep(settings.memorySettleMs)
      return row('idle', 'agent (node agent/main.ts), polling IMDS', await memoryOf(p))
    })
  } finally {
    await Promise.all([imds.close(), kube.close()])
  }
}

/** The memory bench module. */
export const memoryBench: BenchModule = {
  name: 'memory (resident set size, /proc/<pid>/status)',
  async run (settings): Promise<BenchResult> {
    const dir = await mkdtemp(join(tmpdir(), 'spot-memory-bench-'))
    try {
      const bare = await bareNode(settings, dir, false)
      const bareTs = await bareNode(settings, dir, true)
      const { fastify, webhook } = await webhookRows(settings, dir)
      const agent = await agentRow(settings, dir)
      const { idle: fastifyIdle, loaded: fastifyLoaded } = fastify
      const { idle: webhookIdle, loaded: webhookLoaded } = webhook
      return {
        figureRows: [bare, bareTs, fastifyIdle, webhookIdle, fastifyLoaded, webhookLoaded, agent],
        figureRatios: [
          figureRatio('empty .ts file RSS vs bare node', 'RSS', bareTs, bare),
          figureRatio('webhook RSS vs bare node', 'RSS', webhookIdle, bare),
          figureRatio('webhook RSS vs bare fastify', 'RSS', webhookIdle, fastifyIdle),
          figureRatio('webhook RSS vs bare fastify', 'RSS', webhookLoaded, fastifyLoaded),
          figureRatio('webhook peak vs bare fastify', 'peak', webhookLoaded, fastifyLoaded),
          figureRatio('agent RSS vs bare node', 'RSS', agent, bare),
          figureRatio('agent RSS vs empty .ts file', 'RSS', agent, bareTs)
        ]
      }
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  }
}
