/**
 * The API semantics of the simulated cluster, independent of HTTP: create, get,
 * list, update (whole object or `status`), patch, delete (graceful for pods,
 * cascading for namespaces, garbage collection of dependents), and pod eviction
 * with PodDisruptionBudgets. Mutating admission is plugged in as a function.
 *
 * Status codes and messages follow the API server's generic registry and the
 * pod eviction REST handler (pkg/registry/core/pod/storage/eviction.go).
 */
import { randomBytes } from 'node:crypto'
import { applyDefaults, validate, validatePodUpdate } from './defaults.ts'
import { applyPatch } from './patch.ts'
import { computePdbNumbers, type OwnerRef, type PdbNumbers } from './pdb.ts'
import { findResource, RESOURCES, type ResourceType } from './resources.ts'
import { isPodReady } from './scheduling.ts'
import { matchesFields, matchesLabelSelector, matchesRequirements, parseFieldSelector, parseLabelSelector, type LabelSelectorObject } from './selectors.ts'
import { alreadyExists, ApiError, badRequest, conflict, internalError, notFound, success, tooManyRequests, type Status } from './status.ts'
import { fromCoreEvent, toCoreEvent } from './events.ts'
import { ObjectStore, type KubeObject, type StoreEvent } from './store.ts'
import { isWebhookConfiguration, type AdmissionAttributes } from './admission-rules.ts'
import type { AdmissionInput, AdmissionOutput } from './admission.ts'

/** Runs mutating admission; returns the (possibly patched) object and warnings. */
export type Admission = (request: AdmissionInput) => Promise<AdmissionOutput>

/** Options common to writes. */
export interface WriteOptions {
  /** dryRun=All: run everything, store nothing. */
  dryRun?: boolean
  /** Send the request through mutating admission (default true). */
  admission?: boolean
  fieldManager?: string
}

/** The result of a write: the object (or Status) and webhook warnings. */
export interface WriteResult<T = KubeObject> {
  object: T
  warnings: string[]
}

/** Options of DELETE (query parameters or a DeleteOptions body). */
export interface DeleteOptions {
  gracePeriodSeconds?: number
  preconditions?: { uid?: string, resourceVersion?: string }
  propagationPolicy?: 'Orphan' | 'Background' | 'Foreground'
  dryRun?: boolean
}

/** Label/field selector strings as sent in the query. */
export interface ListOptions {
  labelSelector?: string
  fieldSelector?: string
}

const POD = findResource('', 'pods')!
const NAMESPACE = findResource('', 'namespaces')!
const PDB = findResource('policy', 'poddisruptionbudgets')!
const MWC = findResource('admissionregistration.k8s.io', 'mutatingwebhookconfigurations')!
const CORE_EVENTS = findResource('', 'events')!
const EVENTS_V1 = findResource('events.k8s.io', 'events')!

/** How a served resource maps onto stored objects: identity, except events.k8s.io Events (stored as core Events). */
interface StorageView {
  storage: ResourceType
  toStorage: (obj: KubeObject) => KubeObject
  fromStorage: (obj: KubeObject) => KubeObject
}

const identity = (obj: KubeObject): KubeObject => obj

function viewOf (type: ResourceType): StorageView {
  return type === EVENTS_V1
    ? { storage: CORE_EVENTS, toStorage: toCoreEvent, fromStorage: fromCoreEvent }
    : { storage: type, toStorage: identity, fromStorage: identity }
}

/** Resources whose DELETE returns the object rather than a Status (per their OpenAPI responses). */
const DELETE_RETURNS_OBJECT = new Set(['pods', 'services', 'namespaces'])

/** Five lowercase alphanumerics, as generateName appends (the apiserver uses utilrand.String(5)). */
function randomSuffix (): string {
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789'
  return [...randomBytes(5)].map(b => alphabet[b % alphabet.length]).join('')
}

/** How often an unconditional write is retried after losing a race (the API server's patch retry count). */
const MAX_CONFLICT_RETRIES = 5

async function retryConflicts<T> (retry: boolean | (() => boolean), attempt: () => Promise<T>): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await attempt()
    } catch (err) {
      const again = typeof retry === 'function' ? retry() : retry
      if (!again || i >= MAX_CONFLICT_RETRIES || !(err instanceof ApiError) || err.status.reason !== 'Conflict') throw err
    }
  }
}

/** The simulated cluster's API semantics. */
export class Cluster {
  readonly store: ObjectStore
  /** Replaced by the simulator with the webhook dispatcher; identity by default. */
  admission: Admission = async request => ({ object: request.object, warnings: [] })

  constructor (store: ObjectStore) {
    this.store = store
  }

  /** Stored MutatingWebhookConfigurations (read by the admission dispatcher). */
  webhookConfigurations (): KubeObject[] {
    return this.store.list(MWC)
  }

  #attributes (type: ResourceType, operation: AdmissionAttributes['operation'], subresource: string, object: KubeObject, oldObject?: KubeObject): AdmissionAttributes {
    const ns = type.namespaced ? this.store.get(NAMESPACE, undefined, object.metadata.namespace ?? '') : undefined
    const a: AdmissionAttributes = {
      operation,
      group: type.group,
      version: type.version,
      resource: type.plural,
      subresource,
      namespaced: type.namespaced,
      isNamespace: type === NAMESPACE
    }
    if (object.metadata.labels !== undefined) a.objectLabels = object.metadata.labels
    if (oldObject?.metadata.labels !== undefined) a.oldObjectLabels = oldObject.metadata.labels
    if (ns !== undefined) a.namespaceLabels = ns.metadata.labels ?? {}
    return a
  }

  async #admit (type: ResourceType, operation: 'CREATE' | 'UPDATE', subresource: string, object: KubeObject, oldObject: KubeObject | undefined, opts: WriteOptions): Promise<WriteResult> {
    if (opts.admission === false || isWebhookConfiguration(type.group, type.plural)) return { object, warnings: [] }
    const options: Record<string, unknown> = { kind: operation === 'CREATE' ? 'CreateOptions' : 'UpdateOptions', apiVersion: 'meta.k8s.io/v1' }
    if (opts.fieldManager !== undefined) options.fieldManager = opts.fieldManager
    const request: AdmissionInput = {
      attributes: this.#attributes(type, operation, subresource, object, oldObject),
      kind: type.kind,
      name: object.metadata.name,
      object,
      dryRun: opts.dryRun === true,
      options
    }
    if (type.namespaced && object.metadata.namespace !== undefined) request.namespace = object.metadata.namespace
    if (oldObject !== undefined) request.oldObject = oldObject
    return await this.admission(request)
  }

  #requireNamespace (name: string): void {
    const ns = this.store.get(NAMESPACE, undefined, name)
    if (ns === undefined) throw notFound(NAMESPACE, name)
    if (ns.metadata.deletionTimestamp !== undefined) {
      throw new ApiError({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', code: 403, reason: 'Forbidden', message: `unable to create new content in namespace ${name} because it is being terminated`, details: { name, kind: 'namespaces' } })
    }
  }

  /** Creates an object (POST). `namespace` is the namespace from the URL, if any. */
  async create (type: ResourceType, namespace: string | undefined, input: KubeObject, opts: WriteOptions = {}): Promise<WriteResult> {
    const obj: KubeObject = structuredClone(input)
    obj.metadata ??= { name: '' }
    if (type.namespaced) {
      const bodyNs = obj.metadata.namespace
      if (namespace !== undefined && bodyNs !== undefined && bodyNs !== '' && bodyNs !== namespace) {
        throw badRequest('the namespace of the provided object does not match the namespace sent on the request')
      }
      obj.metadata.namespace = namespace ?? (bodyNs === undefined || bodyNs === '' ? 'default' : bodyNs)
      this.#requireNamespace(obj.metadata.namespace)
    } else {
      delete obj.metadata.namespace
    }
    if ((obj.metadata.name === undefined || obj.metadata.name === '') && obj.metadata.generateName !== undefined) {
      obj.metadata.name = obj.metadata.generateName + randomSuffix()
    }
    delete obj.metadata.resourceVersion
    applyDefaults(type, obj)
    const admitted = await this.#admit(type, 'CREATE', '', obj, undefined, opts)
    validate(type, admitted.object)
    if (opts.dryRun === true) {
      const preview = structuredClone(admitted.object)
      preview.metadata.creationTimestamp = this.store.timestamp()
      return { object: preview, warnings: admitted.warnings }
    }
    const view = viewOf(type)
    if (view.storage !== type && this.store.get(view.storage, namespace, admitted.object.metadata.name) !== undefined) throw alreadyExists(type, admitted.object.metadata.name)
    return { object: view.fromStorage(this.store.insert(view.storage, view.toStorage(admitted.object))), warnings: admitted.warnings }
  }

  /** Reads one object (404 when absent). */
  get (type: ResourceType, namespace: string | undefined, name: string): KubeObject {
    const view = viewOf(type)
    const obj = this.store.get(view.storage, namespace, name)
    if (obj === undefined) throw notFound(type, name)
    return view.fromStorage(obj)
  }

  /** The object a store change shows through `type`, or undefined when the change is about another resource (for watches). */
  watchedObject (type: ResourceType, event: StoreEvent): KubeObject | undefined {
    const view = viewOf(type)
    return event.resource === view.storage ? view.fromStorage(event.object) : undefined
  }

  /** Lists objects, in a namespace or everywhere, filtered by selectors (400 on a bad selector). */
  list (type: ResourceType, namespace: string | undefined, opts: ListOptions = {}): { items: KubeObject[], resourceVersion: string } {
    const labels = parseLabelSelector(opts.labelSelector ?? '')
    const fields = parseFieldSelector(opts.fieldSelector ?? '', ['metadata.name', 'metadata.namespace', ...(type.fields ?? [])], type.kind)
    const view = viewOf(type)
    const items = this.store.list(view.storage, namespace).map(view.fromStorage).filter(o => matchesRequirements(labels, o.metadata.labels) && matchesFields(fields, o))
    return { items, resourceVersion: this.store.resourceVersion }
  }

  /**
   * Replaces an object (PUT). With `subresource: 'status'` only the status changes;
   * otherwise the status is kept for resources that have a status subresource.
   */
  async update (type: ResourceType, namespace: string | undefined, name: string, input: KubeObject, opts: WriteOptions & { subresource?: string } = {}): Promise<WriteResult> {
    const rv = input.metadata?.resourceVersion
    // Without a resourceVersion the update is unconditional: a write that raced it (during admission) is retried, not reported.
    return await retryConflicts(rv === undefined || rv === '', () => this.#updateOnce(type, namespace, name, input, opts))
  }

  async #updateOnce (type: ResourceType, namespace: string | undefined, name: string, input: KubeObject, opts: WriteOptions & { subresource?: string }): Promise<WriteResult> {
    if (input.metadata?.name !== undefined && input.metadata.name !== name) {
      throw badRequest(`the name of the object (${input.metadata.name}) does not match the name on the URL (${name})`)
    }
    if (type.namespaced && input.metadata?.namespace !== undefined && input.metadata.namespace !== '' && input.metadata.namespace !== namespace) {
      throw badRequest('the namespace of the provided object does not match the namespace sent on the request')
    }
    const current = this.get(type, namespace, name)
    const rv = input.metadata?.resourceVersion
    if (rv !== undefined && rv !== '' && rv !== current.metadata.resourceVersion) throw conflict(type, name)
    const subresource = opts.subresource ?? ''
    let next: KubeObject
    if (subresource === 'status') {
      next = { ...current, status: input.status }
    } else {
      next = structuredClone(input)
      next.metadata = { ...next.metadata, name }
      if (type.namespaced) next.metadata.namespace = namespace
      if (type.subresources?.includes('status') === true) next.status = current.status
    }
    next.metadata.resourceVersion = current.metadata.resourceVersion
    if (type === NAMESPACE) applyDefaults(type, next)
    const admitted = await this.#admit(type, 'UPDATE', subresource, next, current, opts)
    validate(type, admitted.object)
    if (type === POD && subresource === '') validatePodUpdate(current, admitted.object)
    if (opts.dryRun === true) return { object: admitted.object, warnings: admitted.warnings }
    const view = viewOf(type)
    const stored = this.store.replace(view.storage, view.toStorage(admitted.object))
    return { object: view.fromStorage(this.#finishDeletionIfDue(view.storage, stored)), warnings: admitted.warnings }
  }

  /** Applies a JSON, merge or strategic-merge patch (PATCH), then updates as PUT would. */
  async patch (type: ResourceType, namespace: string | undefined, name: string, contentType: string, patch: unknown, opts: WriteOptions & { subresource?: string } = {}): Promise<WriteResult> {
    let conditional = false
    // Like the API server, a patch that does not set resourceVersion is re-applied when a concurrent write wins.
    return await retryConflicts(() => !conditional, async () => {
      const current = this.get(type, namespace, name)
      const patched = applyPatch(contentType, current, patch) as KubeObject
      if (typeof patched !== 'object' || patched === null || typeof patched.metadata !== 'object') {
        throw badRequest('the patch removed the object\'s metadata')
      }
      conditional = patched.metadata.resourceVersion !== current.metadata.resourceVersion
      return await this.#updateOnce(type, namespace, name, patched, opts)
    })
  }

  /**
   * Deletes an object. Pods with a grace period are only marked (deletionTimestamp);
   * the kubelet removes them. Objects with finalizers wait for them to be removed.
   * Namespaces take their contents with them; dependents (ownerReferences) are
   * garbage-collected unless propagationPolicy is Orphan.
   */
  delete (type: ResourceType, namespace: string | undefined, name: string, opts: DeleteOptions = {}): WriteResult<KubeObject | Status> {
    const view = viewOf(type)
    if (view.storage !== type) {
      const deleted = this.delete(view.storage, namespace, name, opts)
      return { ...deleted, object: deleted.object.kind === 'Status' ? success(200, { details: { name, group: type.group, kind: type.plural, uid: deleted.object.details?.uid } }) : view.fromStorage(deleted.object as KubeObject) }
    }
    const current = this.store.require(type, namespace, name)
    const pre = opts.preconditions
    if (pre?.uid !== undefined && pre.uid !== current.metadata.uid) {
      throw conflict(type, name, `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${current.metadata.uid}`)
    }
    if (pre?.resourceVersion !== undefined && pre.resourceVersion !== current.metadata.resourceVersion) {
      throw conflict(type, name, `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in meta: ${current.metadata.resourceVersion}`)
    }
    const result = (obj: KubeObject): WriteResult<KubeObject | Status> => ({
      object: DELETE_RETURNS_OBJECT.has(type.plural) && type.group === ''
        ? obj
        : success(200, { details: { name, ...(type.group === '' ? {} : { group: type.group }), kind: type.plural, uid: current.metadata.uid } }),
      warnings: []
    })
    if (opts.dryRun === true) return result(current)
    if (type === POD) {
      const grace = opts.gracePeriodSeconds ?? current.spec?.terminationGracePeriodSeconds ?? 30
      // Unscheduled and finished pods go at once (pod strategy CheckGracefulDeleteStrategy).
      const immediate = grace <= 0 || current.spec?.nodeName === undefined || ['Succeeded', 'Failed'].includes(current.status?.phase)
      // An immediate delete is a single DELETED change, as the storage layer does it.
      if (immediate && (current.metadata.finalizers ?? []).length === 0) {
        this.#removeNow(type, current, opts.propagationPolicy ?? 'Background')
        return result(current)
      }
      return result(this.store.markDeleting(type, namespace, name, immediate ? 0 : grace))
    }
    if (type === NAMESPACE) {
      this.store.markDeleting(type, undefined, name, 0)
      const terminating = this.store.replace(type, { ...this.store.require(type, undefined, name), status: { phase: 'Terminating' } })
      for (const t of RESOURCES.filter(r => r.namespaced)) {
        for (const obj of this.store.list(t, name)) this.#removeNow(t, obj, 'Background')
      }
      this.#removeNow(type, this.store.require(type, undefined, name), 'Background')
      return result(terminating)
    }
    if ((current.metadata.finalizers ?? []).length > 0) return result(this.store.markDeleting(type, namespace, name, 0))
    this.#removeNow(type, current, opts.propagationPolicy ?? 'Background')
    return result(current)
  }

  /** Removes an object whose deletion is complete (no finalizers; pods: grace period over). */
  #finishDeletionIfDue (type: ResourceType, obj: KubeObject): KubeObject {
    if (obj.metadata.deletionTimestamp === undefined || (obj.metadata.finalizers ?? []).length > 0) return obj
    if (type === POD && obj.metadata.deletionGracePeriodSeconds !== 0) return obj
    this.#removeNow(type, obj, 'Background')
    return obj
  }

  #removeNow (type: ResourceType, obj: KubeObject, propagation: NonNullable<DeleteOptions['propagationPolicy']>): void {
    if (this.store.get(type, obj.metadata.namespace, obj.metadata.name) === undefined) return
    const removed = this.store.remove(type, obj.metadata.namespace, obj.metadata.name)
    this.#collectDependents(removed.metadata.uid!, propagation)
  }

  /** The garbage collector: dependents of a removed owner are deleted (or orphaned). */
  #collectDependents (ownerUid: string, propagation: NonNullable<DeleteOptions['propagationPolicy']>): void {
    for (const t of RESOURCES) {
      for (const dep of this.store.list(t)) {
        const refs = dep.metadata.ownerReferences ?? []
        if (!refs.some(r => r.uid === ownerUid)) continue
        if (propagation === 'Orphan') {
          dep.metadata.ownerReferences = refs.filter(r => r.uid !== ownerUid)
          this.store.replace(t, dep)
        } else if (this.store.get(t, dep.metadata.namespace, dep.metadata.name)?.metadata.deletionTimestamp === undefined) {
          this.delete(t, dep.metadata.namespace, dep.metadata.name)
        }
      }
    }
  }

  /** Called by the kubelet when a terminating pod has stopped: removes it for good. */
  finishPodTermination (namespace: string, name: string): void {
    const pod = this.store.get(POD, namespace, name)
    if (pod === undefined || pod.metadata.deletionTimestamp === undefined) return
    if ((pod.metadata.finalizers ?? []).length === 0) this.#removeNow(POD, pod, 'Background')
    else this.store.markDeleting(POD, namespace, name, 0)
  }

  /** The PodDisruptionBudgets in the pod's namespace whose selector matches it (policy/v1: `{}` matches all, absent matches none). */
  budgetsFor (pod: KubeObject): KubeObject[] {
    return this.store.list(PDB, pod.metadata.namespace).filter(pdb => {
      const selector = pdb.spec?.selector as LabelSelectorObject | undefined
      return selector !== undefined && matchesLabelSelector(selector, pod.metadata.labels)
    })
  }

  /** The desired size of a pod's controller, for percentage/maxUnavailable budgets. */
  scaleOf (namespace: string | undefined, owner: OwnerRef): number | undefined {
    const group = owner.apiVersion.includes('/') ? owner.apiVersion.split('/')[0]! : ''
    const type = findResource(group, `${owner.kind.toLowerCase()}s`)
    const obj = type === undefined ? undefined : this.store.get(type, namespace, owner.name)
    if (obj === undefined || obj.metadata.uid !== owner.uid) return undefined
    if (owner.kind === 'DaemonSet') return obj.status?.desiredNumberScheduled ?? 0
    return obj.spec?.replicas ?? 1
  }

  /** A budget's numbers computed from the current pods. */
  budgetNumbers (pdb: KubeObject): PdbNumbers {
    const selector = (pdb.spec?.selector ?? undefined) as LabelSelectorObject | undefined
    const pods = selector === undefined ? [] : this.store.list(POD, pdb.metadata.namespace).filter(p => matchesLabelSelector(selector, p.metadata.labels))
    return computePdbNumbers(pdb.spec ?? {}, pods, owner => this.scaleOf(pdb.metadata.namespace, owner))
  }

  /**
   * POST pods/{name}/eviction (policy/v1). Allowed evictions delete the pod
   * (gracefully) and answer 201 with a Success Status; a budget without
   * disruptions left answers 429 with a DisruptionBudget cause.
   */
  evict (namespace: string, name: string, eviction: KubeObject | undefined, opts: { dryRun?: boolean } = {}): WriteResult<Status> {
    const evictionName = eviction?.metadata?.name
    if (evictionName !== undefined && evictionName !== '' && evictionName !== name) {
      throw badRequest(`name in URL does not match name in Eviction object`)
    }
    const pod = this.store.require(POD, namespace, name)
    const deleteOptions = (eviction?.deleteOptions ?? {}) as DeleteOptions
    // Preconditions (e.g. the uid of the pod the caller meant) are checked before any budget.
    const pre = deleteOptions.preconditions
    if (pre?.uid !== undefined && pre.uid !== pod.metadata.uid) {
      throw conflict(POD, name, `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${pod.metadata.uid}`)
    }
    const done = (): WriteResult<Status> => {
      this.delete(POD, namespace, name, { ...deleteOptions, dryRun: opts.dryRun === true })
      return { object: success(201), warnings: [] }
    }
    // Terminal, pending and already-terminating pods are deleted without consulting budgets.
    if (pod.metadata.deletionTimestamp !== undefined || ['Succeeded', 'Failed', 'Pending'].includes(pod.status?.phase)) return done()
    const budgets = this.budgetsFor(pod)
    if (budgets.length > 1) throw internalError('This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.')
    const pdb = budgets[0]
    if (pdb === undefined) return done()
    const n = this.budgetNumbers(pdb)
    const healthyPolicyAllows = !isPodReady(pod) && (pdb.spec?.unhealthyPodEvictionPolicy === 'AlwaysAllow' || n.currentHealthy >= n.desiredHealthy)
    if (!healthyPolicyAllows && n.disruptionsAllowed <= 0) {
      throw tooManyRequests("Cannot evict pod as it would violate the pod's disruption budget.", 0, [{
        reason: 'DisruptionBudget',
        message: `The disruption budget ${pdb.metadata.name} needs ${n.desiredHealthy} healthy pods and has ${n.currentHealthy} currently`
      }])
    }
    return done()
  }
}
