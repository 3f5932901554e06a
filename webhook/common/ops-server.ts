/**
 * The plain-HTTP operations endpoint every long-running program exposes:
 * `/healthz` (alive), `/readyz` (ready to serve) and `/metrics` (Prometheus).
 * Kept apart from the program's main port so probes and scrapes need no TLS.
 */
import Fastify, { type FastifyInstance } from 'fastify'
import type { Registry } from './metrics.ts'

/** What the ops server reports on. */
export interface OpsServerOptions {
  registry: Registry
  /** Returns undefined when ready, else the reason it is not. */
  notReadyReason?: () => string | undefined
  /** Returns undefined when healthy, else the reason it is not. */
  unhealthyReason?: () => string | undefined
}

/** Builds (does not start) the ops server; call `listen` on the result. */
export function buildOpsServer (opts: OpsServerOptions): FastifyInstance {
  const app = Fastify({ logger: false })
  const probe = (reason: (() => string | undefined) | undefined) => async (_req: unknown, reply: { code: (n: number) => unknown }) => {
    const why = reason?.()
    if (why === undefined) return 'ok\n'
    reply.code(503)
    return `not ok: ${why}\n`
  }
  app.get('/healthz', probe(opts.unhealthyReason))
  app.get('/readyz', probe(opts.notReadyReason))
  app.get('/metrics', async (_req, reply) => {
    reply.type(opts.registry.contentType)
    return await opts.registry.metrics()
  })
  return app
}
