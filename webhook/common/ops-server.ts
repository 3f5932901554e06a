/**
 * The plain-HTTP operations endpoint every long-running program exposes:
 * `/healthz` (alive: `{"health":"OK"}`, the Node Termination Handler's
 * answer, also at a path of the program's choosing), `/readyz` (ready to
 * serve) and `/metrics` (Prometheus).
 * Kept apart from the program's main port so probes and scrapes need no TLS.
 * Three fixed routes need no framework: node:http alone keeps the agent,
 * which runs on every node, about 20 MiB smaller than a fastify instance
 * would (measured with `npm run bench -- --only memory`).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Registry } from './metrics.ts'

/** What the ops server reports on. */
export interface OpsServerOptions {
  registry: Registry
  /** Returns undefined when ready, else the reason it is not. */
  notReadyReason?: () => string | undefined
  /** Returns undefined when healthy, else the reason it is not. */
  unhealthyReason?: () => string | undefined
  /** Another path answering like /healthz (the agent's PROBES_SERVER_ENDPOINT). */
  healthPath?: string
}

/** A built ops server: `listen` starts it, `close` stops it. */
export interface OpsServer {
  readonly server: Server
  /** Listens on `host:port` (port 0: a free one); resolves with the base URL. */
  listen (at: { port: number, host: string }): Promise<string>
  close (): Promise<void>
}

function send (res: ServerResponse, status: number, contentType: string, body: string, head: boolean): void {
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' })
  res.end(head ? undefined : body)
}

/** Builds (does not start) the ops server. */
export function buildOpsServer (opts: OpsServerOptions): OpsServer {
  const healthPaths = new Set(['/healthz', opts.healthPath ?? '/healthz'])
  const known = [...healthPaths, '/readyz', '/metrics']
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0]!
    const head = req.method === 'HEAD'
    if (!known.includes(path)) {
      send(res, 404, 'text/plain; charset=utf-8', `not found: ${path}; try ${known.join(', ')}\n`, head)
      return
    }
    if (req.method !== 'GET' && !head) {
      res.setHeader('allow', 'GET, HEAD')
      send(res, 405, 'text/plain; charset=utf-8', `method ${req.method} not allowed; use GET\n`, false)
      return
    }
    if (path === '/metrics') {
      send(res, 200, opts.registry.contentType, await opts.registry.metrics(), head)
      return
    }
    if (path === '/readyz') {
      const why = opts.notReadyReason?.()
      send(res, why === undefined ? 200 : 503, 'text/plain; charset=utf-8', why === undefined ? 'ok\n' : `not ok: ${why}\n`, head)
      return
    }
    const why = opts.unhealthyReason?.()
    send(res, why === undefined ? 200 : 503, 'application/json', JSON.stringify({ health: why === undefined ? 'OK' : `not ok: ${why}` }), head)
  }
  const server = createServer((req, res) => {
    handle(req, res).catch((err: Error) => {
      if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', `internal error: ${err.message}\n`, false)
      else res.destroy()
    })
  })
  return {
    server,
    listen: ({ port, host }) => new Promise((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, host, () => {
        server.off('error', reject)
        const address = server.address() as AddressInfo
        resolve(`http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`)
      })
    }),
    close: () => new Promise(resolve => {
      server.close(() => resolve())
      server.closeAllConnections()
    })
  }
}
