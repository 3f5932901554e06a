/**
 * AdmissionReview codec (pure): turns an untrusted request body into a typed
 * admission request, and a decision into the response envelope the API server
 * expects, in the same apiVersion and with the same uid.
 */
import type { Operation } from 'fast-json-patch'
import { describeType, describeValue, isJsonObject, type JsonObject } from '#common/json.ts'

/** AdmissionReview versions the webhook speaks. */
export const REVIEW_API_VERSIONS = ['admission.k8s.io/v1', 'admission.k8s.io/v1beta1'] as const

/** One of REVIEW_API_VERSIONS. */
export type ReviewApiVersion = typeof REVIEW_API_VERSIONS[number]

/** Operations an admission request can carry. */
export const ADMISSION_OPERATIONS = ['CREATE', 'UPDATE', 'DELETE', 'CONNECT'] as const

/** One of ADMISSION_OPERATIONS. */
export type AdmissionOperation = typeof ADMISSION_OPERATIONS[number]

/** The body was not an AdmissionReview we can answer; the message says what was wrong in one line. */
export class BadReview extends Error {
  override name = 'BadReview'
}

/** The parts of `request` the webhook uses. */
export interface AdmissionRequest {
  uid: string
  kind: { group: string, version: string, kind: string }
  subResource: string | undefined
  name: string | undefined
  namespace: string | undefined
  operation: AdmissionOperation
  /** The object being admitted (absent for DELETE). */
  object: JsonObject | undefined
  /** The existing object (UPDATE and DELETE). */
  oldObject: JsonObject | undefined
  dryRun: boolean
}

/** A validated AdmissionReview. */
export interface AdmissionReview {
  apiVersion: ReviewApiVersion
  request: AdmissionRequest
}

/** What the webhook answers for one request. */
export interface AdmissionDecision {
  allowed: boolean
  /** JSON Patch to apply, or undefined for none. */
  patch: Operation[] | undefined
  warnings: string[]
  auditAnnotations: Record<string, string>
}

function optionalString (parent: JsonObject, field: string, where: string): string | undefined {
  const value = parent[field]
  if (value === undefined || value === null || value === '') return undefined
  if (typeof value !== 'string') throw new BadReview(`${where}.${field} must be a string, got ${describeType(value)}`)
  return value
}

function optionalObject (parent: JsonObject, field: string): JsonObject | undefined {
  const value = parent[field]
  if (value === undefined || value === null) return undefined
  if (!isJsonObject(value)) throw new BadReview(`request.${field} must be an object, got ${describeType(value)}`)
  return value
}

/** Validates `body` as an AdmissionReview request; throws BadReview naming the first problem. */
export function parseReview (body: unknown): AdmissionReview {
  if (!isJsonObject(body)) throw new BadReview(`body must be a JSON object, got ${describeType(body)}`)
  const apiVersion = body.apiVersion
  if (!REVIEW_API_VERSIONS.includes(apiVersion as ReviewApiVersion)) {
    throw new BadReview(`apiVersion must be one of ${REVIEW_API_VERSIONS.join(', ')}, got ${describeValue(apiVersion)}`)
  }
  if (body.kind !== 'AdmissionReview') throw new BadReview(`kind must be AdmissionReview, got ${describeValue(body.kind)}`)
  const request = body.request
  if (request === undefined || request === null) throw new BadReview('request is missing')
  if (!isJsonObject(request)) throw new BadReview(`request must be an object, got ${describeType(request)}`)
  const uid = optionalString(request, 'uid', 'request')
  if (uid === undefined) throw new BadReview('request.uid is missing')
  const kind = request.kind
  if (!isJsonObject(kind) || typeof kind.kind !== 'string' || kind.kind === '') throw new BadReview('request.kind must be an object with a kind')
  const operation = request.operation
  if (!ADMISSION_OPERATIONS.includes(operation as AdmissionOperation)) {
    throw new BadReview(`request.operation must be one of ${ADMISSION_OPERATIONS.join(', ')}, got ${describeValue(operation)}`)
  }
  const object = optionalObject(request, 'object')
  if (object === undefined && (operation === 'CREATE' || operation === 'UPDATE')) throw new BadReview(`request.object is missing for ${operation as string}`)
  const dryRun = request.dryRun
  if (dryRun !== undefined && dryRun !== null && typeof dryRun !== 'boolean') throw new BadReview(`request.dryRun must be a boolean, got ${describeType(dryRun)}`)
  return {
    apiVersion: apiVersion as ReviewApiVersion,
    request: {
      uid,
      kind: { group: optionalString(kind, 'group', 'request.kind') ?? '', version: optionalString(kind, 'version', 'request.kind') ?? '', kind: kind.kind },
      subResource: optionalString(request, 'subResource', 'request'),
      name: optionalString(request, 'name', 'request'),
      namespace: optionalString(request, 'namespace', 'request'),
      operation: operation as AdmissionOperation,
      object,
      oldObject: optionalObject(request, 'oldObject'),
      dryRun: dryRun === true
    }
  }
}

/** Builds the AdmissionReview response for `uid` in `apiVersion`; the patch is base64 JSON with patchType JSONPatch. */
export function reviewResponse (apiVersion: ReviewApiVersion, uid: string, decision: AdmissionDecision): JsonObject {
  const response: JsonObject = { uid, allowed: decision.allowed }
  if (decision.patch !== undefined && decision.patch.length > 0) {
    response.patchType = 'JSONPatch'
    response.patch = Buffer.from(JSON.stringify(decision.patch)).toString('base64')
  }
  if (decision.warnings.length > 0) response.warnings = decision.warnings
  if (Object.keys(decision.auditAnnotations).length > 0) response.auditAnnotations = decision.auditAnnotations
  return { apiVersion, kind: 'AdmissionReview', response }
}
