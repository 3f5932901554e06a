/**
 * Placement rules shared by the controllers (pure): taints and tolerations
 * (k8s.io/api core/v1 Toleration.ToleratesTaint semantics), nodeSelector and
 * required node affinity, node readiness/schedulability and pod readiness.
 */
import { expressionRequirement, matchesRequirements, type LabelRequirement } from './selectors.ts'

/** A node taint. */
export interface Taint { key: string, value?: string, effect: string, timeAdded?: string }

/** A pod toleration. */
export interface Toleration { key?: string, operator?: string, value?: string, effect?: string, tolerationSeconds?: number }

/** The fields of a Node the rules look at. */
export interface NodeLike {
  metadata: { name: string, labels?: Record<string, string> }
  spec?: { unschedulable?: boolean, taints?: Taint[] }
  status?: { conditions?: Array<{ type: string, status: string }> }
}

/** The fields of a pod spec the rules look at. */
export interface PodSpecLike {
  nodeSelector?: Record<string, string>
  tolerations?: Toleration[]
  affinity?: { nodeAffinity?: { requiredDuringSchedulingIgnoredDuringExecution?: { nodeSelectorTerms?: NodeSelectorTerm[] } } }
}

/** One term of required node affinity (terms are ORed, expressions ANDed). */
export interface NodeSelectorTerm {
  matchExpressions?: Array<{ key: string, operator: string, values?: string[] }>
  matchFields?: Array<{ key: string, operator: string, values?: string[] }>
}

/** Whether one toleration tolerates one taint (empty key + Exists tolerates everything). */
export function tolerates (toleration: Toleration, taint: Taint): boolean {
  if (toleration.effect !== undefined && toleration.effect !== '' && toleration.effect !== taint.effect) return false
  if (toleration.key !== undefined && toleration.key !== '' && toleration.key !== taint.key) return false
  const operator = toleration.operator ?? 'Equal'
  if (operator === 'Exists') return true
  return operator === 'Equal' && (toleration.value ?? '') === (taint.value ?? '')
}

/** Taints of `node` with one of `effects` that no toleration tolerates. */
export function untoleratedTaints (node: NodeLike, tolerations: readonly Toleration[] | undefined, effects: readonly string[]): Taint[] {
  return (node.spec?.taints ?? []).filter(t => effects.includes(t.effect) && !(tolerations ?? []).some(tol => tolerates(tol, t)))
}

function termRequirements (expressions: NonNullable<NodeSelectorTerm['matchExpressions']>): LabelRequirement[] | undefined {
  const out: LabelRequirement[] = []
  for (const e of expressions) {
    const requirement: LabelRequirement | undefined =
      e.operator === 'Gt' ? { key: e.key, op: 'gt', value: Number(e.values?.[0]) }
        : e.operator === 'Lt' ? { key: e.key, op: 'lt', value: Number(e.values?.[0]) }
          : expressionRequirement(e)
    if (requirement === undefined) return undefined
    out.push(requirement)
  }
  return out
}

/** Whether the node satisfies the pod's nodeSelector and required node affinity (matchFields: metadata.name only). */
export function matchesNodeSelection (spec: PodSpecLike, node: NodeLike): boolean {
  const labels = node.metadata.labels ?? {}
  for (const [key, value] of Object.entries(spec.nodeSelector ?? {})) if (labels[key] !== value) return false
  const terms = spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms
  if (terms === undefined || terms.length === 0) return true
  return terms.some(term => {
    const reqs = termRequirements(term.matchExpressions ?? [])
    const fields = termRequirements(term.matchFields ?? [])
    return reqs !== undefined && fields !== undefined && (reqs.length + fields.length > 0) &&
      matchesRequirements(reqs, labels) && matchesRequirements(fields, { 'metadata.name': node.metadata.name })
  })
}

/** Whether the node's Ready condition is True. */
export function isNodeReady (node: NodeLike): boolean {
  return node.status?.conditions?.some(c => c.type === 'Ready' && c.status === 'True') === true
}

/**
 * Whether a new pod with this spec may be placed on the node: not cordoned, Ready,
 * selected, and every NoSchedule/NoExecute taint tolerated.
 */
export function canSchedule (spec: PodSpecLike, node: NodeLike): boolean {
  return node.spec?.unschedulable !== true && isNodeReady(node) && matchesNodeSelection(spec, node) &&
    untoleratedTaints(node, spec.tolerations, ['NoSchedule', 'NoExecute']).length === 0
}

/** The fields of a pod the readiness rules look at. */
export interface PodLike {
  metadata: { deletionTimestamp?: string }
  status?: { phase?: string, conditions?: Array<{ type: string, status: string }> }
}

/** Whether the pod's Ready condition is True. */
export function isPodReady (pod: PodLike): boolean {
  return pod.status?.conditions?.some(c => c.type === 'Ready' && c.status === 'True') === true
}

/**
 * Healthy as the disruption controller counts it: Ready and not being deleted
 * (pkg/controller/disruption: countHealthyPods skips pods with a deletionTimestamp).
 */
export function isPodHealthy (pod: PodLike): boolean {
  return pod.metadata.deletionTimestamp === undefined && isPodReady(pod)
}

/** Tolerations the DaemonSet controller adds to every daemon pod (pkg/controller/daemon/util.AddOrUpdateDaemonPodTolerations). */
export const DAEMON_POD_TOLERATIONS: readonly Toleration[] = [
  { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute' },
  { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute' },
  { key: 'node.kubernetes.io/disk-pressure', operator: 'Exists', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/memory-pressure', operator: 'Exists', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/pid-pressure', operator: 'Exists', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' }
]
