/**
 * The in-memory object store: one map per resource, a global resourceVersion
 * counter (as etcd's revision: every write bumps it and stamps the object with it),
 * uid/creationTimestamp/generation bookkeeping, optimistic concurrency, and change
 * events (with a bounded history so watches can resume from a resourceVersion).
 *
 * Pure of I/O; the clock is injected. Objects go in and come out as deep copies.
 */
import { randomUUID } from 'node:crypto'
import { apiVersionOf, type ResourceType } from './resources.ts'
import { alreadyExists, conflict, notFound } from './status.ts'

/** Object metadata fields the simulator manages. */
export interface ObjectMeta {
  name: string
  namespace?: string
  generateName?: string
  uid?: string
  resourceVersion?: string
  generation?: number
  creationTimestamp?: string
  deletionTimestamp?: string
  deletionGracePeriodSeconds?: number
  labels?: Record<string, string>
  annotations?: Record<string, string>
  ownerReferences?: Array<{ apiVersion: string, kind: string, name: string, uid: string, controller?: boolean, blockOwnerDeletion?: boolean }>
  finalizers?: string[]
  [key: string]: unknown
}

/** Any stored Kubernetes object. */
export interface KubeObject {
  apiVersion?: string
  kind?: string
  metadata: ObjectMeta
  [key: string]: any
}

/** A change to the store, as a watch reports it. */
export interface StoreEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED'
  resource: ResourceType
  object: KubeObject
  /** The store revision this change produced. */
  revision: number
}

/** Number of past events kept for watches that resume from an older resourceVersion. */
const HISTORY_LIMIT = 5000

/** RFC 3339 at second precision, as metav1.Time serialises. */
export function formatTime (date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z')
}

function keyOf (namespace: string | undefined, name: string): string {
  return `${namespace ?? ''}/${name}`
}

function specOf (obj: KubeObject): string {
  const { metadata: _m, status: _s, ...rest } = obj
  return JSON.stringify(rest)
}

/** The in-memory store. */
export class ObjectStore {
  #revision = 1
  readonly #objects = new Map<ResourceType, Map<string, KubeObject>>()
  readonly #listeners = new Set<(event: StoreEvent) => void>()
  readonly #history: StoreEvent[] = []
  /** Revisions before this one are compacted away (watches from them get 410 Gone). */
  #compactedAt = 0
  readonly #now: () => Date

  constructor (now: () => Date = () => new Date()) {
    this.#now = now
  }

  /** The current revision as a resourceVersion string (what lists report). */
  get resourceVersion (): string {
    return String(this.#revision)
  }

  /** The current time as metav1.Time. */
  timestamp (): string {
    return formatTime(this.#now())
  }

  #bucket (type: ResourceType): Map<string, KubeObject> {
    let bucket = this.#objects.get(type)
    if (bucket === undefined) { bucket = new Map(); this.#objects.set(type, bucket) }
    return bucket
  }

  #emit (type: StoreEvent['type'], resource: ResourceType, object: KubeObject): void {
    const event: StoreEvent = { type, resource, object: structuredClone(object), revision: this.#revision }
    this.#history.push(event)
    if (this.#history.length > HISTORY_LIMIT) this.#history.shift()
    for (const listener of [...this.#listeners]) listener(event)
  }

  /** A copy of one object, or undefined. */
  get (type: ResourceType, namespace: string | undefined, name: string): KubeObject | undefined {
    const obj = this.#bucket(type).get(keyOf(type.namespaced ? namespace : undefined, name))
    return obj === undefined ? undefined : structuredClone(obj)
  }

  /** Like get, but a 404 ApiError when absent. */
  require (type: ResourceType, namespace: string | undefined, name: string): KubeObject {
    const obj = this.get(type, namespace, name)
    if (obj === undefined) throw notFound(type, name)
    return obj
  }

  /** Copies of all objects of a type, in one namespace or (undefined) all, sorted by namespace and name. */
  list (type: ResourceType, namespace?: string): KubeObject[] {
    const out: KubeObject[] = []
    for (const obj of this.#bucket(type).values()) {
      if (namespace === undefined || obj.metadata.namespace === namespace) out.push(structuredClone(obj))
    }
    return out.sort((a, b) => keyOf(a.metadata.namespace, a.metadata.name).localeCompare(keyOf(b.metadata.namespace, b.metadata.name)))
  }

  /**
   * Stores a new object: fills apiVersion/kind, uid, resourceVersion, creationTimestamp
   * and generation (1 when the object has a spec). 409 AlreadyExists if the name is taken.
   */
  insert (type: ResourceType, input: KubeObject): KubeObject {
    const bucket = this.#bucket(type)
    const obj = structuredClone(input)
    const namespace = type.namespaced ? obj.metadata.namespace : undefined
    if (!type.namespaced) delete obj.metadata.namespace
    const key = keyOf(namespace, obj.metadata.name)
    if (bucket.has(key)) throw alreadyExists(type, obj.metadata.name)
    this.#revision++
    obj.apiVersion = apiVersionOf(type)
    obj.kind = type.kind
    obj.metadata.uid = randomUUID()
    obj.metadata.resourceVersion = String(this.#revision)
    obj.metadata.creationTimestamp = this.timestamp()
    delete obj.metadata.deletionTimestamp
    delete obj.metadata.deletionGracePeriodSeconds
    if (obj.spec !== undefined) obj.metadata.generation = 1
    else delete obj.metadata.generation
    bucket.set(key, obj)
    this.#emit('ADDED', type, obj)
    return structuredClone(obj)
  }

  /**
   * Replaces an existing object. If the input carries a resourceVersion it must equal
   * the stored one (409 Conflict otherwise). uid and creationTimestamp are kept;
   * generation is bumped when anything outside metadata and status changed.
   */
  replace (type: ResourceType, input: KubeObject): KubeObject {
    const bucket = this.#bucket(type)
    const namespace = type.namespaced ? input.metadata.namespace : undefined
    const key = keyOf(namespace, input.metadata.name)
    const current = bucket.get(key)
    if (current === undefined) throw notFound(type, input.metadata.name)
    const rv = input.metadata.resourceVersion
    if (rv !== undefined && rv !== '' && rv !== current.metadata.resourceVersion) throw conflict(type, input.metadata.name)
    const obj = structuredClone(input)
    if (!type.namespaced) delete obj.metadata.namespace
    obj.apiVersion = apiVersionOf(type)
    obj.kind = type.kind
    obj.metadata.uid = current.metadata.uid
    obj.metadata.creationTimestamp = current.metadata.creationTimestamp
    if (current.metadata.deletionTimestamp !== undefined) {
      obj.metadata.deletionTimestamp = current.metadata.deletionTimestamp
      obj.metadata.deletionGracePeriodSeconds = current.metadata.deletionGracePeriodSeconds
    }
    if (current.metadata.generation !== undefined) {
      obj.metadata.generation = current.metadata.generation + (specOf(obj) === specOf(current) ? 0 : 1)
    }
    if (JSON.stringify({ ...obj, metadata: { ...obj.metadata, resourceVersion: '' } }) ===
        JSON.stringify({ ...current, metadata: { ...current.metadata, resourceVersion: '' } })) {
      // A no-op write does not bump the resourceVersion (the storage layer skips it).
      return structuredClone(current)
    }
    this.#revision++
    obj.metadata.resourceVersion = String(this.#revision)
    bucket.set(key, obj)
    this.#emit('MODIFIED', type, obj)
    return structuredClone(obj)
  }

  /** Sets deletionTimestamp/deletionGracePeriodSeconds (graceful deletion); returns the updated object. */
  markDeleting (type: ResourceType, namespace: string | undefined, name: string, gracePeriodSeconds: number): KubeObject {
    const current = this.require(type, namespace, name)
    const bucket = this.#bucket(type)
    const obj = structuredClone(current)
    const due = new Date(this.#now().getTime() + gracePeriodSeconds * 1000)
    // A second, shorter graceful delete may shorten the period; it never lengthens it.
    if (obj.metadata.deletionTimestamp === undefined || formatTime(due) < obj.metadata.deletionTimestamp) {
      obj.metadata.deletionTimestamp = formatTime(due)
      obj.metadata.deletionGracePeriodSeconds = gracePeriodSeconds
    }
    if (obj.metadata.generation !== undefined) obj.metadata.generation++
    this.#revision++
    obj.metadata.resourceVersion = String(this.#revision)
    bucket.set(keyOf(type.namespaced ? namespace : undefined, name), obj)
    this.#emit('MODIFIED', type, obj)
    return structuredClone(obj)
  }

  /** Removes an object for good; returns its last state. 404 if absent. */
  remove (type: ResourceType, namespace: string | undefined, name: string): KubeObject {
    const bucket = this.#bucket(type)
    const key = keyOf(type.namespaced ? namespace : undefined, name)
    const current = bucket.get(key)
    if (current === undefined) throw notFound(type, name)
    bucket.delete(key)
    this.#revision++
    current.metadata.resourceVersion = String(this.#revision)
    this.#emit('DELETED', type, current)
    return structuredClone(current)
  }

  /** Calls `listener` after every change; returns the unsubscribe function. */
  subscribe (listener: (event: StoreEvent) => void): () => void {
    this.#listeners.add(listener)
    return () => { this.#listeners.delete(listener) }
  }

  /**
   * Events after `revision` (exclusive), or undefined when that revision is older
   * than the kept history (a watch then gets 410 Gone).
   */
  eventsSince (revision: number): StoreEvent[] | undefined {
    if (revision < this.#compactedAt) return undefined
    const oldest = this.#history[0]
    if (oldest !== undefined && revision < oldest.revision - 1) return undefined
    return this.#history.filter(e => e.revision > revision).map(e => ({ ...e, object: structuredClone(e.object) }))
  }

  /** Forgets the change history, as etcd compaction does: a watch resuming from an older resourceVersion gets 410 Gone. */
  compact (): void {
    this.#history.length = 0
    this.#compactedAt = this.#revision
  }
}
