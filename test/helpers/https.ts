/**
 * Test helper: the one HTTPS client of the tests, the benchmark and the
 * Kubernetes simulator's webhook calls. Every call verifies the server
 * certificate (against `ca`, else the system roots) and reports status,
 * headers, body, the negotiated TLS version and the peer's fingerprint.
 */
import { request, type Agent } from 'node:https'
import type { TLSSocket } from 'node:tls'
import { TEST_SERVER_NAME } from './certs.ts'

/** One HTTPS request. */
export interface HttpsCall {
  /** Address to connect to (default 127.0.0.1). */
  host?: string
  port: number
  /** Default POST. */
  method?: string
  /** Path and query (default `/`). */
  path?: string
  /** PEM CA bundle the server certificate must chain to (default: the system roots). */
  ca?: string
  /** Name checked against the certificate and sent as SNI, whatever `host` is (default: Node's, from `host`). */
  servername?: string
  body?: string | Buffer
  /** Added to `content-type: application/json` and the body's `content-length`, replacing them when named the same. */
  headers?: Record<string, string>
  /** Reuse connections through this agent (default: a fresh connection per request). */
  agent?: Agent
  /** Give up after this long: the request is destroyed and the call rejects with a `TimeoutError`. */
  timeoutMs?: number
  /** Called once the request is sent except for the body, to let a test act mid-request; the body is written after it resolves. */
  beforeBody?: (write: (chunk: string | Buffer) => void) => Promise<void>
}

/** The answer to an `HttpsCall`. */
export interface HttpsResponse {
  status: number
  headers: Record<string, string | string[] | undefined>
  text: string
  /** Negotiated TLS version, e.g. `TLSv1.3`. */
  tlsProtocol: string | null
  /** SHA-256 fingerprint of the certificate the server presented. */
  fingerprint256: string
}

/** Sends one request and collects the whole answer; rejects with Node's error (its `code` says why) or a `TimeoutError`. */
export function httpsCall (call: HttpsCall): Promise<HttpsResponse> {
  return new Promise((resolve, reject) => {
    const body = call.body ?? ''
    let timer: NodeJS.Timeout | undefined
    const settle = (done: () => void): void => { clearTimeout(timer); done() }
    const fail = (err: Error): void => settle(() => reject(err))
    const req = request({
      host: call.host ?? '127.0.0.1',
      port: call.port,
      method: call.method ?? 'POST',
      path: call.path ?? '/',
      ...(call.ca === undefined ? {} : { ca: call.ca }),
      ...(call.servername === undefined ? {} : { servername: call.servername }),
      agent: call.agent ?? false,
      headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), ...call.headers }
    }, res => {
      const socket = res.socket as TLSSocket
      const tlsProtocol = socket.getProtocol()
      const fingerprint256 = socket.getPeerCertificate().fingerprint256
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('error', fail)
      res.on('end', () => settle(() => resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        text: Buffer.concat(chunks).toString('utf8'),
        tlsProtocol,
        fingerprint256
      })))
    })
    req.on('error', fail)
    if (call.timeoutMs !== undefined) {
      const timeoutMs = call.timeoutMs
      timer = setTimeout(() => {
        const err = new Error(`no complete answer from ${call.host ?? '127.0.0.1'}:${call.port} within ${timeoutMs} ms`)
        err.name = 'TimeoutError'
        reject(err)
        req.destroy()
      }, timeoutMs)
    }
    if (call.beforeBody === undefined) {
      req.end(body)
      return
    }
    req.flushHeaders()
    call.beforeBody(chunk => req.write(chunk)).then(() => req.end(), fail)
  })
}

/** A request to the webhook under test: `ca` is required, the rest defaults to POST /mutate on 127.0.0.1 for the test Service name. */
export type TestRequest = Omit<HttpsCall, 'host' | 'ca' | 'servername'> & { ca: string }

/** Sends one request to the test webhook on 127.0.0.1 with SNI and hostname check for the webhook Service name. */
export function httpsRequest (options: TestRequest): Promise<HttpsResponse> {
  return httpsCall({ ...options, path: options.path ?? '/mutate', servername: TEST_SERVER_NAME })
}

/** POSTs `review` as JSON to /mutate and parses the answer. */
export async function postReview (port: number, ca: string, review: unknown, agent?: Agent): Promise<{ status: number, body: any, fingerprint256: string }> {
  const res = await httpsRequest({ port, ca, body: JSON.stringify(review), ...(agent === undefined ? {} : { agent }) })
  return { status: res.status, body: JSON.parse(res.text), fingerprint256: res.fingerprint256 }
}
