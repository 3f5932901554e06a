/**
 * The three patch types the API server accepts on PATCH, applied to plain JSON objects.
 *
 * - `application/json-patch+json` (RFC 6902) through fast-json-patch; a failing op is
 *   a 422, as in the API server's applyJSPatch.
 * - `application/merge-patch+json` (RFC 7386): objects merge, `null` deletes, arrays replace.
 * - `application/strategic-merge-patch+json`, the subset this project needs:
 *   like merge patch, but lists whose Go type declares `patchStrategy:"merge"` merge
 *   by their `patchMergeKey` (table below: containers/volumes/env by name, conditions
 *   by type, ownerReferences by uid, finalizers as a set, ...). Lists declared atomic
 *   in k8s.io/api — notably `spec.taints` and `spec.tolerations` — are replaced
 *   whole, exactly as the real server does. Directives supported: `$patch: replace`
 *   and `$patch: delete` (on maps and list items), `$deleteFromPrimitiveList/<field>`,
 *   and `$setElementOrder/<field>` (accepted and ignored; order follows the merge).
 */
import jsonpatch from 'fast-json-patch'
import { ApiError, badRequest, unsupportedMediaType } from './status.ts'

import { isJsonObject as isObject, type JsonObject } from '#common/json.ts'

/** RFC 7386 JSON merge patch. Returns a new value; inputs are not modified. */
export function mergePatch (target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return structuredClone(patch)
  const out: JsonObject = isObject(target) ? structuredClone(target) : {}
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key]
    else out[key] = mergePatch(out[key], value)
  }
  return out
}

/**
 * Merge keys of lists that strategic merge patch merges instead of replacing, by
 * field name (from the `patchMergeKey` tags in k8s.io/api core/v1, apps/v1, meta/v1).
 * `null` means a list of primitives merged as a set (finalizers).
 */
const MERGE_KEYS: Record<string, string | null> = {
  containers: 'name',
  initContainers: 'name',
  ephemeralContainers: 'name',
  volumes: 'name',
  env: 'name',
  volumeMounts: 'mountPath',
  volumeDevices: 'devicePath',
  ports: 'containerPort',
  imagePullSecrets: 'name',
  hostAliases: 'ip',
  conditions: 'type',
  addresses: 'type',
  ownerReferences: 'uid',
  finalizers: null
}

function mergeList (field: string, original: unknown[], patch: unknown[]): unknown[] {
  const mergeKey = MERGE_KEYS[field]
  if (mergeKey === undefined) return structuredClone(patch).filter(item => !(isObject(item) && item.$patch === 'delete'))
  if (mergeKey === null) {
    const out = [...original]
    for (const item of patch) if (!out.includes(item)) out.push(item)
    return out
  }
  if (patch.some(item => isObject(item) && item.$patch === 'replace')) {
    return patch.filter(item => !(isObject(item) && item.$patch === 'replace')).map(i => structuredClone(i))
  }
  const out: unknown[] = structuredClone(original)
  for (const item of patch) {
    if (!isObject(item)) throw badRequest(`strategic merge patch: list "${field}" expects objects with the merge key "${mergeKey}"`)
    const index = out.findIndex(existing => isObject(existing) && existing[mergeKey] === item[mergeKey])
    if (item.$patch === 'delete') {
      if (index >= 0) out.splice(index, 1)
    } else if (index >= 0) {
      out[index] = strategicMerge(out[index], item)
    } else {
      out.push(strategicMerge({}, item))
    }
  }
  return out
}

/** Applies the strategic-merge subset described in the module comment. Returns a new value. */
export function strategicMerge (target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return structuredClone(patch)
  if (patch.$patch === 'replace') {
    const { $patch: _, ...rest } = patch
    return structuredClone(rest)
  }
  if (patch.$patch === 'delete') return undefined
  const out: JsonObject = isObject(target) ? structuredClone(target) : {}
  for (const [key, value] of Object.entries(patch)) {
    if (key === '$patch' || key.startsWith('$setElementOrder/') || key === '$retainKeys') continue
    if (key.startsWith('$deleteFromPrimitiveList/')) {
      const field = key.slice('$deleteFromPrimitiveList/'.length)
      const current = out[field]
      if (Array.isArray(current) && Array.isArray(value)) out[field] = current.filter(v => !value.includes(v))
      continue
    }
    if (value === null) { delete out[key]; continue }
    const current = out[key]
    if (Array.isArray(value)) out[key] = mergeList(key, Array.isArray(current) ? current : [], value)
    else if (isObject(value)) {
      const merged = strategicMerge(current, value)
      if (merged === undefined) delete out[key]
      else out[key] = merged
    } else out[key] = value
  }
  return out
}

/** Applies an RFC 6902 JSON patch; an invalid or failing operation is a 422 ApiError. */
export function applyJsonPatch (target: unknown, ops: unknown): unknown {
  if (!Array.isArray(ops)) throw badRequest('json patch: the body must be a JSON array of operations')
  try {
    return jsonpatch.applyPatch(structuredClone(target), ops as jsonpatch.Operation[], true, false).newDocument
  } catch {
    // The API server answers NewGenericServerResponse(422, ...): a generic message, no details.
    throw new ApiError({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'the server rejected our request due to an error in our request', reason: 'Invalid', code: 422 })
  }
}

/** Applies `patch` of the given content type (parameters like `; charset=utf-8` ignored). */
export function applyPatch (contentType: string, target: unknown, patch: unknown): unknown {
  const type = contentType.split(';')[0]!.trim().toLowerCase()
  switch (type) {
    case 'application/json-patch+json': return applyJsonPatch(target, patch)
    case 'application/merge-patch+json': return mergePatch(target, patch)
    case 'application/strategic-merge-patch+json': return strategicMerge(target, patch)
    default: throw unsupportedMediaType(contentType)
  }
}
