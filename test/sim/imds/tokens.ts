/**
 * IMDSv2 session tokens. Pure apart from randomness; time comes from the injected clock.
 *
 * Source: EC2 User Guide, "How Instance Metadata Service Version 2 works": a
 * token is obtained with `PUT /latest/api/token` and header
 * `X-aws-ec2-metadata-token-ttl-seconds` (1 second to 6 hours = 21600), is sent
 * back in `X-aws-ec2-metadata-token`, and stops working when its TTL has passed.
 */
import { randomBytes } from 'node:crypto'

/** Header carrying the requested (and, in the response, granted) TTL. */
export const TOKEN_TTL_HEADER = 'x-aws-ec2-metadata-token-ttl-seconds'
/** Header carrying the token on metadata reads. */
export const TOKEN_HEADER = 'x-aws-ec2-metadata-token'
/** Longest TTL IMDS grants: six hours. */
export const MAX_TOKEN_TTL_SECONDS = 21600

/** How a request's token header looked: absent, a live token, or anything else (unknown or expired). */
export type TokenStatus = 'none' | 'valid' | 'invalid'

/** The TTL in seconds if `raw` is a whole number from 1 to 21600, else undefined (IMDS answers 400). */
export function parseTokenTtl (raw: string | undefined): number | undefined {
  if (raw === undefined || !/^\d+$/.test(raw.trim())) return undefined
  const ttl = Number(raw.trim())
  return ttl >= 1 && ttl <= MAX_TOKEN_TTL_SECONDS ? ttl : undefined
}

/** Issued tokens and their expiry times. */
export class TokenStore {
  readonly #now: () => number
  readonly #expiresAt = new Map<string, number>()

  constructor (now: () => number) {
    this.#now = now
  }

  /** Issues a new token living `ttlSeconds` from now (and forgets tokens already expired). */
  issue (ttlSeconds: number): string {
    const now = this.#now()
    for (const [token, expiresAt] of this.#expiresAt) if (expiresAt <= now) this.#expiresAt.delete(token)
    // Real tokens are opaque base64 strings of about this length.
    const token = randomBytes(42).toString('base64')
    this.#expiresAt.set(token, now + ttlSeconds * 1000)
    return token
  }

  /** Classifies the token header of a request. */
  check (header: string | undefined): TokenStatus {
    if (header === undefined || header === '') return 'none'
    const expiresAt = this.#expiresAt.get(header)
    return expiresAt !== undefined && this.#now() < expiresAt ? 'valid' : 'invalid'
  }

  /** Invalidates every token issued so far. */
  expireAll (): void {
    this.#expiresAt.clear()
  }
}
