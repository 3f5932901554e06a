/**
 * The HTTPS call from the simulated API server to an admission webhook: POST the
 * AdmissionReview JSON, verify the server certificate against `caBundle` (system
 * roots when empty) and the host name (`<service>.<namespace>.svc` for service
 * references, as the API server does), give up after `timeoutSeconds`.
 *
 * Errors read like the API server's Go client errors (`Post "<url>": ...`) so the
 * resulting Status messages look familiar; Node's own text is kept in parentheses.
 */
import { urlToHttpOptions } from 'node:url'
import { httpsCall } from '../../helpers/https.ts'

/** Where and how to call one webhook. */
export interface WebhookTarget {
  /** Full URL, including the `?timeout=Ns` query the API server adds. */
  url: string
  /** Base64 PEM bundle from clientConfig.caBundle (undefined/empty: system roots). */
  caBundle?: string
  /** Host name the certificate must be valid for (defaults to the URL's host). */
  serverName?: string
  timeoutMs: number
}

/** Calls a webhook and returns the parsed JSON response body. */
export type WebhookCaller = (target: WebhookTarget, review: unknown) => Promise<unknown>

function goLikeReason (err: NodeJS.ErrnoException, target: WebhookTarget): string {
  const host = new URL(target.url).host
  switch (err.code) {
    case 'ECONNREFUSED': return `dial tcp ${host}: connect: connection refused`
    case 'ENOTFOUND': return `dial tcp: lookup ${new URL(target.url).hostname}: no such host`
    case 'ECONNRESET': return 'read: connection reset by peer'
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
      return `tls: failed to verify certificate: x509: certificate signed by unknown authority (${err.message})`
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return `tls: failed to verify certificate: x509: certificate is not valid for ${target.serverName ?? new URL(target.url).hostname} (${err.message})`
    default: return err.message
  }
}

/** The production caller: one HTTPS call with the bundle as the only trusted CA. */
export const callWebhookOverHttps: WebhookCaller = async (target, review) => {
  const url = new URL(target.url)
  const { hostname, path } = urlToHttpOptions(url)
  const ca = target.caBundle !== undefined && target.caBundle !== '' ? Buffer.from(target.caBundle, 'base64').toString('utf8') : undefined
  let res
  try {
    res = await httpsCall({
      host: hostname ?? url.hostname,
      port: url.port === '' ? 443 : Number(url.port),
      path: path ?? '/',
      body: JSON.stringify(review),
      headers: { accept: 'application/json, */*' },
      timeoutMs: target.timeoutMs,
      ...(ca === undefined ? {} : { ca }),
      ...(target.serverName === undefined ? {} : { servername: target.serverName })
    })
  } catch (err) {
    const reason = (err as Error).name === 'TimeoutError' ? 'context deadline exceeded' : goLikeReason(err as NodeJS.ErrnoException, target)
    throw new Error(`failed to call webhook: Post "${target.url}": ${reason}`, { cause: err })
  }
  if (res.status !== 200) throw new Error(`failed to call webhook: an error on the server (${JSON.stringify(res.text.slice(0, 200))}) has prevented the request from succeeding (HTTP ${res.status})`)
  try {
    return JSON.parse(res.text)
  } catch {
    throw new Error(`received invalid webhook response: ${res.text === '' ? 'empty body' : 'body is not JSON'}`)
  }
}
