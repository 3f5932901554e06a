/**
 * Starting and stopping the webhook as a whole: logger, metrics, the fastify
 * HTTPS server with the webhook plugin (server.ts), and the ops server. `main.ts` calls it with the parsed
 * options; tests call it directly with port 0.
 */
import type { AddressInfo } from 'node:net'
import { createLogger, type Logger } from '#common/logger.ts'
import { createRegistry, type Registry } from '#common/metrics.ts'
import { buildOpsServer } from '#common/ops-server.ts'
import { listenError } from '#common/listen.ts'
import { loggable, optionName } from '#common/options.ts'
import Fastify, { LogController } from 'fastify'
import { createWebhookMetrics } from './metrics.ts'
import { WEBHOOK_OPTIONS, WEBHOOK_PROGRAM, type WebhookOptionValues } from './options.ts'
import { MAX_BODY_BYTES, webhookPlugin, type WebhookServer } from './server.ts'
import { servingProblem, TLS_PROFILE, type CertificateReloader } from './tls.ts'

/** A running webhook. */
export interface RunningWebhook {
  /** Bound HTTPS port (useful with `--port 0`). */
  port: number
  /** Bound ops port. */
  metricsPort: number
  /** The node https server under fastify (tests wait on its `request` event). */
  httpsServer: WebhookServer['server']
  registry: Registry
  reloader: CertificateReloader
  /** Stops accepting, lets in-flight requests finish (up to the shutdown timeout), then closes everything. */
  stop: () => Promise<void>
}

/**
 * How long a client may take and how many may connect. The API server sends a
 * review at once and waits 10 to 30 s for the answer, and its client closes
 * connections idle for 90 s; none of these limits comes near that, while a
 * slow or half-open client is cut off within seconds.
 */
export interface ConnectionLimits {
  /** From TCP accept to a finished TLS handshake (Node's default is 120 s). */
  handshakeTimeoutMs: number
  /** From connection (or the previous response) to the end of the request headers. */
  headersTimeoutMs: number
  /** For the whole request, body included: no webhook call lasts longer than 30 s. At least headersTimeoutMs (Node swaps the two otherwise). */
  requestTimeoutMs: number
  /** An idle keep-alive connection is kept this long: longer than the API server client's own 90 s, so it is the client that closes it and never sends a review on a connection the server is closing. */
  keepAliveTimeoutMs: number
  /** How often the header and request timeouts are checked (Node's default is 30 s, which stretches a 30 s timeout to 60 s). */
  checkIntervalMs: number
  /** Connections open at once; more are closed on accept. */
  maxConnections: number
}

/** The connection limits the webhook runs with. */
export const CONNECTION_LIMITS: ConnectionLimits = {
  handshakeTimeoutMs: 10_000,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 100_000,
  checkIntervalMs: 1_000,
  maxConnections: 256
}

/** Optional seams for tests and embedding. */
export interface StartOptions {
  logger?: Logger
  /** Debounce of certificate change events (default 100 ms). */
  certDebounceMs?: number
  /** Replaces some of CONNECTION_LIMITS. */
  connectionLimits?: Partial<ConnectionLimits>
}

function boundPort (address: AddressInfo | string | null): number {
  if (address === null || typeof address === 'string') throw new Error(`unexpected server address ${String(address)}`)
  return address.port
}

/** Starts the webhook with `values`; resolves when both ports listen. */
export async function startWebhook (values: WebhookOptionValues, start: StartOptions = {}): Promise<RunningWebhook> {
  const logger = start.logger ?? createLogger(WEBHOOK_PROGRAM, values.logLevel)
  logger.info({ config: loggable(WEBHOOK_OPTIONS, values) }, 'starting')
  const registry = createRegistry()
  const metrics = createWebhookMetrics(registry)
  const limits = { ...CONNECTION_LIMITS, ...start.connectionLimits }
  const app = Fastify({
    https: {
      ...TLS_PROFILE,
      handshakeTimeout: limits.handshakeTimeoutMs,
      headersTimeout: limits.headersTimeoutMs,
      connectionsCheckingInterval: limits.checkIntervalMs
    },
    loggerInstance: logger,
    // One log line per review, written by the route: no per-request child logger, no request/response lines.
    childLoggerFactory: parent => parent,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: MAX_BODY_BYTES,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    return503OnClosing: true
  }) as unknown as WebhookServer
  app.server.maxConnections = limits.maxConnections
  await app.register(webhookPlugin, {
    config: { nodeSelector: values.nodeSelector, policy: { names: values.handlerNames, labelKeys: values.handlerLabelKeys, images: values.handlerImages } },
    metrics,
    certDir: values.certDir,
    certDebounceMs: start.certDebounceMs
  })
  let stopping = false
  const ops = buildOpsServer({
    registry,
    notReadyReason: () => {
      if (stopping) return 'shutting down'
      const problem = servingProblem(app.certificates.current)
      return problem === undefined ? undefined : `${problem} (from ${values.certDir})`
    }
  })
  const host = values.listenAddress
  try {
    await app.listen({ port: values.port, host }).catch(err => { throw listenError(err, { host, port: values.port, setting: optionName(WEBHOOK_OPTIONS.port) }) })
    await ops.listen({ port: values.metricsPort, host }).catch(err => { throw listenError(err, { host, port: values.metricsPort, setting: optionName(WEBHOOK_OPTIONS.metricsPort) }) })
  } catch (err) {
    await Promise.allSettled([app.close(), ops.close()])
    throw err
  }
  const port = boundPort(app.server.address())
  const metricsPort = boundPort(ops.server.address())
  logger.info({ port, metricsPort, certDir: values.certDir }, 'listening')

  let stopped: Promise<void> | undefined
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      stopping = true
      logger.info({ timeoutMs: values.shutdownTimeout }, 'shutting down: finishing in-flight requests')
      const force = setTimeout(() => {
        logger.warn('shutdown timeout reached; closing remaining connections')
        app.server.closeAllConnections()
      }, values.shutdownTimeout)
      force.unref()
      await app.close()
      clearTimeout(force)
      await ops.close()
      logger.info('stopped')
    })()
    return stopped
  }
  return { port, metricsPort, httpsServer: app.server, registry, reloader: app.certificates, stop }
}
