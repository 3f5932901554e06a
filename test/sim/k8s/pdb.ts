/**
 * PodDisruptionBudget status arithmetic (pure), following the disruption
 * controller (pkg/controller/disruption/disruption.go, getExpectedPodCount and
 * updatePdbStatus):
 * - minAvailable as an integer: expectedPods = matching pods, desiredHealthy = minAvailable;
 * - minAvailable as a percentage, or maxUnavailable: expectedPods = the summed scale of
 *   the pods' controllers (replicas of ReplicaSets/Deployments, desiredNumberScheduled
 *   of DaemonSets), percentages rounded up;
 * - currentHealthy = matching pods that are Ready and not being deleted;
 * - disruptionsAllowed = max(0, currentHealthy - desiredHealthy).
 * A pod without a controller makes percentage/maxUnavailable budgets fail closed
 * (disruptionsAllowed 0), as the controller does when it cannot find a scale.
 */
import { isPodHealthy, type PodLike } from './scheduling.ts'

/** `int` or `"NN%"`. */
export type IntOrPercent = number | string

/** The spec fields of a PodDisruptionBudget the arithmetic reads. */
export interface PdbSpec {
  minAvailable?: IntOrPercent
  maxUnavailable?: IntOrPercent
}

/** An owner reference as stored on pods. */
export interface OwnerRef { apiVersion: string, kind: string, name: string, uid: string, controller?: boolean }

/** A pod as the arithmetic sees it. */
export type PdbPod = PodLike & { metadata: { ownerReferences?: OwnerRef[] } }

/** The computed `status` of a PodDisruptionBudget (without observedGeneration/conditions). */
export interface PdbNumbers {
  currentHealthy: number
  desiredHealthy: number
  disruptionsAllowed: number
  expectedPods: number
}

/** Resolves an int-or-percent against a total; percentages round up (roundUp=true in the controller). */
export function scaledValue (value: IntOrPercent, total: number): number {
  if (typeof value === 'number') return value
  const m = /^(\d+)%$/.exec(value.trim())
  if (m !== null) return Math.ceil(Number(m[1]) * total / 100)
  if (/^\d+$/.test(value.trim())) return Number(value)
  throw new Error(`invalid value for IntOrString: invalid value "${value}": must be an integer or a percentage`)
}

function isPercent (value: IntOrPercent | undefined): boolean {
  return typeof value === 'string' && value.trim().endsWith('%')
}

/**
 * Computes a budget's numbers. `scaleOf` returns the desired size of a controller
 * (or undefined when it is unknown).
 */
export function computePdbNumbers (spec: PdbSpec, pods: readonly PdbPod[], scaleOf: (owner: OwnerRef) => number | undefined): PdbNumbers {
  const currentHealthy = pods.filter(isPodHealthy).length
  let expectedPods: number
  let desiredHealthy: number
  if (spec.maxUnavailable === undefined && !isPercent(spec.minAvailable)) {
    expectedPods = pods.length
    desiredHealthy = scaledValue(spec.minAvailable ?? 0, expectedPods)
  } else {
    const owners = new Map<string, OwnerRef>()
    let orphan = false
    for (const pod of pods) {
      const owner = pod.metadata.ownerReferences?.find(o => o.controller === true)
      if (owner === undefined) orphan = true
      else owners.set(owner.uid, owner)
    }
    const scales = [...owners.values()].map(scaleOf)
    if (orphan || scales.some(s => s === undefined)) {
      return { currentHealthy, desiredHealthy: 0, disruptionsAllowed: 0, expectedPods: 0 }
    }
    expectedPods = scales.reduce<number>((sum, s) => sum + (s ?? 0), 0)
    desiredHealthy = spec.maxUnavailable !== undefined
      ? Math.max(0, expectedPods - scaledValue(spec.maxUnavailable, expectedPods))
      : scaledValue(spec.minAvailable!, expectedPods)
  }
  return { currentHealthy, desiredHealthy, disruptionsAllowed: Math.max(0, currentHealthy - desiredHealthy), expectedPods }
}
