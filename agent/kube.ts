/**
 * The agent's Kubernetes calls (thin I/O over @kubernetes/client-node 2.x):
 * read and patch its Node with conflict retries, list the node's pods, evict
 * and delete pods, record Events. Every call passes through the API gate
 * (rate limit and in-flight bound). Errors are translated into outcomes the
 * drain understands (gone, blocked by a budget) or errors with context.
 */
import { ApiException, CoreV1Api, type KubeConfig, type V1Node, type V1Pod } from '@kubernetes/client-node'
import { nodePatch } from './node-state.ts'
import type { ApiGate } from './rate-limit.ts'

/** What an eviction request came to. */
export type EvictionOutcome =
  | { outcome: 'accepted' }
  | { outcome: 'gone' }
  | { outcome: 'blocked', status: number, message: string, pdb?: string }

/** HTTP status of a client-node error, if it is one. */
export function statusOf (err: unknown): number | undefined {
  return err instanceof ApiException ? err.code : undefined
}

/** The `message` of a Kubernetes Status body, plus its causes' messages. */
function statusMessage (err: unknown): string {
  if (!(err instanceof ApiException)) return (err as Error).message
  const body: unknown = typeof err.body === 'string' ? safeJson(err.body) : err.body
  if (typeof body !== 'object' || body === null) return `HTTP ${err.code}`
  const status = body as { message?: string, details?: { causes?: Array<{ message?: string }> } }
  return [status.message, ...(status.details?.causes ?? []).map(c => c.message)].filter(m => m !== undefined && m !== '').join(' ')
}

function safeJson (text: string): unknown {
  try { return JSON.parse(text) } catch { return text }
}

/** The budget named in a 429 eviction answer ("The disruption budget NAME needs ..."), if any. */
export function blockingBudget (message: string): string | undefined {
  return /disruption budget "?([a-z0-9][-a-z0-9.]*)"?/i.exec(message)?.[1]
}

/** Wraps a failed call into an Error naming what was attempted. */
function describe (what: string, err: unknown): Error {
  const status = statusOf(err)
  return new Error(`${what} failed${status !== undefined ? ` (HTTP ${status})` : ''}: ${statusMessage(err)}`, { cause: err })
}

/** A Kubernetes Event to record on the Node. */
export interface NodeEventInput {
  reason: string
  message: string
  type: 'Normal' | 'Warning'
}

/** The calls the agent makes, bound to its Node. */
export class NodeClient {
  readonly nodeName: string
  private readonly core: CoreV1Api
  private readonly gate: ApiGate
  private readonly now: () => number

  constructor (kubeConfig: KubeConfig, nodeName: string, gate: ApiGate, now: () => number = Date.now) {
    this.core = kubeConfig.makeApiClient(CoreV1Api)
    this.nodeName = nodeName
    this.gate = gate
    this.now = now
  }

  /** Reads the Node. */
  async getNode (): Promise<V1Node> {
    try {
      return await this.gate.run(() => this.core.readNode({ name: this.nodeName }))
    } catch (err) {
      throw describe(`reading node ${this.nodeName}`, err)
    }
  }

  /**
   * Changes the Node: reads it, lets `change` compute the wanted Node and sends
   * the difference in the fields the agent manages (nodePatch) as a JSON patch
   * guarded by a resourceVersion test. On a
   * conflict (409, or 422 from the failed test) it reads again and retries.
   * Returns the Node as it now is (unchanged when there was nothing to do).
   */
  async updateNode (change: (node: V1Node) => V1Node, attempts = 5): Promise<V1Node> {
    for (let i = 1; ; i++) {
      const node = await this.getNode()
      const ops = nodePatch(node, change(node))
      if (ops.length === 0) return node
      const body = [{ op: 'test', path: '/metadata/resourceVersion', value: node.metadata?.resourceVersion }, ...ops]
      try {
        return await this.gate.run(() => this.core.patchNode({ name: this.nodeName, body }))
      } catch (err) {
        const status = statusOf(err)
        if ((status === 409 || status === 422) && i < attempts) continue
        throw describe(`patching node ${this.nodeName} (${ops.map(o => `${o.op} ${o.path}`).join(', ')})`, err)
      }
    }
  }

  /** The pods bound to the Node (field selector spec.nodeName). */
  async listPods (): Promise<V1Pod[]> {
    try {
      const list = await this.gate.run(() => this.core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${this.nodeName}` }))
      return list.items
    } catch (err) {
      throw describe(`listing pods on node ${this.nodeName}`, err)
    }
  }

  /** Asks for an eviction (policy/v1) of the pod with this uid; 404/409-on-uid mean it is gone already. */
  async evict (namespace: string, name: string, uid: string, gracePeriodSeconds: number): Promise<EvictionOutcome> {
    try {
      await this.gate.run(() => this.core.createNamespacedPodEviction({
        name,
        namespace,
        body: { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name, namespace }, deleteOptions: { gracePeriodSeconds, preconditions: { uid } } }
      }))
      return { outcome: 'accepted' }
    } catch (err) {
      const status = statusOf(err)
      if (status === 404) return { outcome: 'gone' }
      if (status === 409 && /uid/i.test(statusMessage(err))) return { outcome: 'gone' }
      if (status === 429 || status === 500 || status === 503) {
        const message = statusMessage(err)
        const pdb = blockingBudget(message)
        return { outcome: 'blocked', status, message, ...(pdb !== undefined ? { pdb } : {}) }
      }
      throw describe(`evicting pod ${namespace}/${name}`, err)
    }
  }

  /** Deletes the pod with this uid and grace period; false when it was gone already. */
  async deletePod (namespace: string, name: string, uid: string, gracePeriodSeconds: number): Promise<boolean> {
    try {
      await this.gate.run(() => this.core.deleteNamespacedPod({ name, namespace, gracePeriodSeconds, body: { gracePeriodSeconds, preconditions: { uid } } }))
      return true
    } catch (err) {
      const status = statusOf(err)
      if (status === 404 || (status === 409 && /uid/i.test(statusMessage(err)))) return false
      throw describe(`deleting pod ${namespace}/${name}`, err)
    }
  }

  /** Records an Event on the Node (namespace default, as the kubelet does). */
  async createNodeEvent (node: V1Node | undefined, event: NodeEventInput): Promise<void> {
    const t = new Date(this.now())
    try {
      await this.gate.run(() => this.core.createNamespacedEvent({
        namespace: 'default',
        body: {
          metadata: { generateName: `${this.nodeName}.`, namespace: 'default' },
          involvedObject: { apiVersion: 'v1', kind: 'Node', name: this.nodeName, ...(node?.metadata?.uid !== undefined ? { uid: node.metadata.uid } : {}) },
          reason: event.reason,
          message: event.message,
          type: event.type,
          source: { component: 'spot-agent', host: this.nodeName },
          reportingComponent: 'spot-handler.io/agent',
          reportingInstance: this.nodeName,
          firstTimestamp: t,
          lastTimestamp: t,
          count: 1
        }
      }))
    } catch (err) {
      throw describe(`recording event ${event.reason} on node ${this.nodeName}`, err)
    }
  }
}
