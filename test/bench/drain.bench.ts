/**
 * Drain time: a Spot node with N pods of 3 Deployments (each guarded by a
 * PodDisruptionBudget with maxUnavailable 1) and a DaemonSet pod, on the
 * Kubernetes API simulator with its kubelet and controllers, drained by the
 * agent's real drain (agent/drain.ts with the options agent/policy.ts gives
 * it for a spot interruption, through the agent's NodeClient and API gate),
 * against a baseline on an identical fresh cluster in the same run: a
 * `kubectl drain`-like loop (every pod evicted concurrently, a refused
 * eviction retried after 5 s, then each pod polled every second until gone).
 * Reported: wall time until the node is drained, eviction requests sent and
 * 429 answers received, as the simulator's request log saw them.
 */
import { Writable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { CoreV1Api, type V1Pod } from '@kubernetes/client-node'
import { AGENT_OPTIONS, checkAgentConfig, type AgentConfig } from '../../agent/config.ts'
import { drainNode } from '../../agent/drain.ts'
import { MIRROR_POD_ANNOTATION } from '../../agent/drain-plan.ts'
import { NodeClient } from '../../agent/kube.ts'
import { statusOf } from '#common/kube-status.ts'
import type { Notice } from '../../agent/notices.ts'
import { drainOptionsFor } from '../../agent/policy.ts'
import { createAgentMetrics } from '../../agent/metrics.ts'
import { createApiGate } from '../../agent/rate-limit.ts'
import { createLogger } from '#common/logger.ts'
import { createRegistry } from '#common/metrics.ts'
import { parseOptions } from '#common/options.ts'
import { startKubeSim, type KubeObject, type KubeSim } from '../sim/k8s/sim.ts'
import { deployment, readyPods } from '../agent/world.ts'
import { figureRatio, type BenchModule, type BenchResult, type BenchSettings, type FigureRow } from './harness.ts'

const NODE = 'spot-node-1'
const DEPLOYMENTS = ['web', 'api', 'worker']
/** Nodes that take the replacements. */
const SPARE_NODES = 3
/** A spot interruption notice's two minutes. */
const SPOT_NOTICE_MS = 120_000
/** kubectl drain's wait after a 429 and its poll interval while waiting for a pod to go. */
const KUBECTL_EVICTION_RETRY_MS = 5000
const KUBECTL_DELETE_POLL_MS = 1000

/** Replica counts of the Deployments: `pods` spread as evenly as possible. */
function spread (pods: number, deployments: number): number[] {
  return Array.from({ length: deployments }, (_, i) => Math.floor(pods / deployments) + (i < pods % deployments ? 1 : 0))
}

function maxUnavailableBudget (app: string): KubeObject {
  return { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: `${app}-pdb`, namespace: 'default' }, spec: { maxUnavailable: 1, selector: { matchLabels: { app } } } }
}

/** A DaemonSet of one container in kube-system. */
export function daemonSet (name: string): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name, namespace: 'kube-system' },
    spec: { selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'c', image: `${name}:1` }] } } }
  }
}

/** Whether a DaemonSet controls the pod (drains leave those). */
export const isDaemonSetPod = (pod: V1Pod | KubeObject): boolean => (pod.metadata?.ownerReferences ?? []).some((o: { kind: string, controller?: boolean }) => o.controller === true && o.kind === 'DaemonSet')

/** A fresh cluster: the Spot node with every workload pod Ready on it, spare nodes, the Spot node cordoned, budgets settled. */
async function buildCluster (settings: BenchSettings): Promise<KubeSim> {
  const sim = await startKubeSim({ kubeletDelayMs: settings.drainKubeletDelayMs, readyDelayMs: settings.drainReadyDelayMs })
  try {
    await sim.addNode({ name: NODE, lifecycle: 'spot' })
    await sim.create(daemonSet('node-exporter'))
    const replicas = spread(settings.drainPods, DEPLOYMENTS.length)
    for (const [i, app] of DEPLOYMENTS.entries()) {
      await sim.create(deployment(app, replicas[i]!))
      await sim.create(maxUnavailableBudget(app))
    }
    const onNode = (): KubeObject[] => sim.list('Pod', { fieldSelector: `spec.nodeName=${NODE}` })
    await sim.waitFor(() => readyPods(onNode()).length === settings.drainPods + 1 || undefined, 30_000, `${settings.drainPods} workload pods and the DaemonSet pod Ready on ${NODE}`)
    for (let i = 1; i <= SPARE_NODES; i++) await sim.addNode({ name: `on-demand-${i}`, lifecycle: 'on-demand' })
    const node = sim.get('Node', undefined, NODE)!
    await sim.update({ ...node, spec: { ...node.spec, unschedulable: true } })
    await sim.waitFor(() => DEPLOYMENTS.every(app => sim.get('PodDisruptionBudget', 'default', `${app}-pdb`)?.status?.disruptionsAllowed === 1) || undefined, 10_000, 'every budget allowing one disruption')
    sim.clearRequests()
    return sim
  } catch (err) {
    await sim.close()
    throw err
  }
}

/** The agent's configuration with its defaults, as the DaemonSet would run it. */
function agentDefaults (): AgentConfig {
  const parsed = parseOptions(AGENT_OPTIONS, [], { NODE_NAME: NODE })
  if (parsed.help) throw new Error('unexpected --help')
  return checkAgentConfig(parsed.values)
}

/** The agent's drain of a spot interruption, with the options the action table gives it (drainOptionsFor) and the agent's API gate. */
async function agentDrain (sim: KubeSim): Promise<void> {
  const config = agentDefaults()
  const now = Date.now
  const sleepMs = (ms: number): Promise<void> => sleep(ms)
  // Production log level; lines discarded, their cost measured.
  const logger = createLogger('bench-agent-drain', 'info', new Writable({ write (_chunk, _encoding, done) { done() } }))
  const client = new NodeClient({ kubeConfig: sim.kubeConfig, nodeName: NODE, gate: createApiGate(config.kubeApiQps, config.kubeApiBurst, config.drainParallelism, now, sleepMs), logger, now })
  const notice: Notice = { kind: 'spot-itn', eventId: 'itn-bench', deadline: now() + SPOT_NOTICE_MS, state: 'active', detail: 'bench' }
  const report = await drainNode(drainOptionsFor(notice, config), { client, logger, metrics: createAgentMetrics(createRegistry(false)), now, sleep: sleepMs })
  if (!report.complete) throw new Error(`agent drain did not complete: ${JSON.stringify(report)}`)
}

/** Evicts one pod as kubectl drain does: on 429 wait 5 s and try again; then polls it every second until it is gone. */
export async function kubectlEvictAndWait (core: CoreV1Api, pod: V1Pod): Promise<void> {
  const name = pod.metadata!.name!
  const namespace = pod.metadata!.namespace!
  for (;;) {
    try {
      await core.createNamespacedPodEviction({ name, namespace, body: { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name, namespace } } })
      break
    } catch (err) {
      if (statusOf(err) === 404) return
      if (statusOf(err) !== 429) throw new Error(`evicting ${namespace}/${name} failed: ${(err as Error).message}`, { cause: err })
      await sleep(KUBECTL_EVICTION_RETRY_MS)
    }
  }
  for (;;) {
    try {
      const current = await core.readNamespacedPod({ name, namespace })
      if (current.metadata?.uid !== pod.metadata?.uid) return
    } catch (err) {
      if (statusOf(err) === 404) return
      throw new Error(`reading ${namespace}/${name} failed: ${(err as Error).message}`, { cause: err })
    }
    await sleep(KUBECTL_DELETE_POLL_MS)
  }
}

/** The baseline: `kubectl drain --ignore-daemonsets` of `node` as a loop (the node is cordoned already). */
export async function kubectlLikeDrain (sim: KubeSim, node = NODE): Promise<void> {
  const core = sim.kubeConfig.makeApiClient(CoreV1Api)
  const pods = (await core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${node}` })).items
  const evictable = pods.filter(p => !isDaemonSetPod(p) && p.metadata?.annotations?.[MIRROR_POD_ANNOTATION] === undefined)
  await Promise.all(evictable.map(p => kubectlEvictAndWait(core, p)))
}

/** Runs one contender on a fresh cluster and reads its figures. */
async function timeDrain (settings: BenchSettings, target: string, drain: (sim: KubeSim) => Promise<void>): Promise<FigureRow> {
  const sim = await buildCluster(settings)
  try {
    const started = performance.now()
    await drain(sim)
    const wallMs = performance.now() - started
    const left = sim.list('Pod', { fieldSelector: `spec.nodeName=${NODE}` }).filter(p => !isDaemonSetPod(p))
    if (left.length > 0) throw new Error(`${target}: ${left.length} pods still on ${NODE} after the drain`)
    const evictions = sim.requests.filter(r => r.subresource === 'eviction')
    const podReads = sim.requests.filter(r => r.resource === 'pods' && r.subresource === undefined && ['get', 'list', 'watch'].includes(r.verb))
    return {
      bench: 'drain',
      case: `${settings.drainPods} pods/3 PDBs, kubelet ${settings.drainKubeletDelayMs} ms, ready ${settings.drainReadyDelayMs} ms`,
      target,
      figures: [
        { name: 'drained in', value: wallMs / 1000, unit: 's', digits: 2 },
        { name: 'evictions sent', value: evictions.length, unit: '' },
        { name: '429s', value: evictions.filter(r => r.status === 429).length, unit: '' },
        { name: 'pod reads (get/list/watch)', value: podReads.length, unit: '' },
        { name: 'API requests', value: sim.requests.length, unit: '' }
      ]
    }
  } finally {
    await sim.close()
  }
}

/** The drain bench module. */
export const drainBench: BenchModule = {
  name: 'drain',
  async run (settings): Promise<BenchResult> {
    const baseline = await timeDrain(settings, 'baseline: kubectl-drain-like loop', sim => kubectlLikeDrain(sim))
    const agent = await timeDrain(settings, 'agent drain (drain.ts, defaults)', agentDrain)
    return { figureRows: [baseline, agent], figureRatios: [
        figureRatio('drain time vs kubectl-drain-like loop', 'drained in', agent, baseline),
        figureRatio('eviction requests vs kubectl-drain-like loop', 'evictions sent', agent, baseline),
        figureRatio('API requests vs kubectl-drain-like loop', 'API requests', agent, baseline)
      ] }
  }
}
