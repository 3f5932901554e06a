/**
 * A pool-wide reclaim on one control plane: 24 Spot and 6 On-Demand nodes on
 * the Kubernetes API simulator (scheduler, controllers, kubelet), about 200
 * pods (`web` 40 under maxUnavailable 2, `api` 20 under minAvailable 80 %,
 * `worker` 40, `cache` 30 with emptyDir, `batch` 40, a DaemonSet on every
 * node), and 12 Spot nodes whose notices arrive within 2 s, each with its own
 * IMDS simulator and its own handler:
 * - ours: the agent, started in-process per node with its defaults
 *   (startAgent, as the DaemonSet runs it; metrics and probes servers off);
 * - ours without the settle time (DRAIN_SETTLE_TIME=0), to measure it;
 * - the baseline: a kubectl-drain-like handler at the Node Termination
 *   Handler's cadence (IMDS polled every 2 s; taint and cordon in one patch;
 *   every pod evicted at once, a 429 retried after 5 s, each pod then polled
 *   every second until gone);
 * - the same baseline with the Events the Node Termination Handler records
 *   with EMIT_KUBERNETES_EVENTS=true (one per pod on the node and two per
 *   node), the like-for-like anchor for requests, since the agent records
 *   Events by default.
 * Each on a fresh, identical cluster, at two readiness settings (replacements
 * Ready 2 s and 10 s after they are scheduled). Read from the simulator's
 * store in-process every 100 ms (no API request) and from its request log:
 * notice → tainted / cordoned / drained (p50, p95, max), nodes drained before
 * their deadline, the lowest Ready count of each budgeted workload against
 * its floor, API requests by verb and resource, refused evictions, pods
 * deleted at the deadline (and whether an Event names each with its
 * budget), replacements that landed on an interrupted node
 * (and were evicted again), and the bench process's peak resident memory
 * (the simulator and every handler share it). Requests per moved pod are
 * also given without Events: the plain baseline records none, the agent one
 * per evicted pod (PodEviction, as NTH) and two per node.
 */
import { Writable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { CoreV1Api } from '@kubernetes/client-node'
import { startAgent, type RunningAgent } from '../../agent/agent.ts'
import { AGENT_OPTIONS, checkAgentConfig } from '../../agent/config.ts'
import { createLogger } from '#common/logger.ts'
import { parseOptions } from '#common/options.ts'
import { startImdsSim, type ImdsSim } from '../sim/imds/server.ts'
import { startKubeSim, type KubeObject, type KubeSim, type RequestRecord } from '../sim/k8s/sim.ts'
import { deployment, readyPods } from '../agent/world.ts'
import { daemonSet, isDaemonSetPod, kubectlLikeDrain } from './drain.bench.ts'
import { figureRatio, percentile, type BenchModule, type BenchResult, type BenchSettings, type Figure, type FigureRow } from './harness.ts'

const SPOT_NODES = 24
const ON_DEMAND_NODES = 6
const INTERRUPTED = 12
/** The notices of the wave arrive spread over this long. */
const WAVE_MS = 2000
const NOTICE_MS = 120_000
const SAMPLE_MS = 100
/** The Node Termination Handler's IMDS poll interval. */
const BASELINE_POLL_MS = 2000
/** The simulated kubelet's time to finish a terminating pod. */
const KUBELET_DELAY_MS = 1000

/** A workload of the scene; `floor` is its budget's lowest allowed Ready count. */
interface Workload { name: string, replicas: number, emptyDir?: boolean, budget?: { spec: Record<string, unknown>, floor: number } }

const WORKLOADS: Workload[] = [
  { name: 'web', replicas: 40, budget: { spec: { maxUnavailable: 2 }, floor: 38 } },
  { name: 'api', replicas: 20, budget: { spec: { minAvailable: '80%' }, floor: 16 } },
  { name: 'worker', replicas: 40 },
  { name: 'cache', replicas: 30, emptyDir: true },
  { name: 'batch', replicas: 40 }
]

const spotNode = (i: number): string => `spot-${String(i).padStart(2, '0')}`
const INTERRUPTED_NODES = Array.from({ length: INTERRUPTED }, (_, i) => spotNode(i + 1))

/** A handler of the wave: started before the notices, stopped after the run. */
interface Handler { stop: () => Promise<void> }
type StartHandler = (sim: KubeSim, node: string, imds: ImdsSim) => Promise<Handler>

/** The scene on a fresh simulator, every workload pod Ready, budgets settled. */
async function buildScene (readyDelayMs: number): Promise<KubeSim> {
  const sim = await startKubeSim({ kubeletDelayMs: KUBELET_DELAY_MS, readyDelayMs })
  try {
    for (let i = 1; i <= SPOT_NODES; i++) await sim.addNode({ name: spotNode(i), lifecycle: 'spot' })
    for (let i = 1; i <= ON_DEMAND_NODES; i++) await sim.addNode({ name: `on-demand-${i}`, lifecycle: 'on-demand' })
    await sim.create(daemonSet('node-exporter'))
    for (const w of WORKLOADS) {
      await sim.create(deployment(w.name, w.replicas, { emptyDir: w.emptyDir }))
      if (w.budget !== undefined) await sim.create({ apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: `${w.name}-pdb`, namespace: 'default' }, spec: { ...w.budget.spec, selector: { matchLabels: { app: w.name } } } })
    }
    const total = WORKLOADS.reduce((n, w) => n + w.replicas, 0) + SPOT_NODES + ON_DEMAND_NODES
    await sim.waitFor(() => readyPods(sim.list('Pod')).length === total || undefined, 60_000 + readyDelayMs, `${total} pods Ready`)
    await sim.waitFor(() => WORKLOADS.every(w => w.budget === undefined || (sim.get('PodDisruptionBudget', 'default', `${w.name}-pdb`)?.status?.disruptionsAllowed ?? 0) > 0) || undefined, 10_000, 'budgets allowing disruptions')
    return sim
  } catch (err) {
    await sim.close()
    throw err
  }
}

/** Our agent on `node`, in-process, with the DaemonSet's defaults (and `env`). */
function agentHandler (env: Record<string, string>): StartHandler {
  return async (sim, node, imds) => {
    const parsed = parseOptions(AGENT_OPTIONS, [], { NODE_NAME: node, INSTANCE_METADATA_URL: imds.url, ENABLE_PROMETHEUS_SERVER: 'false', ENABLE_PROBES_SERVER: 'false', ...env })
    if (parsed.help) throw new Error('unexpected --help')
    // Production log level; lines discarded, their cost measured.
    const logger = createLogger('bench-fleet-agent', 'info', new Writable({ write (_chunk, _encoding, done) { done() } }))
    const agent: RunningAgent = await startAgent(checkAgentConfig(parsed.values), { kubeConfig: sim.kubeConfig, logger })
    return { stop: () => agent.stop() }
  }
}

type CoreV1EventInput = Parameters<CoreV1Api['createNamespacedEvent']>[0]

/** A Kubernetes Event as the Node Termination Handler's recorder writes it, on `involved` (a Node in `default`, or a Pod). */
function nthEvent (node: string, involved: { kind: 'Node' | 'Pod', name: string, namespace: string }, reason: string, message: string): CoreV1EventInput {
  return {
    namespace: involved.namespace,
    body: {
      metadata: { generateName: `${involved.name}.`, namespace: involved.namespace },
      involvedObject: involved,
      reason,
      message,
      type: 'Normal',
      source: { component: 'aws-node-termination-handler', host: node },
      count: 1
    }
  }
}

/**
 * The baseline on `node`: polls IMDS every 2 s; on a notice taints and
 * cordons in one patch, then drains as kubectl does. With `events`, records
 * the Events the Node Termination Handler records in IMDS mode with
 * EMIT_KUBERNETES_EVENTS=true: SpotInterruption on the node, a list of the
 * node's pods and PodEviction on each of them (DaemonSet pods included)
 * before the drain, CordonAndDrain on the node after it.
 */
function baselineHandler (events: boolean): StartHandler {
  return async (sim, node, imds) => {
    const core = sim.kubeConfig.makeApiClient(CoreV1Api)
    const stopping = new AbortController()
    const onNode = { kind: 'Node' as const, name: node, namespace: 'default' }
    const run = (async () => {
      while (!stopping.signal.aborted) {
        const res = await fetch(`${imds.url}/latest/meta-data/spot/instance-action`, { signal: stopping.signal }).catch(() => undefined)
        if (res?.status === 200) {
          if (events) await core.createNamespacedEvent(nthEvent(node, onNode, 'SpotInterruption', 'Spot Interruption notice for instance was sent'))
          await core.patchNode({ name: node, body: [{ op: 'add', path: '/spec/taints', value: [{ key: 'aws-node-termination-handler/spot-itn', value: 'itn', effect: 'NoSchedule' }] }, { op: 'add', path: '/spec/unschedulable', value: true }] })
          if (events) {
            const pods = (await core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${node}` })).items
            await Promise.all(pods.map(p => core.createNamespacedEvent(nthEvent(node, { kind: 'Pod', name: p.metadata!.name!, namespace: p.metadata!.namespace! }, 'PodEviction', `Pod evicted due to node drain (node ${node})`))))
          }
          await kubectlLikeDrain(sim, node)
          if (events) await core.createNamespacedEvent(nthEvent(node, onNode, 'CordonAndDrain', 'Node successfully cordoned and drained'))
          return
        }
        await sleep(BASELINE_POLL_MS, undefined, { signal: stopping.signal }).catch(() => undefined)
      }
    })()
    return { stop: async () => { stopping.abort(); await run.catch(() => undefined) } }
  }
}

/** When each interrupted node was first seen tainted, cordoned and drained (ms after its notice). */
interface NodeTimes { tainted?: number, cordoned?: number, drained?: number }

/** One run of the wave with one kind of handler. */
async function runWave (readyDelayMs: number, target: string, start: StartHandler): Promise<FigureRow> {
  const sim = await buildScene(readyDelayMs)
  const imdsSims = await Promise.all(INTERRUPTED_NODES.map((node, i) => startImdsSim({ instance: { instanceId: `i-0f1ee7${String(i).padStart(11, '0')}`, localHostname: node } })))
  const handlers: Handler[] = []
  try {
    for (const [i, node] of INTERRUPTED_NODES.entries()) handlers.push(await start(sim, node, imdsSims[i]!))
    await sleep(2500) // every handler through its start-up and first polls
    sim.clearRequests()
    const initial = new Set(sim.list('Pod').map(p => p.metadata.uid))
    // One read of the store per sample (a list copies every pod), grouped here: the sampling shares the process
    // with the simulator and the handlers, and a list per node cost a third of the run's time.
    const onInterrupted = (pods: KubeObject[]): Map<string, KubeObject[]> => {
      const byNode = new Map(INTERRUPTED_NODES.map(n => [n, [] as KubeObject[]]))
      for (const p of pods) if (!isDaemonSetPod(p)) byNode.get(p.spec?.nodeName)?.push(p)
      return byNode
    }
    const movedPods = new Set([...onInterrupted(sim.list('Pod')).values()].flat().map(p => p.metadata.uid!))
    /** Replacements seen on an interrupted node: uid → namespace/name. */
    const landed = new Map<string, string>()
    const minReady = new Map(WORKLOADS.filter(w => w.budget !== undefined).map(w => [w.name, w.replicas]))
    const times = new Map(INTERRUPTED_NODES.map(n => [n, {} as NodeTimes]))
    const postedAt = new Map<string, number>()
    let peakRss = process.memoryUsage().rss
    const started = Date.now()
    INTERRUPTED_NODES.forEach((node, i) => {
      setTimeout(() => { postedAt.set(node, Date.now()); imdsSims[i]!.postSpotInterruption() }, Math.round(i * WAVE_MS / (INTERRUPTED - 1)))
    })
    const endBy = started + WAVE_MS + NOTICE_MS
    while (Date.now() < endBy) {
      await sleep(SAMPLE_MS)
      peakRss = Math.max(peakRss, process.memoryUsage().rss)
      const pods = sim.list('Pod')
      for (const w of WORKLOADS) {
        if (minReady.has(w.name)) minReady.set(w.name, Math.min(minReady.get(w.name)!, readyPods(pods.filter(p => p.metadata.labels?.app === w.name)).length))
      }
      for (const [node, left] of onInterrupted(pods)) {
        for (const p of left) {
          movedPods.add(p.metadata.uid!)
          if (!initial.has(p.metadata.uid)) landed.set(p.metadata.uid!, `${p.metadata.namespace}/${p.metadata.name}`)
        }
        const posted = postedAt.get(node)
        if (posted === undefined) continue
        const t = times.get(node)!
        const n = sim.get('Node', undefined, node)!
        const since = Date.now() - posted
        if (t.tainted === undefined && (n.spec?.taints ?? []).some((x: { key: string }) => x.key.endsWith('/spot-itn'))) t.tainted = since
        if (t.cordoned === undefined && n.spec?.unschedulable === true) t.cordoned = since
        if (t.drained === undefined && t.cordoned !== undefined && left.length === 0) t.drained = since
      }
      if ([...times.values()].every(t => t.drained !== undefined)) break
    }
    const requests = [...sim.requests]
    // A pod deleted at the deadline must be named, with its budget, in an Event (the drain's result).
    const messages = sim.list('Event').map(e => String(e.message ?? e.note ?? ''))
    const deletedNamed = requests.filter(q => q.verb === 'delete' && q.resource === 'pods' && q.status < 300)
      .filter(q => messages.some(m => new RegExp(`${q.namespace}/${q.name} blocked by PDB \\S+`).test(m))).length
    return waveRow(readyDelayMs, target, { times, requests, minReady, landed, movedPods, peakRss, deletedNamed })
  } finally {
    await Promise.all(handlers.map(h => h.stop()))
    await Promise.all(imdsSims.map(s => s.close()))
    await sim.close()
  }
}

/** The figures of one run. */
function waveRow (readyDelayMs: number, target: string, r: { times: Map<string, NodeTimes>, requests: RequestRecord[], minReady: Map<string, number>, landed: Map<string, string>, movedPods: Set<string>, peakRss: number, deletedNamed: number }): FigureRow {
  const stat = (what: keyof NodeTimes): Figure[] => {
    const values = [...r.times.values()].map(t => t[what] ?? NOTICE_MS).sort((a, b) => a - b)
    return [
      { name: `${what} p50`, value: percentile(values, 50) / 1000, unit: 's', digits: 1 },
      { name: `${what} p95`, value: percentile(values, 95) / 1000, unit: 's', digits: 1 },
      { name: `${what} max`, value: values.at(-1)! / 1000, unit: 's', digits: 1 }
    ]
  }
  const evictions = r.requests.filter(q => q.subresource === 'eviction')
  const replacements = new Set(r.landed.values())
  const evictedAgain = new Set(evictions.filter(q => q.status < 300 && replacements.has(`${q.namespace}/${q.name}`)).map(q => `${q.namespace}/${q.name}`))
  const count = (match: (q: RequestRecord) => boolean): number => r.requests.filter(match).length
  const byVerb = new Map<string, number>()
  for (const q of r.requests) {
    const key = `${q.verb} ${q.resource ?? q.path}${q.subresource === undefined ? '' : `/${q.subresource}`}`
    byVerb.set(key, (byVerb.get(key) ?? 0) + 1)
  }
  const figures: Figure[] = [
    ...stat('tainted'), ...stat('cordoned'), ...stat('drained'),
    { name: 'drained before deadline', value: [...r.times.values()].filter(t => t.drained !== undefined).length, unit: `of ${INTERRUPTED}` },
    ...WORKLOADS.filter(w => w.budget !== undefined).map(w => ({ name: `${w.name} lowest Ready`, value: r.minReady.get(w.name)!, unit: `(floor ${w.budget!.floor})` })),
    { name: 'API requests', value: r.requests.length, unit: '' },
    { name: 'requests per moved pod', value: r.requests.length / Math.max(1, r.movedPods.size), unit: '', digits: 2 },
    { name: 'requests per moved pod, Events aside', value: count(q => q.resource !== 'events') / Math.max(1, r.movedPods.size), unit: '', digits: 2 },
    { name: 'evictions sent', value: evictions.length, unit: '' },
    { name: '429s', value: evictions.filter(q => q.status === 429).length, unit: '' },
    { name: 'deleted at deadline', value: count(q => q.verb === 'delete' && q.resource === 'pods'), unit: '' },
    { name: 'of them named with their budget in an Event', value: r.deletedNamed, unit: '' },
    { name: 'replacements on interrupted nodes', value: r.landed.size, unit: '' },
    { name: 'evicted again', value: evictedAgain.size, unit: '' },
    { name: 'peak RSS (bench process)', value: r.peakRss / 2 ** 20, unit: 'MiB' }
  ]
  return {
    bench: 'fleet',
    case: `12 of 24 Spot nodes in 2 s, ~200 pods, Ready after ${readyDelayMs / 1000} s`,
    target: `${target} [${[...byVerb.entries()].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ')}]`,
    figures
  }
}

/** The fleet bench module. */
export const fleetBench: BenchModule = {
  name: 'fleet',
  async run (settings: BenchSettings): Promise<BenchResult> {
    const figureRows: FigureRow[] = []
    const figureRatios = []
    for (const readyDelayMs of settings.fleetReadyDelaysMs) {
      const baseline = await runWave(readyDelayMs, 'baseline: kubectl-drain-like at NTH cadence', baselineHandler(false))
      const withEvents = await runWave(readyDelayMs, 'baseline with NTH\'s Events (EMIT_KUBERNETES_EVENTS=true)', baselineHandler(true))
      const ours = await runWave(readyDelayMs, 'agent (defaults)', agentHandler({}))
      const unsettled = await runWave(readyDelayMs, 'agent, DRAIN_SETTLE_TIME=0', agentHandler({ DRAIN_SETTLE_TIME: '0' }))
      figureRows.push(baseline, withEvents, ours, unsettled)
      for (const figure of ['cordoned p95', 'drained p95', '429s', 'requests per moved pod', 'requests per moved pod, Events aside']) {
        figureRatios.push(figureRatio(`${figure} vs kubectl-drain-like`, figure, ours, baseline))
      }
      figureRatios.push(figureRatio('requests per moved pod vs kubectl-drain-like with NTH\'s Events', 'requests per moved pod', ours, withEvents))
      figureRatios.push(figureRatio('drained p95 vs no settle time', 'drained p95', ours, unsettled))
    }
    return { figureRows, figureRatios }
  }
}
