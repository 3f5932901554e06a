/**
 * Starting and stopping the webhook as a whole: logger, metrics, certificate
 * reloader, HTTPS server and ops server. `main.ts` calls it with the parsed
 * options; tests call it directly with port 0.
 */
import type { AddressInfo } from 'node:net'
import { createLogger, type Logger } from '#common/logger.ts'
import { createRegistry, type Registry } from '#common/metrics.ts'
import { buildOpsServer } from '#common/ops-server.ts'
import { loggable } from '#common/options.ts'
import { createWebhookMetrics } from './metrics.ts'
import { WEBHOOK_OPTIONS, WEBHOOK_PROGRAM, type WebhookOptionValues } from './options.ts'
import { buildWebhookServer, type WebhookServer } from './server.ts'
import { CertificateReloader, MIN_TLS_VERSION } from './tls.ts'

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

/** Optional seams for tests and embedding. */
export interface StartOptions {
  logger?: Logger
  /** Debounce of certificate change events (default 100 ms). */
  certDebounceMs?: number
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
  const app = buildWebhookServer({
    config: { nodeSelector: values.nodeSelector, policy: { names: values.handlerNames, labelKeys: values.handlerLabelKeys, images: values.handlerImages } },
    logger,
    metrics
  })
  const reloader = new CertificateReloader({
    dir: values.certDir,
    logger,
    debounceMs: start.certDebounceMs
  })
  reloader.on('load', pair => {
    app.server.setSecureContext({ cert: pair.cert, key: pair.key, minVersion: MIN_TLS_VERSION })
    metrics.certificateLoads.inc({ result: 'loaded' })
    metrics.certificateExpiry.set({}, Math.floor(pair.notAfter.getTime() / 1000))
  })
  reloader.on('reject', () => metrics.certificateLoads.inc({ result: 'rejected' }))
  let stopping = false
  const ops = buildOpsServer({
    registry,
    notReadyReason: () => {
      if (stopping) return 'shutting down'
      return reloader.current === undefined ? `no valid tls.crt/tls.key loaded from ${values.certDir} yet` : undefined
    }
  })
  await reloader.start()
  try {
    await app.listen({ port: values.port, host: values.listenAddress })
    await ops.listen({ port: values.metricsPort, host: values.listenAddress })
  } catch (err) {
    reloader.stop()
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
      reloader.stop()
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
  return { port, metricsPort, httpsServer: app.server, registry, reloader, stop }
}
