/**
 * Events are one resource served in two API groups: core/v1 and events.k8s.io/v1
 * read and write the same stored objects (an event created through one is listed
 * through the other, e.g. by `kubectl get events`). This module converts between
 * the two shapes (pkg/apis/events/v1/conversion.go) and holds the create-time
 * validation each version applies (pkg/apis/core/validation/events.go).
 */
import type { KubeObject } from './store.ts'

/** events.k8s.io/v1 field ↔ core/v1 field, for the fields whose names differ. */
const RENAMED: ReadonlyArray<readonly [string, string]> = [
  ['regarding', 'involvedObject'],
  ['note', 'message'],
  ['reportingController', 'reportingComponent'],
  ['deprecatedSource', 'source'],
  ['deprecatedFirstTimestamp', 'firstTimestamp'],
  ['deprecatedLastTimestamp', 'lastTimestamp'],
  ['deprecatedCount', 'count']
]

function rename (obj: KubeObject, pairs: ReadonlyArray<readonly [string, string]>, apiVersion: string): KubeObject {
  const out: KubeObject = { ...structuredClone(obj), apiVersion, kind: 'Event' }
  for (const [from, to] of pairs) {
    delete out[from]
    if (obj[from] !== undefined) out[to] = structuredClone(obj[from])
  }
  return out
}

/** An events.k8s.io/v1 Event as the stored core/v1 Event. */
export function toCoreEvent (event: KubeObject): KubeObject {
  return rename(event, RENAMED, 'v1')
}

/** A stored core/v1 Event as events.k8s.io/v1 shows it. */
export function fromCoreEvent (event: KubeObject): KubeObject {
  return rename(event, RENAMED.map(([a, b]) => [b, a] as const), 'events.k8s.io/v1')
}

type Cause = { field: string, message: string, reason?: string }

const required = (field: string): Cause => ({ field, message: 'Required value', reason: 'FieldValueRequired' })

/**
 * Create-time validation. Both versions: the namespace of the event must match its
 * object's (an event about a cluster-scoped object such as a Node lives in
 * `default`). events.k8s.io/v1 also requires eventTime, reportingController,
 * reportingInstance, action and reason, a type of Normal or Warning, and the
 * deprecated fields unset.
 */
export function eventCauses (event: KubeObject, group: '' | 'events.k8s.io'): Cause[] {
  const modern = group === 'events.k8s.io'
  const objectField = modern ? 'regarding' : 'involvedObject'
  const objectNamespace: string = event[objectField]?.namespace ?? ''
  const namespace = event.metadata.namespace ?? ''
  const out: Cause[] = []
  const mismatch = objectNamespace === '' ? namespace !== '' && namespace !== 'default' : namespace !== objectNamespace
  if (mismatch) out.push({ field: `${objectField}.namespace`, message: `Invalid value: ${JSON.stringify(objectNamespace)}: does not match event.namespace` })
  if (!modern) return out
  for (const field of ['eventTime', 'reportingController', 'reportingInstance', 'action', 'reason']) {
    if (event[field] === undefined || event[field] === null || event[field] === '') out.push(required(field))
  }
  if (event.type !== 'Normal' && event.type !== 'Warning') out.push({ field: 'type', message: `Invalid value: "": has invalid value: ${event.type ?? ''}` })
  for (const field of ['deprecatedFirstTimestamp', 'deprecatedLastTimestamp', 'deprecatedCount', 'deprecatedSource']) {
    if (event[field] !== undefined && event[field] !== null && event[field] !== 0 && JSON.stringify(event[field]) !== '{}') {
      out.push({ field: field.replace(/^deprecated(.)/, (_, c: string) => c.toLowerCase()), message: 'Invalid value: "": needs to be unset' })
    }
  }
  if (typeof event.note === 'string' && Buffer.byteLength(event.note) > 1024) out.push({ field: 'note', message: 'Too long: may not be more than 1024 bytes', reason: 'FieldValueTooLong' })
  return out
}
