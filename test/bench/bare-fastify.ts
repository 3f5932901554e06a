/**
 * The bare fastify HTTPS baseline the webhook is measured against: parses a
 * JSON body (up to the webhook's size limit, passed in) on one POST route and
 * answers a fixed body, with no logging and nothing but fastify loaded.
 */
import Fastify from 'fastify'

/** A started baseline server. */
export interface BareFastify {
  port: number
  close: () => Promise<void>
}

/** What the baseline serves. */
export interface BareFastifyOptions {
  tls: { cert: string, key: string }
  path: string
  bodyLimit: number
  /** The fixed answer, read per request. */
  answer: () => string
  /** Listen port on 127.0.0.1 (default 0: a free one). */
  port?: number
}

/** Starts the baseline. */
export async function startBareFastify ({ tls, path, bodyLimit, answer, port = 0 }: BareFastifyOptions): Promise<BareFastify> {
  const app = Fastify({ https: { cert: tls.cert, key: tls.key, minVersion: 'TLSv1.2' }, logger: false, bodyLimit })
  app.post(path, async (_request, reply) => reply.type('application/json').send(answer()))
  await app.listen({ port, host: '127.0.0.1' })
  return { port: (app.server.address() as { port: number }).port, close: () => app.close() }
}
