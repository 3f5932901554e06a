/**
 * The HTTPS shell around the pure admission logic: `POST /mutate` with fastify.
 * Every bad input gets a 4xx with a one-line message; each review gets exactly
 * one log line and is counted in the metrics.
 */
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify'
import type { Server as HttpsServer } from 'node:https'
import type { Logger } from '#common/logger.ts'
import { BadReview, parseReview, reviewResponse } from './review.ts'
import { mutate, type MutationConfig } from './mutate.ts'
import { MIN_TLS_VERSION } from './tls.ts'
import type { WebhookMetrics } from './metrics.ts'

/** Largest accepted body: the API server may send an old and a new object of up to ~3 MiB each. */
export const MAX_BODY_BYTES = 8 * 1024 * 1024

/** Path the MutatingWebhookConfiguration points at. */
export const MUTATE_PATH = '/mutate'

/** Everything the HTTPS server needs. */
export interface WebhookServerOptions {
  config: MutationConfig
  logger: Logger
  metrics: WebhookMetrics
  bodyLimit?: number
}

/** The fastify instance over node's https server (its `server` accepts setSecureContext). */
export type WebhookServer = FastifyInstance<HttpsServer>

/** The body could not be read as JSON; the message says why. */
export class BadBody extends Error {
  override name = 'BadBody'
}

/** Parses a request body as JSON, with the parser's own explanation when it is not (the position of the fault). */
export function parseJsonBody (body: string): unknown {
  if (body.trim() === '') throw new BadBody('request body is empty; expected an AdmissionReview')
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
      return { status: 415, message: `unsupported content type ${JSON.stringify(contentType ?? '')}; send application/json` }
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { status: 413, message: `request body is larger than the limit of ${bodyLimit} bytes` }
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return { status: 400, message: 'request body length does not match Content-Length' }
  }
  const status = (error as FastifyError).statusCode ?? 500
  if (status >= 400 && status < 500) return { status, message: error.message.split('\n')[0]! }
  return { status: 500, message: `internal error: ${error.message.split('\n')[0]}` }
}

/** Builds (does not start) the HTTPS admission server. It has no certificate until `server.setSecureContext` is called. */
export function buildWebhookServer (options: WebhookServerOptions): WebhookServer {
  const { config, logger, metrics } = options
  const bodyLimit = options.bodyLimit ?? MAX_BODY_BYTES
  const app = Fastify({
    https: { minVersion: MIN_TLS_VERSION },
    logger: false,
    bodyLimit,
    // The API server waits at most 30 s for a webhook; nothing useful happens after that.
    requestTimeout: 30_000,
    return503OnClosing: true
  }) as unknown as WebhookServer
  // Only JSON is an AdmissionReview (without this, text/plain bodies would reach the handler as strings),
  // and a JSON syntax error should say where it is. JSON.parse keeps "__proto__" as a plain own key,
  // and the webhook never merges request data into other objects, so this parser cannot pollute prototypes.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    try {
      done(null, parseJsonBody(body as string))
    } catch (err) {
      done(err as Error, undefined)
    }
  })

  app.post(MUTATE_PATH, async (request, reply) => {
    const started = performance.now()
    const review = parseReview(request.body)
    const { uid, namespace, name, operation, dryRun } = review.request
    const reviewLog = logger.child({ uid, namespace, name, operation, dryRun })
    const result = mutate(review.request, config)
    const durationMs = performance.now() - started
    metrics.requests.inc({ operation, outcome: 'allowed', mutated: String(result.mutated) })
    metrics.duration.observe({ operation }, durationMs / 1000)
    const { group, kind } = review.request.kind
    reviewLog.info({ apiVersion: review.apiVersion, group, kind, mutated: result.mutated, reason: result.reason, warnings: result.warnings, durationMs: Math.round(durationMs * 1000) / 1000 }, 'admission review')
    reply.type('application/json')
    return reviewResponse(review.apiVersion, uid, result)
  })

  app.setErrorHandler((error: FastifyError, request, reply) => {
    const { status, message } = describeRequestError(error, request.headers['content-type'], bodyLimit)
    metrics.requests.inc({ operation: 'unknown', outcome: status >= 500 ? 'error' : 'bad_request', mutated: 'false' })
    const line = { status, method: request.method, url: request.url, remoteAddress: request.ip, error: message }
    if (status >= 500) logger.error({ ...line, err: error }, 'request failed')
    else logger.warn(line, 'request rejected')
    void reply.code(status).type('application/json').send({ status, message })
  })

  app.setNotFoundHandler((request, reply) => {
    const message = `no route ${request.method} ${request.url}; admission reviews go to POST ${MUTATE_PATH}`
    metrics.requests.inc({ operation: 'unknown', outcome: 'bad_request', mutated: 'false' })
    logger.warn({ status: 404, method: request.method, url: request.url, remoteAddress: request.ip, error: message }, 'request rejected')
    void reply.code(404).type('application/json').send({ status: 404, message })
  })

  return app
}
