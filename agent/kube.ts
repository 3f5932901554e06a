/**
 * The agent's Kubernetes calls (thin I/O over @kubernetes/client-node 2.x):
 * watch its Node, patch it guarded by resourceVersion (conflicts retried on a
 * fresh read), watch the node's pods during a drain, evict and delete pods,
 * record Events. Every request but the long-lived watches passes through the
 * API gate (rate limit and in-flight bound). Errors are translated into
 * outcomes the drain understands (gone, blocked by a budget) or errors with
 * context.
 */
import { ApiException, CoreV1Api, KubeConfig, PolicyV1Api, setHeaderOptions, type V1Node, type V1Pod, type V1PodDisruptionBudget } from '@kubernetes/client-node'
import type { Logger } from 'pino'
import { statusOf } from '#common/kube-status.ts'
import { ConfigError } from '#common/options.ts'
import { timerDelay } from '#common/timers.ts'
import type { DrainClient, WatchedObjects } from './drain.ts'
import { INTERRUPTED_LABEL, interruptedSince, nodePatch } from './node-state.ts'
import type { ApiGate } from './rate-limit.ts'
import { startListWatch, type ListResult, type ListWatch } from './watch.ts'

/**
 * The client configuration from KUBECONFIG, else ~/.kube/config, else the
 * in-cluster service account; a ConfigError saying where it looked when none loads.
 */
export function loadKubeConfig (): KubeConfig {
  const kubeConfig = new KubeConfig()
  try {
    kubeConfig.loadFromDefault()
  } catch (err) {
    throw new ConfigError(`cannot load the Kubernetes client configuration (KUBECONFIG ${process.env.KUBECONFIG ?? 'unset'}, else ~/.kube/config, else in-cluster): ${(err as Error).message}`)
  }
  return kubeConfig
}

/**
 * The Accept header of a metadata-only list (PartialObjectMetadataList), with
 * plain JSON as the fallback of a server that does not offer it.
 */
export const METADATA_LIST_ACCEPT = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json'

/** What an eviction request came to. */
export type EvictionOutcome =
  | { outcome: 'accepted' }
  | { outcome: 'gone' }
  | { outcome: 'blocked', status: number, message: string, pdb?: string, retryAfterMs?: number }

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

/** The Retry-After of an API answer (delay in seconds), in milliseconds, if it has one. */
export function retryAfterOf (err: unknown): number | undefined {
  if (!(err instanceof ApiException)) return undefined
  const headers = err.headers as Record<string, string | undefined>
  const raw = Object.entries(headers ?? {}).find(([name]) => name.toLowerCase() === 'retry-after')?.[1]
  const seconds = raw === undefined ? NaN : Number(raw)
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : undefined
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
export interface KubeEventInput {
  reason: string
  message: string
  type: 'Normal' | 'Warning'
  /** The pod the Event is about (in its namespace); the Node when absent. */
  pod?: { namespace: string, name: string, uid: string }
  annotations?: Record<string, string>
}

/**
 * Where RBAC lets the agent list but not watch (the Node Termination
 * Handler's ClusterRole grants get/list on nodes and pods, no watch), the
 * Node is listed this often instead: the interval the agent polled at before
 * it watched.
 */
const NODE_POLL_WHEN_FORBIDDEN_MS = 10_000

/** The same for the node's pods while a drain waits for them to go. */
const DRAIN_POLL_WHEN_FORBIDDEN_MS = 1000

/** How the client is built. */
export interface NodeClientOptions {
  kubeConfig: KubeConfig
  nodeName: string
  gate: ApiGate
  logger: Logger
  now?: () => number
  /** First reconnect delay of the watches (default 500 ms). */
  watchBackoffBaseMs?: number
}

/** The Node as its watch last saw it. */
export interface WatchedNode {
  /** The latest Node, or undefined before the first list. */
  node (): V1Node | undefined
  /** Since when (ms since epoch) the watch has been down; undefined while it is up. */
  downSince (): number | undefined
  stop (): Promise<void>
}

/** The calls the agent makes, bound to its Node. */
export class NodeClient implements DrainClient {
  readonly nodeName: string
  private readonly core: CoreV1Api
  private readonly policy: PolicyV1Api
  private readonly options: NodeClientOptions
  private readonly gate: ApiGate
  private readonly now: () => number
  private watched: WatchedNode | undefined

  constructor (options: NodeClientOptions) {
    this.options = options
    this.core = options.kubeConfig.makeApiClient(CoreV1Api)
    this.policy = options.kubeConfig.makeApiClient(PolicyV1Api)
    this.nodeName = options.nodeName
    this.gate = options.gate
    this.now = options.now ?? Date.now
  }

  /** The Node as the watch last saw it, while the watch is up. */
  private watchedNode (): V1Node | undefined {
    return this.watched?.downSince() === undefined ? this.watched?.node() : undefined
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
   * When each Node carrying the INTERRUPTED_LABEL joined the reclaim
   * (interruptedSince): one list with a label selector, served from the API
   * server's watch cache (resourceVersion 0), whose answer holds only the
   * nodes of the reclaim, and of each only its metadata (the state
   * annotation is there; the status, with its image list, is not).
   */
  async interruptedSinceTimes (): Promise<number[]> {
    try {
      const nodes = (await this.gate.run(() => this.core.listNode({ labelSelector: INTERRUPTED_LABEL, resourceVersion: '0' }, setHeaderOptions('Accept', METADATA_LIST_ACCEPT)))).items
      return nodes.flatMap(node => interruptedSince(node) ?? [])
    } catch (err) {
      throw describe('listing interrupted nodes', err)
    }
  }

  /** The Node: as the watch last saw it while the watch is up, else read. */
  async currentNode (): Promise<V1Node> {
    return this.watchedNode() ?? await this.getNode()
  }

  /**
   * Lists then watches the Node (fieldSelector metadata.name), calling
   * `onNode` with every version; `currentNode` and `updateNode` then start
   * from the watched Node instead of reading it.
   */
  watchNode (onNode: (node: V1Node) => void): WatchedNode {
    let latest: V1Node | undefined
    const seen = (node: V1Node): void => {
      latest = node
      onNode(node)
    }
    const watch = this.listWatch<V1Node>('/api/v1/nodes', `metadata.name=${this.nodeName}`, async () => {
      const list = await this.gate.run(() => this.core.listNode({ fieldSelector: `metadata.name=${this.nodeName}` }))
      return { items: list.items, resourceVersion: list.metadata?.resourceVersion ?? '' }
    }, {
      onSync: items => { if (items[0] !== undefined) seen(items[0]) },
      onChange: (change, node) => { if (change !== 'DELETED') seen(node) },
      pollWhenForbiddenMs: NODE_POLL_WHEN_FORBIDDEN_MS
    })
    this.watched = {
      node: () => latest,
      downSince: () => watch.downSince(),
      stop: async () => {
        this.watched = undefined
        await watch.stop()
      }
    }
    return this.watched
  }

  private listWatch<T extends { metadata?: { resourceVersion?: string } }> (path: string, fieldSelector: string, list: () => Promise<ListResult<T>>, handlers: { onSync: (items: T[]) => void, onChange: (change: 'ADDED' | 'MODIFIED' | 'DELETED', object: T) => void, initial?: ListResult<T>, pollWhenForbiddenMs: number }): ListWatch {
    return startListWatch({
      kubeConfig: this.options.kubeConfig,
      path,
      fieldSelector,
      list,
      ...handlers,
      logger: this.options.logger.child({ watch: path, fieldSelector }),
      now: this.now,
      backoffBaseMs: this.options.watchBackoffBaseMs ?? 500
    })
  }

  /**
   * Changes the Node: lets `change` compute the wanted Node and sends the
   * difference in the fields the agent manages (nodePatch) as a JSON patch
   * guarded by a resourceVersion test. It starts from `from` (the Node a
   * caller last wrote) or the watched Node, so the usual update costs one
   * request; on a conflict (409, or 422 from the failed test) it reads the
   * Node and retries, and a change that looks empty on a Node that was not
   * just read is checked again on a fresh read. Returns the Node as it now is.
   */
  async updateNode (change: (node: V1Node) => V1Node, options: { from?: V1Node, attempts?: number } = {}): Promise<V1Node> {
    const attempts = options.attempts ?? 5
    let known = options.from ?? this.watchedNode()
    for (let i = 1; ; i++) {
      const node = known ?? await this.getNode()
      const fresh = known === undefined
      known = undefined
      const ops = nodePatch(node, change(node))
      if (ops.length === 0) {
        if (fresh) return node
        continue
      }
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

  /** The pods bound to the Node (field selector spec.nodeName), with the list's resourceVersion. */
  async listPods (): Promise<ListResult<V1Pod>> {
    try {
      const list = await this.gate.run(() => this.core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${this.nodeName}` }))
      return { items: list.items, resourceVersion: list.metadata?.resourceVersion ?? '' }
    } catch (err) {
      throw describe(`listing pods on node ${this.nodeName}`, err)
    }
  }

  /** Lists the node's pods (throwing when that fails), then watches them until `close`. */
  async watchPods (signal?: AbortSignal): Promise<WatchedObjects<V1Pod>> {
    return await this.watchObjects('/api/v1/pods', `spec.nodeName=${this.nodeName}`, () => this.listPods(), signal)
  }

  /**
   * Lists every PodDisruptionBudget (throwing when that fails, e.g. without
   * RBAC for them), then watches them until `close`. The list is served from
   * the API server's watch cache (resourceVersion 0): a budget's status a
   * moment old only paces an eviction, and the watch brings what changed.
   */
  async watchBudgets (signal?: AbortSignal): Promise<WatchedObjects<V1PodDisruptionBudget>> {
    const list = async (): Promise<ListResult<V1PodDisruptionBudget>> => {
      try {
        const l = await this.gate.run(() => this.policy.listPodDisruptionBudgetForAllNamespaces({ resourceVersion: '0' }))
        return { items: l.items, resourceVersion: l.metadata?.resourceVersion ?? '' }
      } catch (err) {
        throw describe('listing PodDisruptionBudgets', err)
      }
    }
    return await this.watchObjects('/apis/policy/v1/poddisruptionbudgets', '', list, signal)
  }

  /** A list then a watch of a collection, as a view that any number of waiters can wait on for the next change. */
  private async watchObjects<T extends { metadata?: { uid?: string, namespace?: string, name?: string, resourceVersion?: string } }> (path: string, fieldSelector: string, list: () => Promise<ListResult<T>>, signal?: AbortSignal): Promise<WatchedObjects<T>> {
    const initial = await list()
    const objects = new Map<string, T>()
    const keyOf = (o: T): string => o.metadata?.uid ?? `${o.metadata?.namespace}/${o.metadata?.name}`
    const waiters = new Set<() => void>()
    const wake = (): void => { for (const w of [...waiters]) w() }
    const watch = this.listWatch<T>(path, fieldSelector, list, {
      initial,
      pollWhenForbiddenMs: DRAIN_POLL_WHEN_FORBIDDEN_MS,
      onSync: items => {
        objects.clear()
        for (const o of items) objects.set(keyOf(o), o)
        wake()
      },
      onChange: (change, o) => {
        if (change === 'DELETED') objects.delete(keyOf(o))
        else objects.set(keyOf(o), o)
        wake()
      }
    })
    return {
      current: () => [...objects.values()],
      changed: until => new Promise<void>(resolve => {
        const done = (): void => {
          clearTimeout(timer)
          signal?.removeEventListener('abort', done)
          waiters.delete(done)
          resolve()
        }
        const timer = setTimeout(done, timerDelay(until - this.now()))
        signal?.addEventListener('abort', done, { once: true })
        waiters.add(done)
      }),
      close: () => watch.stop()
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
        const retryAfterMs = retryAfterOf(err)
        return { outcome: 'blocked', status, message, ...(pdb !== undefined ? { pdb } : {}), ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) }
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

  /** Records an Event on the Node (namespace default, as the kubelet does), or on a pod in its namespace. */
  async createKubeEvent (node: V1Node | undefined, event: KubeEventInput): Promise<void> {
    const t = new Date(this.now())
    const namespace = event.pod?.namespace ?? 'default'
    const involvedObject = event.pod === undefined
      ? { apiVersion: 'v1', kind: 'Node', name: this.nodeName, ...(node?.metadata?.uid !== undefined ? { uid: node.metadata.uid } : {}) }
      : { apiVersion: 'v1', kind: 'Pod', namespace, name: event.pod.name, uid: event.pod.uid }
    try {
      await this.gate.run(() => this.core.createNamespacedEvent({
        namespace,
        body: {
          metadata: { generateName: `${event.pod?.name ?? this.nodeName}.`, namespace, ...(event.annotations === undefined ? {} : { annotations: event.annotations }) },
          involvedObject,
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
      throw describe(`recording event ${event.reason} on ${event.pod === undefined ? `node ${this.nodeName}` : `pod ${namespace}/${event.pod.name}`}`, err)
    }
  }
}
