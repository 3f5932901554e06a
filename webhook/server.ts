/**
 * The HTTPS shell around the pure admission logic, as a fastify plugin:
 * `POST /mutate`, the serving certificate (loaded from `certDir`, re-read on
 * change, stopped when fastify closes), the JSON body parser, metrics in an
 * onResponse hook, and one error handler for not-found routes and every bad
 * input (a 4xx with a one-line message). Each review gets exactly one log
 * line, written with fastify's own logger.
 */
import type { FastifyError, FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import type { Server as HttpsServer } from 'node:https'
import { clip, describeValue } from '#common/json.ts'
import { isLabelValue, labelKeyProblem } from '#common/names.ts'
import { BodyBudget, reservedBytes } from './body-budget.ts'
import type { WebhookMetrics } from './metrics.ts'
import { mutate, type MutationConfig } from './mutate.ts'
import { BadReview, parseReview, reviewResponse, type AdmissionOperation } from './review.ts'
import { CertificateReloader, TLS_PROFILE } from './tls.ts'

/** Largest accepted body: the API server may send an old and a new object of up to ~3 MiB each. */
export const MAX_BODY_BYTES = 8 * 1024 * 1024

/** Longest a large review waits for the body budget before it is answered 429; the API server gives up by then. */
export const LARGE_REVIEW_WAIT_MS = 10_000

/** Path the MutatingWebhookConfiguration points at. */
export const MUTATE_PATH = '/mutate'

/** What the plugin is registered with. */
export interface WebhookPluginOptions {
  config: MutationConfig
  metrics: WebhookMetrics
  /** Directory of `tls.crt` and `tls.key`. */
  certDir: string
  /** Quiet time after a certificate change before it is read (default 100 ms). */
  certDebounceMs?: number
}

/** The fastify instance the plugin runs in: over node's https server, which accepts setSecureContext. */
export type WebhookServer = FastifyInstance<HttpsServer>

declare module 'fastify' {
  interface FastifyInstance {
    /** The serving certificate's reloader (its `current` pair is undefined until one loaded). */
    certificates: CertificateReloader
  }
  interface FastifyRequest {
    /** The review's operation once its body was understood, for the metrics. */
    admission?: { operation: AdmissionOperation, mutated: boolean }
  }
}

/** The body could not be read as JSON; the message says why. */
export class BadBody extends Error {
  override name = 'BadBody'
}

/** No route for the request. */
class NoRoute extends Error {
  override name = 'NoRoute'
  readonly statusCode = 404
}

/** Parses a request body as JSON, with the parser's own explanation when it is not (the position of the fault). */
export function parseJsonBody (body: string): unknown {
  if (!/\S/.test(body)) throw new BadBody('request body is empty; expected an AdmissionReview')
  try {
    return JSON.parse(body)
  } catch (err) {
    throw new BadBody(`request body is not valid JSON: ${(err as Error).message}`)
  }
}

/** Turns framework and codec errors into a status and a one-line message saying what was wrong. */
export function describeRequestError (error: FastifyError | Error, contentType: string | undefined, bodyLimit: number): { status: number, message: string } {
  if (error instanceof BadReview) return { status: 400, message: `invalid AdmissionReview: ${error.message}` }
  if (error instanceof BadBody) return { status: 400, message: error.message }
  const code = (error as FastifyError).code
  switch (code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { status: 415, message: `unsupported content type ${describeValue(contentType ?? '')}; send application/json` }
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { status: 413, message: `request body is larger than the limit of ${bodyLimit} bytes` }
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return { status: 400, message: 'request body length does not match Content-Length' }
  }
  const status = (error as FastifyError).statusCode ?? 500
  if (status >= 400 && status < 500) return { status, message: clip(error.message.split('\n')[0]!) }
  return { status: 500, message: `internal error: ${clip(error.message.split('\n')[0]!)}` }
}

/** Checks the options once, at registration; throws an Error naming the first bad one. */
function checkOptions (options: WebhookPluginOptions): void {
  if (options.certDir.trim() === '') throw new Error('certDir is empty')
  const selector = Object.entries(options.config.nodeSelector)
  if (selector.length === 0) throw new Error('the nodeSelector to inject is empty')
  for (const [key, value] of selector) {
    const problem = labelKeyProblem(key)
    if (problem !== undefined) throw new Error(`nodeSelector: ${problem}`)
    if (!isLabelValue(value)) throw new Error(`nodeSelector: "${value}" of "${key}" is not a valid label value`)
  }
  const { names, labelKeys, images } = options.config.policy
  if (names.length === 0 || labelKeys.length === 0 || images.length === 0) throw new Error('the handler names, label keys and images must not be empty')
}

/** The outcome label of a finished request, from its status. */
function outcomeOf (status: number): 'allowed' | 'bad_request' | 'throttled' | 'error' {
  return status < 400 ? 'allowed' : status === 429 ? 'throttled' : status < 500 ? 'bad_request' : 'error'
}

/**
 * Waits for `bytes` of the body budget, released when the response closes.
 * Resolves true to go on; false when the review was answered 429 (line full,
 * or waited LARGE_REVIEW_WAIT_MS) or its client left while it waited. A client
 * whose unread body fills the TCP window is only noticed at the wait limit.
 */
async function admitLarge (budget: BodyBudget, metrics: WebhookMetrics, request: FastifyRequest, reply: FastifyReply, bytes: number): Promise<boolean> {
  const gone = new AbortController()
  let held = false
  reply.raw.once('close', () => {
    gone.abort()
    if (held) budget.release(bytes)
  })
  const reservation = budget.reserve(bytes, AbortSignal.any([gone.signal, AbortSignal.timeout(LARGE_REVIEW_WAIT_MS)]))
  const granted = reservation === 'granted' || (reservation !== 'refused' && await reservation)
  metrics.largeReviews.inc({ result: granted ? (reservation === 'granted' ? 'granted' : 'waited') : (reservation === 'refused' ? 'refused' : 'gave_up') })
  if (gone.signal.aborted) {
    // Nobody to answer: the client left while the review waited, or just as it was granted.
    if (granted) budget.release(bytes)
    return false
  }
  if (!granted) {
    const message = `too many large reviews in flight (${budget.waiting} waiting for ${budget.capacity} bytes); retry later`
    request.log.warn({ status: 429, remoteAddress: request.ip, contentLength: bytes, error: message }, 'request throttled')
    void reply.code(429).header('retry-after', '1').type('application/json').send({ status: 429, message })
    return false
  }
  held = true
  return true
}

const plugin: FastifyPluginAsync<WebhookPluginOptions> = async (fastify, options) => {
  checkOptions(options)
  const app = fastify as unknown as WebhookServer
  const { config, metrics } = options
  const bodyLimit = app.initialConfig.bodyLimit ?? MAX_BODY_BYTES

  const certificates = new CertificateReloader({ dir: options.certDir, logger: app.log, debounceMs: options.certDebounceMs })
  certificates.on('load', pair => {
    app.server.setSecureContext({ ...TLS_PROFILE, cert: pair.cert, key: pair.key })
    metrics.certificateLoads.inc({ result: 'loaded' })
    metrics.certificateExpiry.set(Math.floor(pair.notAfter.getTime() / 1000))
  })
  certificates.on('reject', () => metrics.certificateLoads.inc({ result: 'rejected' }))
  await certificates.start()
  app.decorate('certificates', certificates)
  app.addHook('onClose', async () => certificates.stop())

  // Only JSON is an AdmissionReview (without this, text/plain bodies would reach the handler as strings),
  // and a JSON syntax error should say where it is. JSON.parse keeps "__proto__" as a plain own key,
  // and the webhook never merges request data into other objects, so this parser cannot pollute prototypes.
  // A large body waits for its share of the budget before a byte of it is read (TCP holds the rest meanwhile);
  // a small one goes on at once, without a promise.
  const budget = new BodyBudget()
  app.addHook('onRequest', (request, reply, done) => {
    const bytes = reservedBytes(request.headers, bodyLimit)
    if (bytes === undefined) done()
    else admitLarge(budget, metrics, request, reply, bytes).then(admitted => { if (admitted) done() }, done)
  })

  app.removeAllContentTypeParsers()
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    try {
      done(null, parseJsonBody(body as string))
    } catch (err) {
      done(err as Error, undefined)
    }
  })

  app.post(MUTATE_PATH, async (request: FastifyRequest, reply: FastifyReply) => {
    const review = parseReview(request.body)
    const { uid, namespace, name, operation, dryRun, kind } = review.request
    const result = mutate(review.request, config)
    request.admission = { operation, mutated: result.mutated }
    // The warning announcing the mutation repeats `reason`; only other warnings (conflicts, bad annotations) are worth a field.
    const warnings = result.mutated ? result.warnings.slice(0, -1) : result.warnings
    request.log.info({ uid: clip(uid), namespace: namespace === undefined ? undefined : clip(namespace), name: name === undefined ? undefined : clip(name), operation, dryRun, kind: clip(`${kind.group === '' ? '' : `${kind.group}/`}${kind.kind}`), mutated: result.mutated, reason: result.reason, ...(warnings.length > 0 ? { warnings } : {}), durationMs: Math.round(reply.elapsedTime * 1000) / 1000 }, 'admission review')
    reply.type('application/json')
    return reviewResponse(review.apiVersion, uid, result)
  })

  app.addHook('onResponse', (request, reply, done) => {
    const operation = request.admission?.operation ?? 'unknown'
    metrics.requests.inc({ operation, outcome: outcomeOf(reply.statusCode), mutated: String(request.admission?.mutated === true) })
    if (request.admission !== undefined) metrics.duration.observe({ operation }, reply.elapsedTime / 1000)
    done()
  })

  app.setNotFoundHandler(request => {
    throw new NoRoute(`no route ${request.method} ${clip(request.url)}; admission reviews go to POST ${MUTATE_PATH}`)
  })

  app.setErrorHandler((error: FastifyError, request, reply) => {
    const { status, message } = describeRequestError(error, request.headers['content-type'], bodyLimit)
    const line = { status, method: request.method, url: clip(request.url), remoteAddress: request.ip, error: message }
    if (status >= 500) request.log.error({ ...line, err: error }, 'request failed')
    else request.log.warn(line, 'request rejected')
    void reply.code(status).type('application/json').send({ status, message })
  })
}

/**
 * The webhook as a fastify plugin. Registered at the root (not encapsulated),
 * so its not-found and error handlers answer for the whole server.
 */
export const webhookPlugin = Object.assign(plugin, { [Symbol.for('skip-override')]: true })
