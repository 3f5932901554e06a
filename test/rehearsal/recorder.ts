/**
 * Test helper: records what happened in a simulated cluster during a
 * rehearsal straight from the simulator's store (not from the rehearsal's own
 * observations), for the tests to hold the report against.
 */
import type { Test } from 'tap'
import type { V1Node } from '@kubernetes/client-node'
import { LB_EXCLUSION_LABEL, readState, type InterruptionRecord } from '../../agent/node-state.ts'
import type { KubeObject, KubeSim } from '../sim/k8s/sim.ts'
import { LABELLED_NAMESPACE, WEB } from './manifests.ts'

/** What happened to one node at some point during the run. */
export interface NodeHistory {
  taints: Set<string>
  cordoned: boolean
  lbExcluded: boolean
  /** The agent's event records once one was marked drained. */
  drained?: InterruptionRecord
  /** Non-DaemonSet pods on the node at the moment the agent recorded the drain as done. */
  leftWhenDrained?: string[]
}

const isDaemon = (p: KubeObject): boolean => (p.metadata.ownerReferences ?? []).some(o => o.kind === 'DaemonSet')
const isHealthy = (p: KubeObject): boolean => p.metadata.deletionTimestamp === undefined &&
  (p.status?.conditions ?? []).some((c: { type: string, status: string }) => c.type === 'Ready' && c.status === 'True')

/** Subscribes to the simulator's store and keeps the facts the tests check. */
export class StoryRecorder {
  /** Nodes that got a pod of the handler DaemonSet, per namespace. */
  readonly handlerNodes = new Map<string, Set<string>>()
  readonly nodes = new Map<string, NodeHistory>()
  /** Fewest healthy web pods once all were healthy (Infinity before). */
  minHealthyWeb = Infinity
  #webFull = false
  readonly #sim: KubeSim
  readonly unsubscribe: () => void

  constructor (sim: KubeSim) {
    this.#sim = sim
    this.unsubscribe = sim.cluster.store.subscribe(() => this.#update())
    this.#update()
  }

  #update (): void {
    const pods = this.#sim.list('Pod')
    for (const p of pods) {
      if (p.metadata.ownerReferences?.some(o => o.kind === 'DaemonSet' && o.name === 'spot-interrupt-handler') === true && p.spec?.nodeName !== undefined) {
        const set = this.handlerNodes.get(p.metadata.namespace!) ?? new Set<string>()
        set.add(p.spec.nodeName)
        this.handlerNodes.set(p.metadata.namespace!, set)
      }
    }
    const healthyWeb = pods.filter(p => p.metadata.namespace === LABELLED_NAMESPACE && p.metadata.labels?.app === WEB.name && isHealthy(p)).length
    if (healthyWeb === WEB.replicas) this.#webFull = true
    // Until the rehearsal deletes its namespace (--kubeconfig cleans up), which takes the pods with it.
    const namespace = this.#sim.get('Namespace', undefined, LABELLED_NAMESPACE)
    if (namespace === undefined || namespace.metadata.deletionTimestamp !== undefined) return
    if (this.#webFull) this.minHealthyWeb = Math.min(this.minHealthyWeb, healthyWeb)
    for (const node of this.#sim.list('Node')) {
      const name = node.metadata.name
      const h = this.nodes.get(name) ?? { taints: new Set<string>(), cordoned: false, lbExcluded: false }
      for (const t of node.spec?.taints ?? []) h.taints.add(`${t.key}=${t.value ?? ''}:${t.effect}`)
      h.cordoned ||= node.spec?.unschedulable === true
      h.lbExcluded ||= node.metadata.labels?.[LB_EXCLUSION_LABEL] === 'true'
      const drained = readState(node as unknown as V1Node).events.find(e => e.drained !== undefined)
      if (drained !== undefined && h.drained === undefined) {
        h.drained = drained
        h.leftWhenDrained = pods.filter(p => p.spec?.nodeName === name && !isDaemon(p)).map(p => `${p.metadata.namespace}/${p.metadata.name}`)
      }
      this.nodes.set(name, h)
    }
  }

  /** Lifecycle label of a node (`Ec2Spot`, `OnDemand`). */
  lifecycleOf (node: string): string | undefined {
    return this.#sim.get('Node', undefined, node)?.metadata.labels?.lifecycle
  }
}

/** The report's facts as the rehearsal states them. */
export interface ReportFacts {
  ok: boolean
  node: string | null
  handlerPods: { spot: number, onDemand: number }
  pdbWaits: number
  pdbRefusals: number
  deadlineMet: boolean
}

/**
 * Holds the report against the simulator: handler pods only on Spot nodes in
 * the labelled namespace and also on On-Demand without the label, the node
 * tainted for `taintKey`, cordoned and out of load balancers, no
 * non-DaemonSet pod left when the agent recorded the drain, the budget never
 * breached, refusals in the request log matching the report, and the drain
 * recorded before the deadline.
 */
export function assertStory (t: Test, rec: StoryRecorder, sim: KubeSim, report: ReportFacts, taintKey: string, plainNamespace: string, deadlineMs: number): void {
  t.equal(report.ok, true, 'the rehearsal reports success')
  const labelled = [...rec.handlerNodes.get(LABELLED_NAMESPACE) ?? []]
  const plain = [...rec.handlerNodes.get(plainNamespace) ?? []]
  const spotNodes = sim.list('Node', { labelSelector: 'lifecycle=Ec2Spot' }).map(n => n.metadata.name).sort()
  t.same(labelled.sort(), spotNodes, 'with the webhook, handler pods went to every Spot node and nowhere else')
  t.ok(plain.some(n => rec.lifecycleOf(n) === 'OnDemand'), 'without it, a handler pod went to an On-Demand node')
  t.same(report.handlerPods, { spot: spotNodes.length, onDemand: 0 }, 'the report counts the same placement')

  const node = report.node ?? ''
  t.equal(rec.lifecycleOf(node), 'Ec2Spot', 'the interrupted node is a Spot node')
  const history = rec.nodes.get(node)
  t.ok([...history?.taints ?? []].some(x => x.startsWith(`${taintKey}=`) && x.endsWith(':NoSchedule')), `the node was tainted ${taintKey}`)
  t.ok(history?.cordoned, 'the node was cordoned')
  t.ok(history?.lbExcluded, 'the node was excluded from load balancers')
  t.same(history?.leftWhenDrained, [], 'no non-DaemonSet pod was on the node when the agent recorded the drain')
  t.match(history?.drained?.result, /^drain complete/, 'the agent recorded a complete drain')

  t.ok(rec.minHealthyWeb >= WEB.replicas - WEB.maxUnavailable, `never fewer than ${WEB.replicas - WEB.maxUnavailable} healthy web pods (fewest: ${rec.minHealthyWeb})`)
  const refused = sim.requests.filter(r => r.subresource === 'eviction' && r.status === 429)
  t.equal(report.pdbRefusals, refused.length, 'the report counts the refusals the API answered')
  t.ok(refused.length <= 1, 'evictions waited for the budget instead of being refused (at most one from a race)')
  t.ok(report.pdbWaits > 0, 'the budget held at least one eviction back until a replacement was Ready')

  const drained = history?.drained
  const since = Date.parse(drained?.since ?? '')
  const limit = drained?.deadline !== undefined ? Date.parse(drained.deadline) : since + deadlineMs
  t.ok(Date.parse(drained?.drained ?? '') <= limit, 'the drain was recorded before the deadline')
  t.equal(report.deadlineMet, true, 'the report says the deadline was met')
}
