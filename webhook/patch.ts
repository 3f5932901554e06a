/**
 * The nodeSelector patch (pure): the smallest JSON Patch that merges the wanted
 * labels into `spec.template.spec.nodeSelector`, keeping every existing key.
 */
import jsonpatch from 'fast-json-patch'
import type { Operation } from 'fast-json-patch'
import { clip, describeType, isJsonObject, type JsonObject } from '#common/json.ts'

/** Where the pod template's nodeSelector lives in a DaemonSet. */
const POD_SPEC_PATH = ['spec', 'template', 'spec'] as const

/** The patch, the labels it adds, and any warnings about keys that were left alone. */
export interface SelectorPatch {
  ops: Operation[]
  added: Readonly<Record<string, string>>
  warnings: string[]
}

/** The JSON Pointer of the pod template's nodeSelector. */
const SELECTOR_POINTER = [...POD_SPEC_PATH, 'nodeSelector'].map(s => '/' + jsonpatch.escapePathComponent(s)).join('')

/**
 * Returns the operations that make `selector` part of the object's pod nodeSelector:
 * one `add` of the whole map when there is none, else one `add` per missing key.
 * A key already present with another value is kept and reported in `warnings`.
 * Applying the ops and calling again yields no ops.
 */
export function nodeSelectorPatch (object: JsonObject, selector: Readonly<Record<string, string>>): SelectorPatch {
  const warnings: string[] = []
  let podSpec: unknown = object
  for (const key of POD_SPEC_PATH) podSpec = isJsonObject(podSpec) && Object.hasOwn(podSpec, key) ? podSpec[key] : undefined
  if (!isJsonObject(podSpec)) return { ops: [], added: {}, warnings: ['spec.template.spec is missing, so no nodeSelector was injected'] }
  const current = Object.hasOwn(podSpec, 'nodeSelector') ? podSpec.nodeSelector : undefined
  if (current === undefined || current === null) {
    return { ops: Object.keys(selector).length === 0 ? [] : [{ op: 'add', path: SELECTOR_POINTER, value: { ...selector } }], added: selector, warnings }
  }
  if (!isJsonObject(current)) return { ops: [], added: {}, warnings: ['spec.template.spec.nodeSelector is not a map, so no nodeSelector was injected'] }
  const ops: Operation[] = []
  // Keys come from the configuration, but a null prototype keeps any key an ordinary one.
  const added: Record<string, string> = Object.create(null)
  for (const [key, value] of Object.entries(selector)) {
    if (!Object.hasOwn(current, key)) {
      ops.push({ op: 'add', path: `${SELECTOR_POINTER}/${jsonpatch.escapePathComponent(key)}`, value })
      added[key] = value
    } else if (current[key] !== value) {
      const existing = current[key]
      warnings.push(`nodeSelector already has ${key}=${typeof existing === 'string' ? clip(existing) : describeType(existing)}; left as it is instead of ${key}=${value}`)
    }
  }
  return { ops, added, warnings }
}
