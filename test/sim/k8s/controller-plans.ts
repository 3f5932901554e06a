/**
 * What the tiny controllers should do, as pure functions of the current objects:
 * - DaemonSet: one pod per node where the pod should run (nodeSelector/affinity
 *   match and every NoSchedule/NoExecute taint tolerated, with the daemon pod
 *   tolerations added); pods stay while only NoExecute taints are tolerated
 *   (pkg/controller/daemon: NodeShouldRunDaemonPod's shouldRun / shouldContinueRunning);
 *   pods of an older template generation are replaced.
 * - ReplicaSet: keep `replicas` active pods; new pods go to the schedulable node
 *   (not cordoned, Ready, selected, taints tolerated) with the fewest pods of the
 *   ReplicaSet, so a replacement avoids the node its predecessor left.
 * - Deployment: one ReplicaSet per pod template (named by a template hash), scaled
 *   to `replicas`; older ones scaled to zero (a Recreate-style rollout).
 */
import { createHash } from 'node:crypto'
import { canSchedule, DAEMON_POD_TOLERATIONS, isPodReady, matchesNodeSelection, untoleratedTaints, type NodeLike, type PodSpecLike } from './scheduling.ts'
import type { KubeObject } from './store.ts'

/** Label carrying the DaemonSet generation a pod was made from. */
export const TEMPLATE_GENERATION_LABEL = 'pod-template-generation'
/** Label carrying the Deployment template hash on ReplicaSets and pods. */
export const TEMPLATE_HASH_LABEL = 'pod-template-hash'

/** Whether `pod` is controlled by `owner` (controller ownerReference with its uid). */
export function isControlledBy (pod: KubeObject, owner: KubeObject): boolean {
  return pod.metadata.ownerReferences?.some(r => r.controller === true && r.uid === owner.metadata.uid) === true
}

/** Not being deleted and not finished: what controllers count as an existing replica. */
export function isActive (pod: KubeObject): boolean {
  return pod.metadata.deletionTimestamp === undefined && !['Succeeded', 'Failed'].includes(pod.status?.phase)
}

/** The spec a daemon pod gets: the template's, plus the tolerations the DaemonSet controller adds. */
export function daemonPodSpec (ds: KubeObject): PodSpecLike & Record<string, unknown> {
  const spec = structuredClone(ds.spec?.template?.spec ?? {})
  const tolerations = [...(spec.tolerations ?? [])]
  for (const t of DAEMON_POD_TOLERATIONS) {
    if (!tolerations.some((x: { key?: string, effect?: string }) => x.key === t.key && x.effect === t.effect)) tolerations.push({ ...t })
  }
  return { ...spec, tolerations }
}

/** The DaemonSet controller's decision for one DaemonSet. */
export interface DaemonSetPlan {
  /** Nodes that need a pod. */
  create: string[]
  /** Pods to delete (misplaced, duplicate, outdated, or on a node that is gone). */
  remove: KubeObject[]
  status: Record<string, number>
}

/** Plans one DaemonSet against the nodes and its pods. */
export function daemonSetPlan (ds: KubeObject, nodes: readonly NodeLike[], pods: readonly KubeObject[]): DaemonSetPlan {
  const spec = daemonPodSpec(ds)
  const generation = String(ds.metadata.generation ?? 1)
  const owned = pods.filter(p => isControlledBy(p, ds) && isActive(p))
  const plan: DaemonSetPlan = { create: [], remove: [], status: {} }
  let desired = 0; let current = 0; let misscheduled = 0; let ready = 0; let updated = 0
  const nodeNames = new Set(nodes.map(n => n.metadata.name))
  for (const node of nodes) {
    const selected = matchesNodeSelection(spec, node)
    const shouldRun = selected && untoleratedTaints(node, spec.tolerations, ['NoSchedule', 'NoExecute']).length === 0
    const shouldContinue = selected && untoleratedTaints(node, spec.tolerations, ['NoExecute']).length === 0
    const here = owned.filter(p => p.spec?.nodeName === node.metadata.name)
    if (shouldRun) {
      desired++
      if (here.length > 0) current++
    } else if (here.length > 0) misscheduled++
    if (!shouldContinue) { plan.remove.push(...here); continue }
    const [keep, ...extra] = here
    plan.remove.push(...extra)
    if (keep === undefined) {
      if (shouldRun) plan.create.push(node.metadata.name)
      continue
    }
    if (keep.metadata.labels?.[TEMPLATE_GENERATION_LABEL] !== generation) { plan.remove.push(keep); continue }
    updated++
    if (isPodReady(keep)) ready++
  }
  plan.remove.push(...owned.filter(p => p.spec?.nodeName === undefined || !nodeNames.has(p.spec.nodeName)))
  plan.status = {
    currentNumberScheduled: current,
    desiredNumberScheduled: desired,
    numberMisscheduled: misscheduled,
    numberReady: ready,
    numberAvailable: ready,
    numberUnavailable: Math.max(0, desired - ready),
    updatedNumberScheduled: updated,
    observedGeneration: ds.metadata.generation ?? 1
  }
  return plan
}

/**
 * Picks a node for a new pod: schedulable for the spec, fewest pods of the same
 * controller first (`load` counts them per node), then by name for determinism.
 */
export function chooseNode (spec: PodSpecLike, nodes: readonly NodeLike[], load: ReadonlyMap<string, number>): NodeLike | undefined {
  return nodes
    .filter(n => canSchedule(spec, n))
    .sort((a, b) => (load.get(a.metadata.name) ?? 0) - (load.get(b.metadata.name) ?? 0) || a.metadata.name.localeCompare(b.metadata.name))[0]
}

/** The ReplicaSet controller's decision for one ReplicaSet. */
export interface ReplicaSetPlan {
  create: number
  remove: KubeObject[]
  /** Pods per node of this ReplicaSet, terminating ones included (for spreading). */
  load: Map<string, number>
  status: Record<string, number>
}

/** Plans one ReplicaSet against its pods. */
export function replicaSetPlan (rs: KubeObject, pods: readonly KubeObject[]): ReplicaSetPlan {
  const owned = pods.filter(p => isControlledBy(p, rs))
  const active = owned.filter(isActive)
  const replicas: number = rs.spec?.replicas ?? 1
  const load = new Map<string, number>()
  for (const p of owned) if (p.spec?.nodeName !== undefined) load.set(p.spec.nodeName, (load.get(p.spec.nodeName) ?? 0) + 1)
  // Deletion order like controller.ActivePods: unscheduled, then not ready, then newest.
  const rank = (p: KubeObject): number => (p.spec?.nodeName === undefined ? 0 : isPodReady(p) ? 2 : 1)
  const surplus = [...active].sort((a, b) => rank(a) - rank(b) || String(b.metadata.creationTimestamp).localeCompare(String(a.metadata.creationTimestamp)))
  const readyCount = active.filter(isPodReady).length
  return {
    create: Math.max(0, replicas - active.length),
    remove: surplus.slice(0, Math.max(0, active.length - replicas)),
    load,
    status: {
      replicas: active.length,
      fullyLabeledReplicas: active.length,
      readyReplicas: readyCount,
      availableReplicas: readyCount,
      observedGeneration: rs.metadata.generation ?? 1
    }
  }
}

/** A stable short hash of a pod template (the Deployment's pod-template-hash). */
export function templateHash (template: unknown): string {
  return createHash('sha256').update(JSON.stringify(template ?? {})).digest('hex').slice(0, 10)
}
