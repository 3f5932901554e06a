/**
 * Answers one IMDS request from the simulator's state: token issue, token
 * checks, metadata lookup. Pure (no sockets); the HTTP shell in server.ts
 * applies faults around it.
 *
 * Status codes follow AWS re:Post "How do I troubleshoot instance metadata
 * issues on my EC2 Linux instance?" (400: the token PUT is not valid; 401: a
 * read with a token that is not valid; 403: request not allowed; 404: no such
 * item) and the EC2 User Guide "How Instance Metadata Service Version 2 works"
 * (TTL from 1 second to 6 hours). So: 400 for a token PUT with a missing or
 * out-of-range TTL; 401 for a read with an unknown or expired token (in either
 * mode) or, when IMDSv2 is required, without one; 403 for a token PUT carrying
 * `X-Forwarded-For` (AWS Security Blog, "Add defense in depth against open
 * firewalls, reverse proxies, and SSRF vulnerabilities with enhancements to the
 * EC2 Instance Metadata Service": no token is issued to such requests; 403 is
 * our reading of "request not allowed"); 404 for a missing item. Methods other
 * than PUT on the token path and GET/HEAD elsewhere get 405 (not documented by
 * AWS; the plain HTTP answer). Error bodies are the small XHTML page IMDS
 * serves with `Content-Type: text/html` (as captured from a real instance in
 * public curl transcripts); items and listings are `text/plain`, JSON items too.
 */
import type { IncomingHttpHeaders } from 'node:http'
import type { InstanceInfo } from './instance.ts'
import { lookup, metadataTree } from './metadata.ts'
import type { Scenario } from './scenario.ts'
import { parseTokenTtl, TOKEN_HEADER, TOKEN_TTL_HEADER, type TokenStatus, type TokenStore } from './tokens.ts'

/** The token endpoint. */
export const TOKEN_PATH = '/latest/api/token'

/** Everything a request is answered from. */
export interface ImdsState {
  readonly instance: InstanceInfo
  readonly scenario: Scenario
  readonly tokens: TokenStore
  /** IMDSv2 required: reads without a token get 401. */
  readonly imdsv2Only: boolean
}

/** The parts of a request that matter. */
export interface ImdsRequest {
  method: string
  /** URL path without the query string. */
  path: string
  headers: IncomingHttpHeaders
}

/** An answer, plus how the request's token looked (for the request log). */
export interface ImdsResponse {
  status: number
  headers: Record<string, string>
  body: string
  token: TokenStatus
}

const REASONS: Record<number, string> = {
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed',
  500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout'
}

/** The XHTML error page IMDS sends with a 4xx/5xx status. */
export function errorResponse (status: number, token: TokenStatus, extraHeaders: Record<string, string> = {}): ImdsResponse {
  const title = `${status} - ${REASONS[status] ?? 'Error'}`
  const body = [
    '<?xml version="1.0" encoding="iso-8859-1"?>',
    '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"',
    '\t"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">',
    '<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">',
    ' <head>',
    `  <title>${title}</title>`,
    ' </head>',
    ' <body>',
    `  <h1>${title}</h1>`,
    ' </body>',
    '</html>',
    ''
  ].join('\n')
  return { status, headers: { 'content-type': 'text/html', ...extraHeaders }, body, token }
}

function textResponse (body: string, token: TokenStatus, extraHeaders: Record<string, string> = {}): ImdsResponse {
  return { status: 200, headers: { 'content-type': 'text/plain', ...extraHeaders }, body, token }
}

function firstHeader (headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name]
  return Array.isArray(v) ? v[0] : v
}

/** How the request's `X-aws-ec2-metadata-token` header looks to the simulator. */
export function requestTokenStatus (state: ImdsState, headers: IncomingHttpHeaders): TokenStatus {
  return state.tokens.check(firstHeader(headers, TOKEN_HEADER))
}

/** Answers one request. */
export function handleImdsRequest (state: ImdsState, req: ImdsRequest): ImdsResponse {
  const token = requestTokenStatus(state, req.headers)
  if (req.path === TOKEN_PATH) {
    if (req.method !== 'PUT') return errorResponse(405, token, { allow: 'PUT' })
    if (req.headers['x-forwarded-for'] !== undefined) return errorResponse(403, token)
    const ttl = parseTokenTtl(firstHeader(req.headers, TOKEN_TTL_HEADER))
    if (ttl === undefined) return errorResponse(400, token)
    return textResponse(state.tokens.issue(ttl), token, { [TOKEN_TTL_HEADER]: String(ttl) })
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') return errorResponse(405, token, { allow: 'GET, HEAD' })
  if (token === 'invalid' || (token === 'none' && state.imdsv2Only)) return errorResponse(401, token)
  const found = lookup(metadataTree(state.instance, state.scenario), req.path)
  if (found === undefined) return errorResponse(404, token)
  return textResponse(found.kind === 'item' ? found.body : found.listing, token)
}
