/**
 * Kubernetes `Status` bodies and the error that carries one.
 *
 * Shapes follow k8s.io/apimachinery/pkg/api/errors (NewNotFound, NewAlreadyExists,
 * NewConflict, NewTooManyRequests, NewInternalError, NewBadRequest, NewInvalid,
 * NewMethodNotSupported): the message quotes the qualified resource
 * (`pods "x" not found`, `daemonsets.apps "x" not found`) and `details.kind` holds
 * the resource plural, `details.group` the API group when it is not core.
 */

/** One entry of `Status.details.causes`. */
export interface StatusCause {
  reason?: string
  message?: string
  field?: string
}

/** A `meta/v1 Status` object as the API server returns it. */
export interface Status {
  kind: 'Status'
  apiVersion: 'v1'
  metadata: Record<string, never>
  status: 'Failure' | 'Success'
  message?: string
  reason?: string
  details?: { name?: string, group?: string, kind?: string, uid?: string, causes?: StatusCause[], retryAfterSeconds?: number }
  code: number
}

/** The resource an error is about: API group (empty for core) and plural. */
export interface QualifiedResource {
  group: string
  plural: string
}

/** An API failure: the HTTP code is `status.code`; the body is `status`. */
export class ApiError extends Error {
  readonly status: Status
  constructor (status: Status) {
    super(status.message ?? status.reason ?? `HTTP ${status.code}`)
    this.name = 'ApiError'
    this.status = status
  }
}

function failure (code: number, reason: string, message: string, details?: Status['details']): ApiError {
  // Field order as the API server serialises metav1.Status.
  const status: Status = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details === undefined ? {} : { details }), code }
  return new ApiError(status)
}

/** `pods` or `daemonsets.apps`, as the API server prints a resource in messages. */
export function qualifiedName (resource: QualifiedResource): string {
  return resource.group === '' ? resource.plural : `${resource.plural}.${resource.group}`
}

function details (resource: QualifiedResource, name: string): NonNullable<Status['details']> {
  return resource.group === '' ? { name, kind: resource.plural } : { name, group: resource.group, kind: resource.plural }
}

/** 404 NotFound: `pods "x" not found`. */
export function notFound (resource: QualifiedResource, name: string): ApiError {
  return failure(404, 'NotFound', `${qualifiedName(resource)} "${name}" not found`, details(resource, name))
}

/** 409 AlreadyExists: `pods "x" already exists`. */
export function alreadyExists (resource: QualifiedResource, name: string): ApiError {
  return failure(409, 'AlreadyExists', `${qualifiedName(resource)} "${name}" already exists`, details(resource, name))
}

/** 409 Conflict on a stale resourceVersion (the optimistic-concurrency message of the storage layer). */
export function conflict (resource: QualifiedResource, name: string, why = 'the object has been modified; please apply your changes to the latest version and try again'): ApiError {
  return failure(409, 'Conflict', `Operation cannot be fulfilled on ${qualifiedName(resource)} "${name}": ${why}`, details(resource, name))
}

/** 429 TooManyRequests with optional retry-after and causes. */
export function tooManyRequests (message: string, retryAfterSeconds = 0, causes?: StatusCause[]): ApiError {
  const d: NonNullable<Status['details']> = {}
  if (retryAfterSeconds > 0) d.retryAfterSeconds = retryAfterSeconds
  if (causes !== undefined) d.causes = causes
  return failure(429, 'TooManyRequests', message, d)
}

/** 500 InternalError: `Internal error occurred: <message>`. */
export function internalError (message: string): ApiError {
  return failure(500, 'InternalError', `Internal error occurred: ${message}`, { causes: [{ message }] })
}

/** 400 BadRequest. */
export function badRequest (message: string): ApiError {
  return failure(400, 'BadRequest', message)
}

/** 422 Invalid: `<Kind>.<group> "name" is invalid: <field>: <detail>`. */
export function invalid (kind: string, group: string, name: string, causes: Array<{ field: string, message: string, reason?: string }>): ApiError {
  const qualifiedKind = group === '' ? kind : `${kind}.${group}`
  const summary = causes.map(c => `${c.field}: ${c.message}`).join(', ')
  const d: NonNullable<Status['details']> = { name, kind, causes: causes.map(c => ({ reason: c.reason ?? 'FieldValueInvalid', message: c.message, field: c.field })) }
  if (group !== '') d.group = group
  return failure(422, 'Invalid', `${qualifiedKind} "${name}" is invalid: ${summary}`, d)
}

/** 405 MethodNotAllowed for a verb a resource does not support. */
export function methodNotSupported (resource: QualifiedResource, verb: string): ApiError {
  return failure(405, 'MethodNotAllowed', `${verb} is not supported on resources of kind "${qualifiedName(resource)}"`, { group: resource.group || undefined, kind: resource.plural })
}

/** 415 UnsupportedMediaType for an unknown patch or body content type. */
export function unsupportedMediaType (contentType: string): ApiError {
  return failure(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json (got ${JSON.stringify(contentType)})`)
}

/** The Status a fault rule answers with for an arbitrary HTTP code (reasons per apimachinery's code→reason table). */
export function statusForCode (code: number, message?: string, retryAfterSeconds = 0): ApiError {
  const reasons: Record<number, string> = {
    400: 'BadRequest', 401: 'Unauthorized', 403: 'Forbidden', 404: 'NotFound', 405: 'MethodNotAllowed', 409: 'Conflict',
    410: 'Expired', 422: 'Invalid', 429: 'TooManyRequests', 500: 'InternalError', 503: 'ServiceUnavailable', 504: 'Timeout'
  }
  const reason = reasons[code] ?? 'Unknown'
  const d = retryAfterSeconds > 0 ? { retryAfterSeconds } : undefined
  return failure(code, reason, message ?? `injected fault: ${reason} (${code})`, d)
}

/** The body of a successful call that returns a Status (eviction, deletecollection). */
export function success (code: number, extra?: Partial<Pick<Status, 'details'>>): Status {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code, ...extra }
}
