/**
 * Memory: resident set size (VmRSS, and the peak VmHWM, from
 * /proc/<pid>/status) of the built programs the image ships (dist/, with the
 * V8 flags of deploy/build.ts), against a bare Node process measured in the
 * same run:
 * - the agent idle (polling the IMDS simulator, watching its Node on the
 *   Kubernetes API simulator), and its peak while draining a node of
 *   `memoryDrainPods` pods, with and without its V8 flags (the drain time
 *   shows what the flags cost);
 * - the webhook idle, after a few thousand reviews, and after concurrent
 *   large reviews, against a bare fastify HTTPS process idle and loaded;
 * - the certificate program's peak, writing files and in-cluster.
 * These figures size the requests and limits of deploy/ and the chart.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { generateCertificates } from '../../certs/generate.ts'
import { writeCertificateFiles } from '../../certs/files.ts'
import { MAX_BODY_BYTES, MUTATE_PATH } from '../../webhook/server.ts'
import { CONNECTION_LIMITS } from '../../webhook/app.ts'
import { SMALL_BODY_BYTES } from '../../webhook/body-budget.ts'
import { readState } from '../../agent/node-state.ts'
import { startImdsSim } from '../sim/imds/server.ts'
import { startKubeSim, type KubeObject } from '../sim/k8s/sim.ts'
import { deployment } from '../agent/world.ts'
import { loadWebhookConfiguration } from '../rehearsal/manifests.ts'
import { httpsCall } from '../helpers/https.ts'
import type { ProcessMemory } from './proc-memory.ts'
import { figureRatio, runLoad, type BenchModule, type BenchResult, type BenchSettings, type FigureRow, type LoadTarget } from './harness.ts'
import { freePort, memoryOf, printedReady, readyAt, repoFile, startBuiltProgram, startProgram, withProgram, type Program } from './programs.ts'
import { webhookCases } from './webhook.bench.ts'

const SERVICE = { service: 'spot-webhook', namespace: 'spot-system' }
const SERVER_NAME = `${SERVICE.service}.${SERVICE.namespace}.svc`
const NODE = 'spot-node-1'
/** Longest the reviews may take before the loaded reading is taken anyway. */
const REVIEWS_TIME_LIMIT_MS = 60_000
/** Large reviews sent at once for the webhook's worst-case reading. */
const LARGE_REVIEWS_AT_ONCE = 16
/** Size of the near-limit reviews of the worst case: just under the body limit. */
const NEAR_LIMIT_BYTES = MAX_BODY_BYTES - 64 * 1024
const DRAIN_TIMEOUT_MS = 120_000
const MiB = 1024 * 1024

function row (caseName: string, target: string, memory: ProcessMemory, extra: FigureRow['figures'] = []): FigureRow {
  return {
    bench: 'memory',
    case: caseName,
    target,
    figures: [{ name: 'RSS', value: memory.rssBytes / MiB, unit: 'MiB', digits: 1 }, { name: 'peak', value: memory.peakBytes / MiB, unit: 'MiB', digits: 1 }, ...extra]
  }
}

/** `review` (an UPDATE with old and new object, larger than `bytes` or not) padded or cut to `bytes`, half in each object's annotation. */
function paddedReview (review: string, bytes: number): string {
  const parsed = JSON.parse(review)
  for (const object of [parsed.request.object, parsed.request.oldObject]) object.metadata.annotations.padding = ''
  const pad = Math.floor((bytes - JSON.stringify(parsed).length) / 2)
  for (const object of [parsed.request.object, parsed.request.oldObject]) object.metadata.annotations.padding += 'x'.repeat(pad)
  return JSON.stringify(parsed)
}

/** A bare Node process idle: one timer keeps it alive, nothing is imported. */
async function bareNode (settings: BenchSettings): Promise<FigureRow> {
  const program = startProgram('bare node', ['-e', 'setInterval(() => {}, 1 << 30); process.stdout.write("ready\\n")'])
  return await withProgram(program, async p => {
    await printedReady(p)
    await sleep(settings.memorySettleMs)
    return row('idle', 'baseline: bare node (loads nothing)', await memoryOf(p))
  })
}

/** The built webhook idle, after the reviews, and after concurrent large reviews; the bare fastify ceiling idle and after the same reviews. */
async function webhookRows (settings: BenchSettings, dir: string): Promise<FigureRow[]> {
  const set = await generateCertificates({ ...SERVICE, hosts: ['127.0.0.1'], days: 1, keyType: 'ecdsa' })
  const certDir = join(dir, 'certs')
  await writeCertificateFiles(certDir, set)
  const [small, , large] = await webhookCases()
  const load = (port: number, body: string): LoadTarget => ({ port, path: MUTATE_PATH, body, ca: set.ca.cert, servername: SERVER_NAME })
  const reviews = async (p: Program, port: number): Promise<number> => {
    const { latencies, errors } = await runLoad(load(port, small!.body), REVIEWS_TIME_LIMIT_MS, settings.concurrency, settings.memoryReviews)
    if (errors > 0) throw new Error(`${p.name}: ${errors} of ${settings.memoryReviews} reviews failed`)
    return latencies.length
  }

  const [port, metricsPort] = [await freePort(), await freePort()]
  const webhook = startBuiltProgram('spot-webhook', ['--port', String(port), '--metrics-port', String(metricsPort), '--listen-address', '127.0.0.1', '--cert-dir', certDir])
  let answer = ''
  const webhookRowsMeasured = await withProgram(webhook, async p => {
    await readyAt(p, `http://127.0.0.1:${metricsPort}/readyz`)
    await sleep(settings.memorySettleMs)
    const idle = row('idle', 'webhook (built)', await memoryOf(p))
    const sample = await httpsCall(load(port, small!.body))
    if (sample.status !== 200) throw new Error(`webhook answered ${sample.status}: ${sample.text}`)
    answer = sample.text
    const done = await reviews(p, port)
    const loaded = row(`after ${done} reviews`, 'webhook (built)', await memoryOf(p))
    const answers = await Promise.all(Array.from({ length: LARGE_REVIEWS_AT_ONCE }, async () => (await httpsCall(load(port, large!.body))).status))
    const largeRow = row(`${LARGE_REVIEWS_AT_ONCE} large reviews at once (${large!.name})`, 'webhook (built)', await memoryOf(p), [{ name: 'answered 200', value: answers.filter(s => s === 200).length, unit: '' }])
    // The worst case the webhook allows: the connection cap filled with near-limit reviews and reviews just under the small-body size, all at once.
    const nearLimit = paddedReview(large!.body, NEAR_LIMIT_BYTES)
    const justSmall = paddedReview(large!.body, SMALL_BODY_BYTES)
    const smallAtOnce = CONNECTION_LIMITS.maxConnections - LARGE_REVIEWS_AT_ONCE
    // The cap is filled exactly, so the server must have seen the earlier connections close; a connection it still
    // refuses (or resets while a refused body is being sent) is counted, not fatal: the reading is the memory.
    await sleep(settings.memorySettleMs)
    const status = async (body: string): Promise<number> => await httpsCall(load(port, body)).then(answer => answer.status, () => 0)
    const statuses = await Promise.all([
      ...Array.from({ length: LARGE_REVIEWS_AT_ONCE }, () => status(nearLimit)),
      ...Array.from({ length: smallAtOnce }, () => status(justSmall))
    ])
    const worstRow = row(`${LARGE_REVIEWS_AT_ONCE} near-limit (${(nearLimit.length / MiB).toFixed(1)} MiB) and ${smallAtOnce} ${SMALL_BODY_BYTES / 1024} KiB reviews at once (the worst case)`, 'webhook (built)', await memoryOf(p), [
      { name: 'answered 200', value: statuses.filter(s => s === 200).length, unit: '' },
      { name: 'answered 429', value: statuses.filter(s => s === 429).length, unit: '' },
      { name: 'connection refused or reset', value: statuses.filter(s => s === 0).length, unit: '' }
    ])
    return [idle, loaded, largeRow, worstRow]
  })

  const answerFile = join(dir, 'answer.json')
  await writeFile(answerFile, answer)
  const barePort = await freePort()
  const bare = startProgram('bare fastify', [repoFile('test/bench/bare-fastify-main.ts'), certDir, String(barePort), MUTATE_PATH, String(MAX_BODY_BYTES), answerFile])
  const bareRows = await withProgram(bare, async p => {
    await printedReady(p)
    await sleep(settings.memorySettleMs)
    const idle = row('idle', 'baseline: bare fastify HTTPS', await memoryOf(p))
    const done = await reviews(p, barePort)
    return [idle, row(`after ${done} reviews`, 'baseline: bare fastify HTTPS', await memoryOf(p))]
  })
  return [...webhookRowsMeasured, ...bareRows]
}

/** Starts the IMDS and Kubernetes API simulators with the agent's node and `pods` workload pods on it, and spare nodes. */
async function agentWorld (dir: string, pods: number) {
  const imds = await startImdsSim()
  const kube = await startKubeSim({ kubeletDelayMs: 100, readyDelayMs: 100 })
  await kube.addNode({ name: NODE })
  const apps = 5
  for (let i = 0; i < apps; i++) await kube.create(deployment(`app-${i}`, Math.floor(pods / apps) + (i < pods % apps ? 1 : 0)))
  const onNode = (): KubeObject[] => kube.list('Pod', { fieldSelector: `spec.nodeName=${NODE}` })
  await kube.waitFor(() => onNode().length === pods || undefined, 60_000, `${pods} pods on ${NODE}`)
  for (let i = 1; i <= 3; i++) await kube.addNode({ name: `on-demand-${i}`, lifecycle: 'on-demand' })
  const kubeconfig = join(dir, 'kubeconfig')
  await kube.writeKubeconfig(kubeconfig)
  return { imds, kube, kubeconfig, onNode, close: async () => { await Promise.all([imds.close(), kube.close()]) } }
}

/** The built agent: idle, then draining its node; with or without its V8 flags. */
async function agentRows (settings: BenchSettings, dir: string, flags: boolean): Promise<FigureRow[]> {
  const world = await agentWorld(dir, settings.memoryDrainPods)
  try {
    const probesPort = await freePort()
    const agent = startBuiltProgram('spot-agent', [], {
      NODE_NAME: NODE,
      INSTANCE_METADATA_URL: world.imds.url,
      KUBECONFIG: world.kubeconfig,
      PROBES_SERVER_PORT: String(probesPort),
      PROMETHEUS_SERVER_PORT: String(probesPort),
      LOG_LEVEL: 'info'
    }, { flags })
    const target = flags ? 'agent (built)' : 'agent (built, no V8 flags)'
    return await withProgram(agent, async p => {
      await readyAt(p, `http://127.0.0.1:${probesPort}/readyz`)
      await sleep(settings.memorySettleMs)
      const idle = row('idle', target, await memoryOf(p))
      const started = performance.now()
      world.imds.postSpotInterruption()
      await world.kube.waitFor(() => readState(world.kube.get('Node', undefined, NODE) as never).events[0]?.drained !== undefined || undefined, DRAIN_TIMEOUT_MS, `${NODE} drained`)
      const drainedIn = (performance.now() - started) / 1000
      const left = world.onNode().filter(pod => pod.metadata.deletionTimestamp === undefined).length
      return [idle, row(`draining ${settings.memoryDrainPods} pods`, target, await memoryOf(p), [{ name: 'notice to drained', value: drainedIn, unit: 's', digits: 1 }, { name: 'pods left', value: left, unit: '' }])]
    })
  } finally {
    await world.close()
  }
}

/** The certificate program's peak: writing the three files, and in-cluster against the API simulator. */
async function certsRows (dir: string): Promise<FigureRow[]> {
  const peak = async (caseName: string, args: string[], env: Record<string, string> = {}): Promise<FigureRow> => {
    const program = startBuiltProgram('spot-certs', args, env)
    let last: ProcessMemory | undefined
    const sampling = (async () => {
      while (program.child.exitCode === null) {
        last = await memoryOf(program).catch(() => last)
        await sleep(10)
      }
    })()
    await new Promise<void>((resolve, reject) => program.child.once('exit', code => code === 0 ? resolve() : reject(new Error(`spot-certs exited ${code}: ${program.stderr()}`))))
    await sampling
    if (last === undefined) throw new Error('spot-certs ended before it could be measured')
    return row(caseName, 'certs (built)', last)
  }
  const files = await peak('write ca.crt, tls.crt, tls.key', ['--service', SERVICE.service, '--namespace', SERVICE.namespace, '--out-dir', join(dir, 'certs-out')])
  const kube = await startKubeSim()
  try {
    await kube.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: SERVICE.namespace } })
    const configuration = await loadWebhookConfiguration()
    await kube.create(configuration)
    const kubeconfig = join(dir, 'certs-kubeconfig')
    await kube.writeKubeconfig(kubeconfig)
    const inCluster = await peak('in-cluster: Secret and caBundle', ['--service', SERVICE.service, '--namespace', SERVICE.namespace, '--secret', 'spot-webhook-tls', '--webhook-config', configuration.metadata.name], { KUBECONFIG: kubeconfig })
    return [files, inCluster]
  } finally {
    await kube.close()
  }
}

/** The memory bench module. */
export const memoryBench: BenchModule = {
  name: 'memory',
  async run (settings): Promise<BenchResult> {
    const dir = await mkdtemp(join(tmpdir(), 'spot-memory-bench-'))
    try {
      const bare = await bareNode(settings)
      const [agentIdle, agentDrain] = await agentRows(settings, dir, true)
      const [plainIdle, plainDrain] = await agentRows(settings, dir, false)
      const [webhookIdle, webhookLoaded, webhookLarge, webhookWorst, fastifyIdle, fastifyLoaded] = await webhookRows(settings, dir)
      const [certsFiles, certsCluster] = await certsRows(dir)
      return {
        figureRows: [bare, agentIdle!, agentDrain!, plainIdle!, plainDrain!, webhookIdle!, webhookLoaded!, webhookLarge!, webhookWorst!, fastifyIdle!, fastifyLoaded!, certsFiles!, certsCluster!],
        figureRatios: [
          figureRatio('agent idle RSS vs bare node', 'RSS', agentIdle!, bare),
          figureRatio('agent peak while draining vs bare node', 'peak', agentDrain!, bare),
          figureRatio('agent drain time vs without V8 flags', 'notice to drained', agentDrain!, plainDrain!),
          figureRatio('agent idle RSS vs without V8 flags', 'RSS', agentIdle!, plainIdle!),
          figureRatio('webhook idle RSS vs bare node', 'RSS', webhookIdle!, bare),
          figureRatio('webhook RSS after reviews vs bare fastify', 'RSS', webhookLoaded!, fastifyLoaded!),
          figureRatio('webhook peak after large reviews vs bare node', 'peak', webhookLarge!, bare),
          figureRatio('webhook peak after near-limit reviews (worst case) vs bare node', 'peak', webhookWorst!, bare),
          figureRatio('certs peak (in-cluster) vs bare node', 'peak', certsCluster!, bare)
        ]
      }
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  }
}

