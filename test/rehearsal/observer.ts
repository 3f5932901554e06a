/**
 * Watches the cluster through the Kubernetes API (nodes, pods, the node
 * Events the agent records, the web app's PodDisruptionBudget) with
 * client-node's Watch, keeps the current objects and when each pod was
 * scheduled, Ready, evicted and gone, and turns changes on the followed node
 * into timeline entries. The same code watches the embedded simulator and a
 * real cluster; `waitFor` wakes on every change.
 */
import { Watch, type CoreV1Event, type KubeConfig, type V1Node, type V1Pod, type V1PodDisruptionBudget } from '@kubernetes/client-node'
import { budgetChange, isDaemonPod, isReady, nodeChanges, nodeEvent, podChange, type TimelineEntry } from './timeline.ts'

/** What the observer knows about one pod (by uid). */
export interface PodRecord {
  pod: V1Pod
  /** When it was first seen with a node (epoch ms). */
  scheduledAt?: number
  readyAt?: number
  /** When its deletion started (eviction accepted). */
  deletingAt?: number
  goneAt?: number
}

/** A node Event the agent recorded, with when it was seen. */
export interface SeenEvent { at: number, event: CoreV1Event }

/** When the followed node changed. */
export interface NodeMarks { taintedAt?: number, labelledAt?: number, cordonedAt?: number }

type Listener = () => void

/** The cluster as seen through watches. */
export class ClusterObserver {
  readonly nodes = new Map<string, V1Node>()
  /** Every pod seen, by uid (gone ones stay, with goneAt). */
  readonly pods = new Map<string, PodRecord>()
  readonly events: SeenEvent[] = []
  readonly budgets = new Map<string, V1PodDisruptionBudget>()
  readonly marks: NodeMarks = {}
  /** When a budget was first seen allowing no disruption while following. */
  budgetBlockedAt: number | undefined
  readonly #listeners = new Set<Listener>()
  readonly #requests: Array<{ abort: () => void }> = []
  readonly #onEntry: (entry: TimelineEntry) => void
  #following: string | undefined
  #failure: Error | undefined
  #stopped = false

  /** `onEntry` receives timeline entries once `follow` was called. */
  constructor (onEntry: (entry: TimelineEntry) => void) {
    this.#onEntry = onEntry
  }

  /** Opens the watches; `pdbNamespace` is where the budget lives. */
  async start (kubeConfig: KubeConfig, pdbNamespace: string): Promise<void> {
    const watch = new Watch(kubeConfig)
    // Like an informer: a watch that ends (client-node closes one after 30 s without data) is
    // opened again from the last resourceVersion seen, so nothing is missed or replayed; a
    // failure to open it again fails the run.
    const open = async <T extends { metadata?: { resourceVersion?: string } }>(path: string, query: Record<string, string>, apply: (type: string, obj: T) => void, resourceVersion?: string): Promise<void> => {
      let last = resourceVersion
      let received = false
      const req = await watch.watch(path, { ...query, ...(last === undefined ? {} : { resourceVersion: last }) }, (type: string, obj: T) => {
        if (type === 'ERROR') { this.#fail(new Error(`watch ${path} reported an error: ${JSON.stringify(obj)}`)); return }
        received = true
        last = obj.metadata?.resourceVersion ?? last
        apply(type, obj)
        this.#changed()
      }, (err: unknown) => {
        if (this.#stopped) return
        const quiet = err instanceof Error && err.name === 'TimeoutError'
        if (err !== null && err !== undefined && !quiet && !received) {
          this.#fail(new Error(`watch ${path} failed: ${err instanceof Error ? err.message : String(err)}`))
          return
        }
        // Without a resourceVersion nothing was seen yet, so listing again replays nothing.
        open(path, query, apply, last).catch((e: Error) => this.#fail(new Error(`watch ${path} could not be opened again: ${e.message}`)))
      })
      this.#requests.push(req)
    }
    await open<V1Node>('/api/v1/nodes', {}, (type, node) => this.#node(type, node))
    await open<V1Pod>('/api/v1/pods', {}, (type, pod) => this.#pod(type, pod))
    await open<CoreV1Event>('/api/v1/namespaces/default/events', { fieldSelector: 'involvedObject.kind=Node' }, (type, event) => {
      if (type !== 'ADDED') return
      this.events.push({ at: Date.now(), event })
      const text = this.#following === undefined ? undefined : nodeEvent(event, this.#following)
      if (text !== undefined) this.#emit('agent', text)
    })
    await open<V1PodDisruptionBudget>(`/apis/policy/v1/namespaces/${pdbNamespace}/poddisruptionbudgets`, {}, (type, pdb) => {
      const key = pdb.metadata?.name ?? ''
      const before = this.budgets.get(key)
      if (type === 'DELETED') { this.budgets.delete(key); return }
      this.budgets.set(key, pdb)
      if (this.#following === undefined) return
      if (pdb.status?.disruptionsAllowed === 0) this.budgetBlockedAt ??= Date.now()
      const text = budgetChange(before, pdb)
      if (text !== undefined) this.#emit('cluster', text)
    })
  }

  /** From now on, changes on `node` (and replacements elsewhere) become timeline entries. */
  follow (node: string): void {
    this.#following = node
  }

  /** Pods currently present (not gone), optionally only those on `node`. */
  livePods (node?: string): V1Pod[] {
    return [...this.pods.values()].filter(r => r.goneAt === undefined && (node === undefined || r.pod.spec?.nodeName === node)).map(r => r.pod)
  }

  /** Non-DaemonSet pods still on `node` (terminating ones included). */
  movablePodsOn (node: string): V1Pod[] {
    return this.livePods(node).filter(p => !isDaemonPod(p))
  }

  /**
   * Resolves with the predicate's first truthy value, checked now and after
   * every watched change; rejects after `timeoutMs` naming `description`, or
   * when a watch fails.
   */
  waitFor<T> (predicate: () => T | undefined | false | null, timeoutMs: number, description: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const finish = (): void => { clearTimeout(timer); this.#listeners.delete(check) }
      const check = (): void => {
        if (this.#failure !== undefined) { finish(); reject(this.#failure); return }
        let value
        try { value = predicate() } catch (err) { finish(); reject(err); return }
        if (value !== undefined && value !== false && value !== null) { finish(); resolve(value) }
      }
      const timer = setTimeout(() => { finish(); reject(new Error(`timed out after ${timeoutMs} ms waiting for ${description}`)) }, timeoutMs)
      this.#listeners.add(check)
      check()
    })
  }

  /** Re-checks every waiter: for conditions that also read state kept outside the cluster. */
  recheck (): void {
    this.#changed()
  }

  /** Closes the watches. */
  stop (): void {
    this.#stopped = true
    for (const req of this.#requests) req.abort()
    this.#listeners.clear()
  }

  #fail (err: Error): void {
    this.#failure ??= err
    this.#changed()
  }

  #changed (): void {
    for (const listener of [...this.#listeners]) listener()
  }

  #emit (actor: TimelineEntry['actor'], text: string): void {
    this.#onEntry({ at: Date.now(), actor, text })
  }

  #node (type: string, node: V1Node): void {
    const name = node.metadata?.name ?? ''
    const before = this.nodes.get(name)
    if (type === 'DELETED') { this.nodes.delete(name); return }
    this.nodes.set(name, node)
    if (name !== this.#following) return
    const now = Date.now()
    for (const text of nodeChanges(before, node)) {
      if (text.startsWith('tainted')) this.marks.taintedAt ??= now
      if (text.startsWith('labelled')) this.marks.labelledAt ??= now
      if (text.startsWith('cordoned')) this.marks.cordonedAt ??= now
      this.#emit('agent', `${name} ${text}`)
    }
  }

  #pod (type: string, pod: V1Pod): void {
    const uid = pod.metadata?.uid ?? `${pod.metadata?.namespace}/${pod.metadata?.name}`
    const now = Date.now()
    const record = this.pods.get(uid)
    const before = record?.pod
    const r: PodRecord = record ?? { pod }
    r.pod = pod
    if (r.scheduledAt === undefined && pod.spec?.nodeName !== undefined) r.scheduledAt = now
    if (r.readyAt === undefined && isReady(pod)) r.readyAt = now
    if (r.deletingAt === undefined && pod.metadata?.deletionTimestamp !== undefined) r.deletingAt = now
    if (type === 'DELETED') { r.goneAt = now; r.deletingAt ??= now }
    this.pods.set(uid, r)
    if (this.#following === undefined) return
    const text = podChange(type, before, pod, this.#following)
    if (text !== undefined) this.#emit(text.startsWith('evicting') ? 'agent' : 'cluster', text)
  }
}
