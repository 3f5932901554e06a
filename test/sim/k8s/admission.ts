/**
 * Mutating admission: sends AdmissionReviews to the webhooks of every
 * MutatingWebhookConfiguration that match a request, in the API server's order
 * (configurations by name, webhooks in list order), and applies their answers
 * (k8s.io/apiserver/pkg/admission/plugin/webhook/mutating/dispatcher.go):
 * - a rejection becomes the webhook's Status with `admission webhook "<name>" denied the request: <message>`
 *   (code at least 400; webhookerrors.ToStatusErr);
 * - a failed call (connection, TLS, timeout, bad response) is a 500 InternalError
 *   `failed calling webhook "<name>": <reason>` with failurePolicy Fail, and is skipped with Ignore;
 * - a returned JSONPatch is applied to the object (a patch that does not apply is a 500);
 * - warnings are collected for `Warning: 299 - "<text>"` headers;
 * - reinvocationPolicy IfNeeded: a webhook is called a second time when a later webhook changed the object;
 * - on dry-run requests only webhooks with sideEffects None/NoneOnDryRun are called
 *   (others: 400 `admission webhook "<name>" does not support dry run`).
 */
import { randomUUID } from 'node:crypto'
import type { Logger } from 'pino'
import { applyJsonPatch } from './patch.ts'
import { reviewVersion, supportsDryRun, webhookMatches, type AdmissionAttributes, type MutatingWebhook } from './admission-rules.ts'
import { ApiError, badRequest, internalError, type Status } from './status.ts'
import type { KubeObject } from './store.ts'
import type { WebhookCaller, WebhookTarget } from './webhook-client.ts'

/** A Service reference from clientConfig.service. */
export interface ServiceRef { namespace: string, name: string, port?: number, path?: string }

/** Maps a webhook Service reference to a reachable base URL (e.g. `https://127.0.0.1:8443/mutate`). */
export type ServiceUrlResolver = (svc: ServiceRef) => string

/** One request going through admission. */
export interface AdmissionInput {
  attributes: AdmissionAttributes
  kind: string
  name: string
  namespace?: string
  object: KubeObject
  oldObject?: KubeObject
  dryRun: boolean
  options: Record<string, unknown>
}

/** The admitted object and the webhooks' warnings. */
export interface AdmissionOutput {
  object: KubeObject
  warnings: string[]
}

/** Everything the dispatcher needs besides the request. */
export interface AdmissionDeps {
  /** All MutatingWebhookConfigurations currently stored. */
  configurations: () => KubeObject[]
  call: WebhookCaller
  resolveService?: ServiceUrlResolver
  log: Logger
}

/** Builds the call target, adding the `timeout` query parameter the API server's client sends. */
export function webhookTarget (hook: MutatingWebhook, resolveService: ServiceUrlResolver | undefined): WebhookTarget {
  const timeoutSeconds = hook.timeoutSeconds ?? 10
  let base: string
  let serverName: string | undefined
  const svc = hook.clientConfig.service
  if (hook.clientConfig.url !== undefined) {
    base = hook.clientConfig.url
  } else if (svc !== undefined) {
    serverName = `${svc.name}.${svc.namespace}.svc`
    const path = svc.path ?? '/'
    base = resolveService !== undefined ? resolveService(svc) : `https://${serverName}:${svc.port ?? 443}${path}`
  } else {
    throw new Error('webhook has neither url nor service')
  }
  const url = new URL(base)
  url.searchParams.set('timeout', `${timeoutSeconds}s`)
  const target: WebhookTarget = { url: url.toString(), timeoutMs: timeoutSeconds * 1000 }
  if (hook.clientConfig.caBundle !== undefined) target.caBundle = hook.clientConfig.caBundle
  if (serverName !== undefined) target.serverName = serverName
  return target
}

function buildReview (version: 'v1' | 'v1beta1', uid: string, input: AdmissionInput, object: KubeObject): unknown {
  const a = input.attributes
  const resource = { group: a.group, version: a.version, resource: a.resource }
  const kind = { group: a.group, version: a.version, kind: input.kind }
  const request: Record<string, unknown> = {
    uid,
    kind,
    resource,
    requestKind: kind,
    requestResource: resource,
    name: input.name,
    operation: a.operation,
    userInfo: { username: 'kubernetes-admin', groups: ['system:masters', 'system:authenticated'] },
    object,
    oldObject: input.oldObject ?? null,
    dryRun: input.dryRun,
    options: input.options
  }
  if (a.subresource !== '') { request.subResource = a.subresource; request.requestSubResource = a.subresource }
  if (input.namespace !== undefined) request.namespace = input.namespace
  return { apiVersion: `admission.k8s.io/${version}`, kind: 'AdmissionReview', request }
}

interface ReviewResponse {
  uid?: string
  allowed?: boolean
  status?: Partial<Status>
  patch?: string
  patchType?: string
  warnings?: string[]
}

/** Validates the webhook's answer; a malformed answer is a call failure (subject to failurePolicy). */
function readResponse (body: unknown, version: string, uid: string): ReviewResponse {
  const review = body as { apiVersion?: string, kind?: string, response?: ReviewResponse } | null
  if (version === 'v1' && (review?.apiVersion !== 'admission.k8s.io/v1' || review.kind !== 'AdmissionReview')) {
    throw new Error(`expected webhook response of admission.k8s.io/v1, Kind=AdmissionReview, got ${review?.apiVersion ?? ''}, Kind=${review?.kind ?? ''}`)
  }
  const response = review?.response
  if (response === undefined || response === null) throw new Error('webhook response was absent')
  if (response.uid !== uid) throw new Error(`expected response.uid="${uid}", got "${response.uid ?? ''}"`)
  if (response.patch !== undefined && response.patchType !== 'JSONPatch') {
    throw new Error(`webhook returned a patch with patchType "${response.patchType ?? ''}"; only JSONPatch is supported`)
  }
  return response
}

/** A rejection, as the API server reports it (webhookerrors.ToStatusErr). */
function denied (hookName: string, status: Partial<Status> | undefined): ApiError {
  const deniedBy = `admission webhook "${hookName}" denied the request`
  const message = status?.message !== undefined && status.message !== ''
    ? `${deniedBy}: ${status.message}`
    : status?.reason !== undefined && status.reason !== '' ? `${deniedBy}: ${status.reason}` : `${deniedBy} without explanation`
  const code = status?.code !== undefined && status.code >= 400 ? status.code : 400
  const out: Status = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, code }
  if (status?.reason !== undefined) out.reason = status.reason
  if (status?.details !== undefined) out.details = status.details
  return new ApiError(out)
}

/** Runs mutating admission for one request. */
export async function admit (input: AdmissionInput, deps: AdmissionDeps): Promise<AdmissionOutput> {
  const hooks: MutatingWebhook[] = deps.configurations()
    .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))
    .flatMap(c => (c.webhooks ?? []) as MutatingWebhook[])
    .filter(h => webhookMatches(h, input.attributes))
  let object = input.object
  const warnings: string[] = []
  const calledAt = new Map<MutatingWebhook, number>()
  let lastChange = -1
  let step = 0

  const callHook = async (hook: MutatingWebhook): Promise<void> => {
    const log = deps.log.child({ webhook: hook.name, operation: input.attributes.operation, resource: input.attributes.resource, name: input.name, namespace: input.namespace })
    if (input.dryRun && !supportsDryRun(hook)) throw badRequest(`admission webhook "${hook.name}" does not support dry run`)
    const uid = randomUUID()
    let response: ReviewResponse
    try {
      const version = reviewVersion(hook)
      if (version === undefined) throw new Error(`webhook does not accept known AdmissionReview versions (${(hook.admissionReviewVersions ?? []).join(', ')})`)
      const target = webhookTarget(hook, deps.resolveService)
      response = readResponse(await deps.call(target, buildReview(version, uid, input, object)), version, uid)
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err)
      if ((hook.failurePolicy ?? 'Fail') === 'Ignore') {
        log.warn({ err: reason }, 'webhook call failed; failurePolicy Ignore admits the object unchanged')
        return
      }
      log.warn({ err: reason }, 'webhook call failed; failurePolicy Fail rejects the request')
      throw internalError(`failed calling webhook "${hook.name}": ${reason}`)
    }
    warnings.push(...(response.warnings ?? []))
    if (response.allowed !== true) throw denied(hook.name, response.status)
    step++
    calledAt.set(hook, step)
    if (response.patch === undefined || response.patch === '') return
    let ops: unknown
    try {
      ops = JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8'))
    } catch {
      throw internalError(`admission webhook "${hook.name}" returned a patch that is not valid JSON`)
    }
    let patched: KubeObject
    try {
      patched = applyJsonPatch(object, ops) as KubeObject
    } catch (err) {
      throw internalError(`admission webhook "${hook.name}" returned a patch that could not be applied: ${(err as Error).message}`)
    }
    if (JSON.stringify(patched) !== JSON.stringify(object)) lastChange = step
    log.debug({ ops }, 'applied webhook patch')
    object = patched
  }

  for (const hook of hooks) await callHook(hook)
  for (const hook of hooks) {
    const at = calledAt.get(hook)
    if (hook.reinvocationPolicy === 'IfNeeded' && at !== undefined && lastChange > at) await callHook(hook)
  }
  return { object, warnings }
}
