/**
 * The nodeSelector patch (pure): the smallest JSON Patch that merges the wanted
 * labels into `spec.template.spec.nodeSelector`, keeping every existing key.
 */
import jsonpatch from 'fast-json-patch'
import type { Operation } from 'fast-json-patch'
import { isJsonObject, type JsonObject } from '#common/json.ts'

/** Where the pod template's nodeSelector lives in a DaemonSet. */
const POD_SPEC_PATH = ['spec', 'template', 'spec'] as const

/** The patch, the labels it adds, and any warnings about keys that were left alone. */
export interface SelectorPatch {
  ops: Operation[]
  added: Record<string, string>
  warnings: string[]
}

function pointer (segments: readonly string[]): string {
  return segments.map(s => '/' + jsonpatch.escapePathComponent(s)).join('')
}

/**
 * Returns the operations that make `selector` part of the object's pod nodeSelector:
 * one `add` of the whole map when there is none, else one `add` per missing key.
 * A key already present with another value is kept and reported in `warnings`.
 * Applying the ops and calling again yields no ops.
 */
export function nodeSelectorPatch (object: JsonObject, selector: Readonly<Record<string, string>>): SelectorPatch {
  const warnings: string[] = []
  let podSpec: unknown = object
  for (const key of POD_SPEC_PATH) podSpec = isJsonObject(podSpec) ? podSpec[key] : undefined
  if (!isJsonObject(podSpec)) return { ops: [], added: {}, warnings: ['spec.template.spec is missing, so no nodeSelector was injected'] }
  const current = podSpec.nodeSelector
  const selectorPath = [...POD_SPEC_PATH, 'nodeSelector']
  let ops: Operation[]
  const added: Record<string, string> = {}
  if (current === undefined || current === null) {
    Object.assign(added, selector)
    ops = Object.keys(selector).length === 0 ? [] : [{ op: 'add', path: pointer(selectorPath), value: { ...selector } }]
  } else if (!isJsonObject(current)) {
    return { ops: [], added: {}, warnings: ['spec.template.spec.nodeSelector is not a map, so no nodeSelector was injected'] }
  } else {
    ops = []
    for (const [key, value] of Object.entries(selector)) {
      const existing = current[key]
      if (existing === undefined) {
        ops.push({ op: 'add', path: pointer([...selectorPath, key]), value })
        added[key] = value
      } else if (existing !== value) {
        warnings.push(`nodeSelector already has ${key}=${String(existing)}; left as it is instead of ${key}=${value}`)
      }
    }
  }
  return { ops, added, warnings }
}
