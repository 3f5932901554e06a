/**
 * The rehearsal as a function: `runRehearsal(options, narrator)` tells the
 * story step by step on the embedded simulated cluster (or, with
 * `--kubeconfig`, steps 3 to 5 on a real one) with the real certs, webhook
 * and agent code over real sockets, and returns the closing report. Nothing
 * here throws: a failure becomes a report with `ok: false` and a message.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { ApiException, CoreV1Api, KubeConfig, KubernetesObjectApi, type V1DaemonSet, type V1Node, type V1Pod } from '@kubernetes/client-node'
import { pino, type Logger } from 'pino'
import { createLogger } from '#common/logger.ts'
import { parseOptions } from '#common/options.ts'
import { AGENT_OPTIONS, checkAgentConfig } from '../../agent/config.ts'
import { startAgent, type OutcomeReport } from '../../agent/agent.ts'
import { EVENT_REASONS } from '../../agent/actions.ts'
import { NOTICE_PATHS } from '../../agent/notices.ts'
import { NodeClient } from '../../agent/kube.ts'
import { LB_EXCLUSION_LABEL, readState, taintKey, withEventUndone } from '../../agent/node-state.ts'
import { createApiGate } from '../../agent/rate-limit.ts'
import { startImdsSim } from '../sim/imds/server.ts'
import { startEmbeddedCluster, type EmbeddedCluster } from './embedded.ts'
import { LABELLED_NAMESPACE, loadWorkshopHandler, namespaceManifest, PLAIN_NAMESPACE, WEB, workloadManifests, INJECT_LABEL, type Manifest } from './manifests.ts'
import { ClusterObserver } from './observer.ts'
import { REHEARSAL_PROGRAM, type RehearsalOptions } from './options.ts'
import type { Narrator } from './output.ts'
import { buildReport, errorReport, type Move, type Placement, type RehearsalFacts, type RehearsalReport } from './report.ts'
import { instanceFacts, SCENARIOS } from './scenarios.ts'
import { isDaemonPod, isReady, objectName, type TimelineEntry } from './timeline.ts'
import { metricValue } from '../helpers/metrics.ts'

/** Seams for tests and the entry point. */
export interface RehearsalHooks {
  /** Called once the embedded cluster runs, so a test can watch the simulator itself. */
  onEmbedded?: (cluster: EmbeddedCluster) => void
  /** Aborting it (Ctrl-C) ends the story at once; the cleanups still run, so a real cluster is put back. */
  signal?: AbortSignal
}

/** Simulated waits at speed 1: pod start, pod stop, the agent's IMDS poll and its pod-gone check. */
export const BASE_WAITS = { readyMs: 1200, stopMs: 1000, pollMs: 2000 }

/** Shortest time a pod takes to be Ready on the embedded cluster, whatever the speed. */
const READY_FLOOR_MS = 250

type Cleanup = () => Promise<void>

/** Cleanups run last-in first-out at the end; one added after that (by a story that outlived an interruption) runs at once. */
class Cleanups {
  private readonly pending: Cleanup[] = []
  private ended = false
  private readonly onError: (err: Error) => void
  constructor (onError: (err: Error) => void) { this.onError = onError }

  /** Registers a cleanup. */
  push (cleanup: Cleanup): void {
    if (this.ended) void this.runOne(cleanup)
    else this.pending.push(cleanup)
  }

  /** Runs every registered cleanup, newest first. */
  async runAll (): Promise<void> {
    this.ended = true
    for (const cleanup of this.pending.reverse()) await this.runOne(cleanup)
  }

  private async runOne (cleanup: Cleanup): Promise<void> {
    await cleanup().catch(this.onError)
  }
}

/** `work`, or a rejection as soon as `signal` aborts (the work's own later failure is then ignored). */
function untilAborted<T> (work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return work
  return new Promise((resolve, reject) => {
    const abort = (): void => {
      work.catch(() => {})
      reject(new Error(`interrupted by ${String(signal.reason)}`))
    }
    if (signal.aborted) { abort(); return }
    signal.addEventListener('abort', abort, { once: true })
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', abort))
  })
}

/** Runs the rehearsal; the report says whether the story completed as expected. */
export async function runRehearsal (options: RehearsalOptions, narrator: Narrator, hooks: RehearsalHooks = {}): Promise<RehearsalReport> {
  const started = Date.now()
  const logger = options.logFile === ''
    ? createLogger(REHEARSAL_PROGRAM, 'silent')
    : createLogger(REHEARSAL_PROGRAM, 'info', pino.destination({ dest: options.logFile, append: true, mkdir: true, sync: true }))
  const cleanups = new Cleanups(err => {
    logger.warn({ err }, 'cleanup failed')
    narrator.entry({ at: Date.now(), actor: 'rehearsal', text: `cleanup failed: ${err.message}` })
  })
  try {
    return buildReport(await untilAborted(story(options, narrator, hooks, logger, cleanups, started), hooks.signal))
  } catch (err) {
    logger.error({ err }, 'rehearsal failed')
    return errorReport(options.scenario, (err as Error).message, Date.now() - started)
  } finally {
    await cleanups.runAll()
  }
}

/** Repeats `probe` every `intervalMs` until it returns a value; throws after `timeoutMs` naming `description`. */
async function poll<T> (probe: () => Promise<T | undefined>, timeoutMs: number, description: string, intervalMs = 50): Promise<T> {
  const giveUpAt = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    if (Date.now() >= giveUpAt) throw new Error(`timed out after ${timeoutMs} ms waiting for ${description}`)
    await sleep(intervalMs)
  }
}

/** Creates an object through the API, with an error saying which object and why. */
async function create (api: KubernetesObjectApi, manifest: Manifest, hint = ''): Promise<Manifest> {
  try {
    return await api.create(manifest) as unknown as Manifest
  } catch (err) {
    const detail = err instanceof ApiException ? `HTTP ${err.code}: ${typeof err.body === 'string' ? err.body.slice(0, 300) : JSON.stringify(err.body)}` : (err as Error).message
    throw new Error(`creating ${manifest.kind} ${objectName(manifest)} failed (${detail})${hint}`, { cause: err })
  }
}

/** `node (Spot)` / `node (On-Demand)` for each name, grouped with counts. */
function describeNodes (names: string[], spot: Set<string>): string {
  const counts = new Map<string, number>()
  for (const n of names) counts.set(n, (counts.get(n) ?? 0) + 1)
  return [...counts].sort(([a], [b]) => a.localeCompare(b)).map(([n, c]) => `${n} (${spot.has(n) ? 'Spot' : 'On-Demand'})${c > 1 ? ` x${c}` : ''}`).join(', ') || 'no node'
}

async function story (options: RehearsalOptions, narrator: Narrator, hooks: RehearsalHooks, logger: Logger, cleanups: Cleanups, started: number): Promise<RehearsalFacts> {
  const scenario = SCENARIOS[options.scenario]
  const timeout = options.timeout
  const scaled = (ms: number): number => Math.max(10, Math.round(ms / options.speed))
  const step = (actor: TimelineEntry['actor'], text: string): void => narrator.entry({ at: Date.now(), actor, text })

  let kubeConfig: KubeConfig
  const embedded = options.kubeconfig === ''
  if (embedded) {
    narrator.heading('1. Certificates, the webhook and a simulated cluster')
    // Replacements take at least READY_FLOOR_MS to be Ready at any speed, so the budget visibly holds the second web pod.
    const readyDelayMs = Math.max(READY_FLOOR_MS, scaled(BASE_WAITS.readyMs))
    const cluster = await startEmbeddedCluster({ readyDelayMs, kubeletDelayMs: scaled(BASE_WAITS.stopMs) }, logger, step)
    cleanups.push(cluster.close)
    hooks.onEmbedded?.(cluster)
    kubeConfig = cluster.sim.kubeConfig
  } else {
    narrator.heading('1. Your cluster')
    kubeConfig = new KubeConfig()
    kubeConfig.loadFromFile(options.kubeconfig)
    step('rehearsal', `using ${kubeConfig.getCurrentCluster()?.server ?? 'an unknown server'} (context ${kubeConfig.getCurrentContext()}) from ${options.kubeconfig}; the webhook from deploy/ is expected to run there`)
  }
  const observer = new ClusterObserver(entry => narrator.entry(entry))
  await observer.start(kubeConfig, LABELLED_NAMESPACE)
  cleanups.push(async () => observer.stop())
  const api = KubernetesObjectApi.makeApiClient(kubeConfig)
  const core = kubeConfig.makeApiClient(CoreV1Api)

  const nodes = (await core.listNode()).items.map(n => ({ name: n.metadata?.name ?? '', spot: n.metadata?.labels?.lifecycle === 'Ec2Spot' }))
  const spotNodes = new Set(nodes.filter(n => n.spot).map(n => n.name))
  if (spotNodes.size === 0) throw new Error('no node is labelled lifecycle=Ec2Spot; label your Spot nodes (kubectl label node NAME lifecycle=Ec2Spot) and run again')
  if (!embedded) step('cluster', `nodes: ${describeNodes(nodes.map(n => n.name), spotNodes)}`)

  // Namespaces (the labelled one is the last part of step 1) and workloads (step 2).
  const exists = embedded ? '' : `; delete what an earlier run left: kubectl delete namespace ${LABELLED_NAMESPACE} ${PLAIN_NAMESPACE}`
  await create(api, namespaceManifest(LABELLED_NAMESPACE, true), exists)
  if (!embedded) cleanups.push(async () => { await core.deleteNamespace({ name: LABELLED_NAMESPACE }); step('rehearsal', `deleted namespace ${LABELLED_NAMESPACE}`) })
  await create(api, namespaceManifest(PLAIN_NAMESPACE, false), exists)
  if (!embedded) cleanups.push(async () => { await core.deleteNamespace({ name: PLAIN_NAMESPACE }); step('rehearsal', `deleted namespace ${PLAIN_NAMESPACE}`) })
  step('rehearsal', `namespace ${LABELLED_NAMESPACE} labelled ${INJECT_LABEL}=enabled (the webhook's namespaceSelector); ${PLAIN_NAMESPACE} left unlabelled`)

  narrator.heading('2. Workloads')
  const workloads = workloadManifests(LABELLED_NAMESPACE)
  for (const m of workloads) await create(api, m)
  step('rehearsal', `created Deployment web (${WEB.replicas} replicas) with PodDisruptionBudget web (maxUnavailable ${WEB.maxUnavailable}), Deployment batch-worker (1 replica, job-like), Deployment cache (1 replica, emptyDir volume)`)
  const replicas = new Map(workloads.filter(m => m.kind === 'Deployment').map(m => [m.metadata.name, m.spec.replicas as number]))
  const appPods = (app: string): V1Pod[] => observer.livePods().filter(p => p.metadata?.namespace === LABELLED_NAMESPACE && p.metadata?.labels?.app === app && p.metadata.deletionTimestamp === undefined)
  const allReady = (): boolean => [...replicas].every(([app, n]) => appPods(app).filter(isReady).length === n)
  await observer.waitFor(allReady, timeout, 'the workloads to be Ready')
  const workloadNodes = [...replicas.keys()].flatMap(app => appPods(app).map(p => p.spec?.nodeName ?? '?'))
  step('cluster', `${workloadNodes.length} pods Ready on ${describeNodes(workloadNodes, spotNodes)}`)

  // Step 3: the workshop's handler, with and without the webhook.
  narrator.heading('3. The workshop\'s handler DaemonSet, with and without the webhook')
  const applyHandler = async (namespace: string): Promise<Placement> => {
    let daemonSet: Manifest | undefined
    for (const m of await loadWorkshopHandler(namespace)) {
      const created = await create(api, m)
      if (m.kind === 'DaemonSet') daemonSet = created
    }
    if (daemonSet === undefined) throw new Error('the workshop fixture has no DaemonSet')
    const uid = daemonSet.metadata.uid as string | undefined
    const podNodes = await poll(async () => {
      const ds = await api.read(daemonSet as never) as V1DaemonSet
      const desired = ds.status?.desiredNumberScheduled
      const pods = observer.livePods().filter(p => p.metadata?.ownerReferences?.some(o => o.uid === uid) === true && p.spec?.nodeName !== undefined)
      return desired !== undefined && desired > 0 && pods.length === desired ? pods.map(p => p.spec!.nodeName!) : undefined
    }, timeout, `the pods of DaemonSet ${namespace}/${daemonSet.metadata.name}`)
    const nodeSelector = daemonSet.spec?.template?.spec?.nodeSelector as Record<string, string> | undefined
    return { namespace, nodes: podNodes, ...(nodeSelector === undefined ? {} : { nodeSelector }) }
  }
  const selectorText = (s: Record<string, string> | undefined): string => s === undefined ? 'none' : JSON.stringify(s)
  const withWebhook = await applyHandler(LABELLED_NAMESPACE)
  step('webhook', `DaemonSet ${LABELLED_NAMESPACE}/spot-interrupt-handler from the workshop manifest (no nodeSelector) was admitted with nodeSelector ${selectorText(withWebhook.nodeSelector)}`)
  step('cluster', `handler pods on ${describeNodes(withWebhook.nodes, spotNodes)}`)
  const withoutWebhook = await applyHandler(PLAIN_NAMESPACE)
  step('cluster', `for contrast, the same manifest in ${PLAIN_NAMESPACE} (not labelled): nodeSelector ${selectorText(withoutWebhook.nodeSelector)}, pods on ${describeNodes(withoutWebhook.nodes, spotNodes)}`)

  // Step 4: the interrupted node, IMDS and the agent.
  const ours = (node: string): V1Pod[] => observer.movablePodsOn(node).filter(p => p.metadata?.namespace === LABELLED_NAMESPACE)
  const target = [...spotNodes].sort((a, b) => ours(b).length - ours(a).length || a.localeCompare(b))[0]!
  const targetNode = observer.nodes.get(target) as V1Node | undefined
  if (targetNode === undefined) throw new Error(`node ${target} was not seen through the watch`)
  narrator.heading(`4. ${scenario.name} on ${target}`)
  if (!embedded) cleanups.push(async () => { await restoreNode(kubeConfig, target, logger); step('rehearsal', `restored ${target}: our taint and label removed, uncordoned`) })
  const imds = await startImdsSim({ instance: instanceFacts(targetNode), logger: logger.child({ program: 'imds-sim' }) })
  cleanups.push(() => imds.close())
  const env = { NODE_NAME: target, INSTANCE_METADATA_URL: imds.url, POLL_INTERVAL: `${scaled(BASE_WAITS.pollMs)}ms`, DRAIN_SETTLE_TIME: `${scaled(BASE_WAITS.pollMs)}ms`, ENABLE_PROMETHEUS_SERVER: 'false', ENABLE_PROBES_SERVER: 'false', ...scenario.agentEnv }
  const parsed = parseOptions(AGENT_OPTIONS, [], env)
  if (parsed.help) throw new Error('unexpected --help')
  const config = checkAgentConfig(parsed.values)
  const agent = await startAgent(config, { kubeConfig, logger: logger.child({ program: 'spot-agent' }) })
  cleanups.push(() => agent.stop())
  let outcome: OutcomeReport | undefined
  agent.activity.on('outcome', (o: OutcomeReport) => { outcome = o; observer.recheck() })
  step('agent', `spot-agent started for ${target}: instance ${agent.metadata.instanceId} (${agent.metadata.instanceType}, ${agent.metadata.availabilityZone}), IMDS simulator at ${imds.url} polled every ${config.pollInterval} ms`)

  // Post once the agent has polled the notice path, so detection includes a realistic share of the poll interval.
  const noticePath = NOTICE_PATHS[scenario.kind]
  await poll(async () => imds.requests.some(r => r.path === noticePath) || undefined, timeout, `the agent's first poll of ${noticePath}`, 10)
  const leaving = observer.movablePodsOn(target)
  const budgetShouldHold = leaving.filter(p => p.metadata?.namespace === LABELLED_NAMESPACE && p.metadata.labels?.app === WEB.name).length > WEB.maxUnavailable
  observer.follow(target)
  const noticeAt = Date.now()
  scenario.post(imds, noticeAt)
  narrator.setOrigin(noticeAt, 'notice')
  narrator.entry({ at: noticeAt, actor: 'imds', text: scenario.notice })
  const record = (p: V1Pod): ReturnType<ClusterObserver['pods']['get']> => observer.pods.get(p.metadata?.uid ?? '')
  const seen = (reason: string): Array<{ at: number, message: string }> => observer.events
    .filter(e => e.at >= noticeAt && e.event.involvedObject?.name === target && e.event.reason === reason)
    .map(e => ({ at: e.at, message: e.event.message ?? '' }))
  const drainResults = (): Array<{ at: number, message: string }> => [...seen('CordonAndDrain'), ...seen('CordonAndDrainError')].sort((a, b) => a.at - b.at)
  narrator.startProgress(() => ({
    node: target,
    total: leaving.length,
    gone: leaving.filter(p => record(p)?.goneAt !== undefined).length,
    evicting: leaving.filter(p => record(p)?.goneAt === undefined && record(p)?.deletingAt !== undefined).length,
    elapsedMs: Date.now() - noticeAt
  }))
  try {
    await observer.waitFor(() => observer.movablePodsOn(target).length === 0 && outcome?.outcome === 'done' && drainResults().length > 0, timeout, `the agent to drain ${target}`)
  } finally {
    narrator.stopProgress()
  }
  await observer.waitFor(allReady, timeout, 'every workload to be back at full strength')
  step('cluster', `every workload back at full strength: ${[...replicas].map(([app, n]) => `${app} ${n}/${n}`).join(', ')}`)

  // Facts for the report, from what the watches saw.
  const firstAction = [seen(EVENT_REASONS[scenario.kind])[0]?.at, observer.marks.taintedAt].filter((t): t is number => t !== undefined)
  const finalNode = observer.nodes.get(target)
  const taint = finalNode?.spec?.taints?.find(t => t.key === taintKey(scenario.kind))
  const gone = leaving.map(p => record(p)?.goneAt).filter((t): t is number => t !== undefined)
  const result = drainResults().at(-1)
  return {
    scenario: scenario.name,
    mode: embedded ? 'embedded' : 'kubeconfig',
    node: target,
    nodes,
    withWebhook,
    withoutWebhook,
    noticeAt,
    deadlineAt: noticeAt + scenario.deadlineMs,
    ...(firstAction.length === 0 ? {} : { detectedAt: Math.min(...firstAction) }),
    ...(observer.marks.cordonedAt === undefined ? {} : { cordonedAt: observer.marks.cordonedAt }),
    ...(gone.length === leaving.length && gone.length > 0 ? { drainedAt: Math.max(...gone) } : {}),
    ...(taint === undefined ? {} : { taint: `${taint.key}=${taint.value ?? ''}:${taint.effect}` }),
    lbExcluded: finalNode?.metadata?.labels?.[LB_EXCLUSION_LABEL] === 'true',
    cordoned: finalNode?.spec?.unschedulable === true,
    ...(result === undefined ? {} : { agentResult: result.message }),
    leftOnNode: observer.movablePodsOn(target).map(objectName),
    moves: movesOf(observer, leaving, target, noticeAt),
    pdbRefusals: await metricValue(agent.metrics.evictions, { outcome: 'blocked' }),
    budgetShouldHold,
    wallMs: Date.now() - started
  }
}

/**
 * Pairs each pod that left the node with a replacement of the same controller
 * created after the notice elsewhere, in eviction order.
 */
function movesOf (observer: ClusterObserver, leaving: V1Pod[], node: string, noticeAt: number): Move[] {
  const records = [...observer.pods.values()]
  const taken = new Set<string>()
  const controllerOf = (p: V1Pod): string | undefined => p.metadata?.ownerReferences?.find(o => o.controller === true)?.uid
  const byEviction = leaving.map(p => ({ p, r: observer.pods.get(p.metadata?.uid ?? '') }))
    .sort((a, b) => (a.r?.deletingAt ?? Infinity) - (b.r?.deletingAt ?? Infinity))
  return byEviction.map(({ p, r }) => {
    const owner = controllerOf(p)
    const replacement = owner === undefined
      ? undefined
      : records
        .filter(c => c.scheduledAt !== undefined && c.scheduledAt >= noticeAt && c.pod.spec?.nodeName !== node && !isDaemonPod(c.pod) &&
          controllerOf(c.pod) === owner && !taken.has(c.pod.metadata?.uid ?? ''))
        .sort((a, b) => a.scheduledAt! - b.scheduledAt!)[0]
    if (replacement !== undefined) taken.add(replacement.pod.metadata?.uid ?? '')
    const held = observer.budgetBlockedAt !== undefined && r?.deletingAt !== undefined && r.deletingAt > observer.budgetBlockedAt &&
      p.metadata?.labels?.app === WEB.name
    return {
      pod: objectName(p),
      ...(r?.deletingAt === undefined ? {} : { evictedMs: r.deletingAt - noticeAt }),
      ...(replacement === undefined ? {} : { replacement: objectName(replacement.pod), to: replacement.pod.spec?.nodeName ?? '?' }),
      ...(replacement?.readyAt === undefined ? {} : { readyMs: replacement.readyAt - noticeAt }),
      heldByBudget: held
    }
  })
}

/** Puts a real cluster's node back: every event the agent recorded undone (taint, label, cordon). */
async function restoreNode (kubeConfig: KubeConfig, node: string, logger: Logger): Promise<void> {
  const client = new NodeClient({ kubeConfig, nodeName: node, gate: createApiGate(50, 100, 4, Date.now, ms => sleep(ms)), logger })
  const state = readState(await client.getNode())
  await client.updateNode(n => state.events.reduce((current, e) => withEventUndone(current, e.id, Date.now()), n))
}
