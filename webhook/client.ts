/**
 * A minimal HTTPS JSON client calling the webhook the way the API server does:
 * verifying the certificate against a CA bundle for the Service's DNS name,
 * whatever address it connects to. Used by the benchmark and tests.
 */
import { request, type Agent } from 'node:https'
import type { TLSSocket } from 'node:tls'

/** Where and how to send. */
export interface JsonPost {
  host: string
  port: number
  path: string
  /** PEM CA bundle the server certificate must chain to. */
  ca: string
  /** Name checked against the certificate (and sent as SNI). */
  servername: string
  body: string
  /** Connection reuse; a fresh connection per request when absent. */
  agent?: Agent
}

/** The answer, with the negotiated TLS version. */
export interface JsonAnswer {
  status: number
  text: string
  tlsProtocol: string | null
}

/** POSTs `body` as application/json and collects the answer. */
export function postJson (post: JsonPost): Promise<JsonAnswer> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: post.host,
      port: post.port,
      method: 'POST',
      path: post.path,
      ca: post.ca,
      servername: post.servername,
      agent: post.agent ?? false,
      headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(post.body)) }
    }, res => {
      const tlsProtocol = (res.socket as TLSSocket).getProtocol()
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('error', reject)
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), tlsProtocol }))
    })
    req.on('error', reject)
    req.end(post.body)
  })
}
