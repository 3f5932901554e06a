/**
 * The tiny controllers that make the simulated cluster move, each switchable:
 * DaemonSet, Deployment, ReplicaSet (with the binding of its pending pods), a
 * kubelet (pods Running/Ready after `readyDelayMs`; terminating pods removed
 * after their grace period or `kubeletDelayMs`, whichever is shorter; pods not
 * tolerating a NoExecute taint deleted, as the taint manager does; pods bound to
 * a deleted node force-deleted, as pod GC does) and the
 * disruption controller (PodDisruptionBudget status).
 *
 * They run as one serial reconcile pass, scheduled (coalesced) after every store
 * change; decisions come from controller-plans.ts, writes go through the Cluster
 * like any client's (pods they create pass through admission).
 */
import type { Logger } from 'pino'
import { chooseNode, daemonPodSpec, daemonSetPlan, isActive, isControlledBy, replicaSetPlan, TEMPLATE_GENERATION_LABEL, TEMPLATE_HASH_LABEL, templateHash } from './controller-plans.ts'
import type { Cluster } from './cluster.ts'
import { findResource, type ResourceType } from './resources.ts'
import { untoleratedTaints, type NodeLike } from './scheduling.ts'
import type { KubeObject } from './store.ts'

/** Which controllers run and how fast the kubelet is. */
export interface ControllerOptions {
  daemonSets: boolean
  replicaSets: boolean
  deployments: boolean
  kubelet: boolean
  disruption: boolean
  /** Upper bound for how long the kubelet takes to finish a terminating pod (default: the pod's grace period). */
  kubeletDelayMs?: number
  /** How long a scheduled pod takes to become Running and Ready. */
  readyDelayMs: number
}

const type = (group: string, plural: string): ResourceType => findResource(group, plural)!
const PODS = type('', 'pods')
const NODES = type('', 'nodes')
const DAEMONSETS = type('apps', 'daemonsets')
const REPLICASETS = type('apps', 'replicasets')
const DEPLOYMENTS = type('apps', 'deployments')
const PDBS = type('policy', 'poddisruptionbudgets')

/** Delay before retrying a pass that failed (a webhook down, a conflict). */
const RETRY_MS = 250

function ownerRef (owner: KubeObject, kind: string): NonNullable<KubeObject['metadata']['ownerReferences']>[number] {
  return { apiVersion: 'apps/v1', kind, name: owner.metadata.name, uid: owner.metadata.uid!, controller: true, blockOwnerDeletion: true }
}

function sameJson (a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b)
}

/** Runs the enabled controllers until stopped. */
export class Controllers {
  readonly #cluster: Cluster
  readonly #opts: ControllerOptions
  readonly #log: Logger
  readonly #timers = new Map<string, NodeJS.Timeout>()
  #unsubscribe: (() => void) | undefined
  #scheduled: NodeJS.Immediate | NodeJS.Timeout | undefined
  #running = false
  #dirty = false
  #stopped = false
  #podIp = 0

  constructor (cluster: Cluster, opts: ControllerOptions, log: Logger) {
    this.#cluster = cluster
    this.#opts = opts
    this.#log = log
  }

  /** Subscribes to store changes and runs a first pass. */
  start (): void {
    this.#unsubscribe = this.#cluster.store.subscribe(() => this.#schedule())
    this.#schedule()
  }

  /** Stops reacting and clears every pending timer. */
  stop (): void {
    this.#stopped = true
    this.#unsubscribe?.()
    if (this.#scheduled !== undefined) { clearImmediate(this.#scheduled as NodeJS.Immediate); clearTimeout(this.#scheduled as NodeJS.Timeout) }
    for (const t of this.#timers.values()) clearTimeout(t)
    this.#timers.clear()
  }

  #schedule (delayMs = 0): void {
    if (this.#stopped) return
    if (this.#running) { this.#dirty = true; return }
    if (this.#scheduled !== undefined) return
    const run = (): void => { this.#scheduled = undefined; void this.#pass() }
    this.#scheduled = delayMs === 0 ? setImmediate(run) : setTimeout(run, delayMs)
  }

  async #pass (): Promise<void> {
    this.#running = true
    this.#dirty = false
    let failed = false
    const steps: Array<[boolean, string, () => Promise<void> | void]> = [
      [this.#opts.deployments, 'deployment', () => this.#deployments()],
      [this.#opts.daemonSets, 'daemonset', () => this.#daemonSets()],
      [this.#opts.replicaSets, 'replicaset', () => this.#replicaSets()],
      [this.#opts.kubelet, 'kubelet', () => this.#kubelet()],
      [this.#opts.disruption, 'disruption', () => this.#disruption()]
    ]
    for (const [enabled, name, step] of steps) {
      if (!enabled || this.#stopped) continue
      try {
        await step()
      } catch (err) {
        failed = true
        this.#log.debug({ controller: name, err: (err as Error).message }, 'controller pass failed; will retry')
      }
    }
    this.#running = false
    if (this.#dirty) this.#schedule()
    else if (failed) this.#schedule(RETRY_MS)
  }

  #nodes (): NodeLike[] {
    return this.#cluster.store.list(NODES) as unknown as NodeLike[]
  }

  async #writeStatus (t: ResourceType, obj: KubeObject, status: Record<string, unknown>): Promise<void> {
    const merged = { ...obj.status, ...status }
    if (sameJson(merged, obj.status)) return
    await this.#cluster.update(t, obj.metadata.namespace, obj.metadata.name, { ...obj, status: merged }, { subresource: 'status', admission: false })
  }

  async #daemonSets (): Promise<void> {
    const nodes = this.#nodes()
    for (const ds of this.#cluster.store.list(DAEMONSETS)) {
      if (ds.metadata.deletionTimestamp !== undefined) continue
      const pods = this.#cluster.store.list(PODS, ds.metadata.namespace)
      const plan = daemonSetPlan(ds, nodes, pods)
      for (const pod of plan.remove) this.#cluster.delete(PODS, pod.metadata.namespace, pod.metadata.name)
      const template = ds.spec?.template ?? {}
      for (const nodeName of plan.create) {
        await this.#cluster.create(PODS, ds.metadata.namespace, {
          metadata: {
            name: '',
            generateName: `${ds.metadata.name}-`,
            labels: { ...template.metadata?.labels, [TEMPLATE_GENERATION_LABEL]: String(ds.metadata.generation ?? 1) },
            ...(template.metadata?.annotations === undefined ? {} : { annotations: template.metadata.annotations }),
            ownerReferences: [ownerRef(ds, 'DaemonSet')]
          },
          spec: { ...daemonPodSpec(ds), nodeName }
        })
      }
      await this.#writeStatus(DAEMONSETS, ds, plan.status)
    }
  }

  async #deployments (): Promise<void> {
    for (const d of this.#cluster.store.list(DEPLOYMENTS)) {
      if (d.metadata.deletionTimestamp !== undefined) continue
      const hash = templateHash(d.spec?.template)
      const owned = this.#cluster.store.list(REPLICASETS, d.metadata.namespace).filter(rs => isControlledBy(rs, d))
      let current = owned.find(rs => rs.metadata.labels?.[TEMPLATE_HASH_LABEL] === hash)
      const replicas: number = d.spec?.replicas ?? 1
      if (current === undefined) {
        const template = structuredClone(d.spec?.template ?? {})
        template.metadata = { ...template.metadata, labels: { ...template.metadata?.labels, [TEMPLATE_HASH_LABEL]: hash } }
        const selector = structuredClone(d.spec?.selector ?? {})
        selector.matchLabels = { ...selector.matchLabels, [TEMPLATE_HASH_LABEL]: hash }
        current = (await this.#cluster.create(REPLICASETS, d.metadata.namespace, {
          metadata: { name: `${d.metadata.name}-${hash}`, labels: template.metadata.labels, ownerReferences: [ownerRef(d, 'Deployment')] },
          spec: { replicas, selector, template }
        }, { admission: false })).object
      } else if (current.spec?.replicas !== replicas) {
        await this.#cluster.update(REPLICASETS, current.metadata.namespace, current.metadata.name, { ...current, spec: { ...current.spec, replicas } }, { admission: false })
      }
      for (const old of owned) {
        if (old.metadata.uid !== current.metadata.uid && old.spec?.replicas !== 0) {
          await this.#cluster.update(REPLICASETS, old.metadata.namespace, old.metadata.name, { ...old, spec: { ...old.spec, replicas: 0 } }, { admission: false })
        }
      }
      const rsStatus = current.status ?? {}
      const ready: number = rsStatus.readyReplicas ?? 0
      await this.#writeStatus(DEPLOYMENTS, d, {
        observedGeneration: d.metadata.generation ?? 1,
        replicas: rsStatus.replicas ?? 0,
        updatedReplicas: rsStatus.replicas ?? 0,
        readyReplicas: ready,
        availableReplicas: ready,
        unavailableReplicas: Math.max(0, replicas - ready)
      })
    }
  }

  async #replicaSets (): Promise<void> {
    const nodes = this.#nodes()
    for (const rs of this.#cluster.store.list(REPLICASETS)) {
      if (rs.metadata.deletionTimestamp !== undefined) continue
      const pods = this.#cluster.store.list(PODS, rs.metadata.namespace)
      const plan = replicaSetPlan(rs, pods)
      const template = rs.spec?.template ?? {}
      const spec = template.spec ?? {}
      for (const pod of plan.remove) this.#cluster.delete(PODS, pod.metadata.namespace, pod.metadata.name)
      // Bind pods left pending when no node fitted.
      for (const pod of pods.filter(p => isControlledBy(p, rs) && isActive(p) && p.spec?.nodeName === undefined)) {
        const node = chooseNode(pod.spec ?? {}, nodes, plan.load)
        if (node === undefined) continue
        plan.load.set(node.metadata.name, (plan.load.get(node.metadata.name) ?? 0) + 1)
        this.#cluster.store.replace(PODS, { ...pod, spec: { ...pod.spec, nodeName: node.metadata.name } })
      }
      for (let i = 0; i < plan.create; i++) {
        const node = chooseNode(spec, nodes, plan.load)
        if (node !== undefined) plan.load.set(node.metadata.name, (plan.load.get(node.metadata.name) ?? 0) + 1)
        await this.#cluster.create(PODS, rs.metadata.namespace, {
          metadata: {
            name: '',
            generateName: `${rs.metadata.name}-`,
            labels: { ...template.metadata?.labels },
            ...(template.metadata?.annotations === undefined ? {} : { annotations: template.metadata.annotations }),
            ownerReferences: [ownerRef(rs, 'ReplicaSet')]
          },
          spec: node === undefined ? structuredClone(spec) : { ...structuredClone(spec), nodeName: node.metadata.name }
        })
      }
      await this.#writeStatus(REPLICASETS, rs, plan.status)
    }
  }

  #timer (key: string, delayMs: number, action: () => Promise<void> | void): void {
    if (this.#timers.has(key)) return
    this.#timers.set(key, setTimeout(() => {
      this.#timers.delete(key)
      Promise.resolve().then(action).catch(err => {
        this.#log.debug({ key, err: (err as Error).message }, 'kubelet action failed; will retry')
        this.#schedule(RETRY_MS)
      })
    }, Math.max(0, delayMs)))
  }

  #kubelet (): void {
    const nodes = new Map(this.#nodes().map(n => [n.metadata.name, n]))
    for (const pod of this.#cluster.store.list(PODS)) {
      const nodeName: string | undefined = pod.spec?.nodeName
      const node = nodeName === undefined ? undefined : nodes.get(nodeName)
      const { namespace, name, uid } = pod.metadata
      if (nodeName === undefined) continue
      if (node === undefined) {
        // Pod garbage collection: pods bound to a node that no longer exists are force-deleted.
        this.#cluster.delete(PODS, namespace, name, { gracePeriodSeconds: 0 })
        continue
      }
      if (pod.metadata.deletionTimestamp !== undefined) {
        const graceMs = Date.parse(pod.metadata.deletionTimestamp) - Date.now()
        const delay = this.#opts.kubeletDelayMs === undefined ? graceMs : Math.min(graceMs, this.#opts.kubeletDelayMs)
        this.#timer(`${uid}/terminate`, delay, () => { this.#cluster.finishPodTermination(namespace!, name) })
        continue
      }
      if (untoleratedTaints(node, pod.spec?.tolerations, ['NoExecute']).length > 0) {
        this.#cluster.delete(PODS, namespace, name)
        continue
      }
      if (pod.status?.phase === 'Pending') this.#timer(`${uid}/start`, this.#opts.readyDelayMs, () => this.#startPod(namespace!, name, uid!, node))
    }
  }

  async #startPod (namespace: string, name: string, uid: string, node: NodeLike): Promise<void> {
    const pod = this.#cluster.store.get(PODS, namespace, name)
    if (pod === undefined || pod.metadata.uid !== uid || pod.metadata.deletionTimestamp !== undefined || pod.status?.phase !== 'Pending') return
    const now = this.#cluster.store.timestamp()
    const condition = (t: string): Record<string, unknown> => ({ type: t, status: 'True', lastProbeTime: null, lastTransitionTime: now })
    const hostIP = (node as { status?: { addresses?: Array<{ type: string, address: string }> } }).status?.addresses?.find(a => a.type === 'InternalIP')?.address
    this.#podIp++
    await this.#writeStatus(PODS, pod, {
      phase: 'Running',
      conditions: ['PodReadyToStartContainers', 'Initialized', 'Ready', 'ContainersReady', 'PodScheduled'].map(condition),
      hostIP,
      podIP: `10.244.${Math.floor(this.#podIp / 250) % 250}.${(this.#podIp % 250) + 2}`,
      startTime: now,
      containerStatuses: (pod.spec?.containers ?? []).map((c: { name: string, image: string }, i: number) => ({
        name: c.name,
        image: c.image,
        imageID: '',
        containerID: `containerd://${uid.replaceAll('-', '')}${i}`,
        ready: true,
        started: true,
        restartCount: 0,
        state: { running: { startedAt: now } }
      }))
    })
  }

  async #disruption (): Promise<void> {
    for (const pdb of this.#cluster.store.list(PDBS)) {
      const n = this.#cluster.budgetNumbers(pdb)
      const allowed = n.disruptionsAllowed > 0
      const previous = (pdb.status?.conditions as Array<Record<string, unknown>> | undefined)?.find(c => c.type === 'DisruptionAllowed')
      const status = allowed ? 'True' : 'False'
      const condition = {
        type: 'DisruptionAllowed',
        status,
        reason: allowed ? 'SufficientPods' : 'InsufficientPods',
        message: '',
        observedGeneration: pdb.metadata.generation ?? 1,
        lastTransitionTime: previous?.status === status ? previous.lastTransitionTime : this.#cluster.store.timestamp()
      }
      await this.#writeStatus(PDBS, pdb, { ...n, observedGeneration: pdb.metadata.generation ?? 1, disruptedPods: pdb.status?.disruptedPods ?? {}, conditions: [condition] })
    }
  }
}
