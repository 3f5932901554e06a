/** Test helper: a small HTTPS client that verifies the webhook's certificate against a given CA. */
import { request, Agent } from 'node:https'
import type { TLSSocket } from 'node:tls'
import { TEST_SERVER_NAME } from './certs.ts'

/** A response as the tests look at it. */
export interface TestResponse {
  status: number
  headers: Record<string, string | string[] | undefined>
  text: string
  /** SHA-256 fingerprint of the certificate the server presented. */
  fingerprint256: string
}

/** Request settings; `ca` is required so every call verifies the server. */
export interface TestRequest {
  port: number
  ca: string
  method?: string
  path?: string
  body?: string | Buffer
  headers?: Record<string, string>
  /** Reuse connections through this agent (defaults to a fresh connection per request). */
  agent?: Agent
  /** Called once the request is sent except for the body, to let a test act mid-request; the body is written after it resolves. */
  beforeBody?: (write: (chunk: string | Buffer) => void) => Promise<void>
}

/** Sends one request to 127.0.0.1 with SNI and hostname check for the webhook Service name. */
export function httpsRequest (options: TestRequest): Promise<TestResponse> {
  return new Promise((resolve, reject) => {
    const body = options.body ?? ''
    const req = request({
      host: '127.0.0.1',
      port: options.port,
      method: options.method ?? 'POST',
      path: options.path ?? '/mutate',
      ca: options.ca,
      servername: TEST_SERVER_NAME,
      agent: options.agent ?? false,
      headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), ...options.headers }
    }, res => {
      const fingerprint256 = (res.socket as TLSSocket).getPeerCertificate().fingerprint256
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('error', reject)
      res.on('end', () => resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        text: Buffer.concat(chunks).toString('utf8'),
        fingerprint256
      }))
    })
    req.on('error', reject)
    if (options.beforeBody === undefined) {
      req.end(body)
      return
    }
    req.flushHeaders()
    options.beforeBody(chunk => req.write(chunk)).then(() => req.end(), reject)
  })
}

/** POSTs `review` as JSON to /mutate and parses the answer. */
export async function postReview (port: number, ca: string, review: unknown, agent?: Agent): Promise<{ status: number, body: any, fingerprint256: string }> {
  const res = await httpsRequest({ port, ca, body: JSON.stringify(review), agent })
  return { status: res.status, body: JSON.parse(res.text), fingerprint256: res.fingerprint256 }
}
