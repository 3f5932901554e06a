/**
 * EC2 instance metadata service client. IMDSv2 tokens are cached and
 * refreshed before they expire; a 401 drops the token and retries once; when
 * no token can be had the client falls back to IMDSv1 (logged once). Each
 * request has a timeout; transport errors and 5xx are retried with
 * exponential backoff and jitter. A 404 is "nothing there", a normal result.
 */
import type { Logger } from 'pino'
import { isJsonObject } from '#common/json.ts'

/** What a GET found: the body, or nothing (404). */
export type ImdsResult = { found: true, body: string } | { found: false }

/** An IMDS request that failed after all its tries. */
export class ImdsError extends Error {
  override name = 'ImdsError'
  readonly path: string
  /** HTTP status of the last answer, if there was one. */
  readonly status?: number
  /** Short machine-readable reason for metrics: timeout, transport, http-<status>. */
  readonly reason: string
  constructor (path: string, reason: string, message: string, status?: number) {
    super(`IMDS ${path}: ${message}`)
    this.path = path
    this.reason = reason
    if (status !== undefined) this.status = status
  }
}

/** How the client is built; everything but baseUrl and tries has a production default. */
export interface ImdsClientOptions {
  baseUrl: string
  /** Attempts per request on transport errors and 5xx (METADATA_TRIES). */
  tries: number
  logger: Logger
  /** Per-request timeout (default 2 s). */
  timeoutMs?: number
  /** Requested token lifetime (default 6 h, the maximum). */
  tokenTtlSeconds?: number
  /** First backoff step (default 100 ms); doubles per try, plus up to one step of jitter. */
  backoffBaseMs?: number
  /** How long to stay on IMDSv1 before trying for a token again (default 5 min). */
  v1RetryAfterMs?: number
  sleep?: (ms: number) => Promise<void>
  random?: () => number
  now?: () => number
  /** Called once per failed attempt, for metrics. */
  onError?: (path: string, reason: string) => void
}

/** Instance facts read once at start, for events and notifications. */
export interface NodeMetadata {
  instanceId: string
  instanceType: string
  instanceLifeCycle: string
  availabilityZone: string
  region: string
  localHostname: string
  localIp: string
  accountId: string
  /** Empty when the instance has none (or it could not be read: public addresses are read once). */
  publicHostname: string
  publicIp: string
}

/** The value of a metadata field that could not be read (yet). */
export const UNKNOWN = 'unknown'

/** Metadata with every field UNKNOWN. */
export function unknownMetadata (): NodeMetadata {
  return { instanceId: UNKNOWN, instanceType: UNKNOWN, instanceLifeCycle: UNKNOWN, availabilityZone: UNKNOWN, region: UNKNOWN, localHostname: UNKNOWN, localIp: UNKNOWN, accountId: UNKNOWN, publicHostname: UNKNOWN, publicIp: UNKNOWN }
}

const TOKEN_PATH = '/latest/api/token'
const TOKEN_TTL_HEADER = 'x-aws-ec2-metadata-token-ttl-seconds'
const TOKEN_HEADER = 'x-aws-ec2-metadata-token'

/** Resolves after `ms` milliseconds. */
export const realSleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

type Attempt = { kind: 'answer', status: number, body: string } | { kind: 'failure', reason: string, message: string }

/** The IMDS client; one per agent. */
export class ImdsClient {
  private readonly options: Required<Omit<ImdsClientOptions, 'onError'>> & Pick<ImdsClientOptions, 'onError'>
  private token: { value: string, refreshAt: number } | undefined
  private v1Until = 0
  private v1Logged = false

  constructor (options: ImdsClientOptions) {
    this.options = {
      baseUrl: options.baseUrl,
      tries: options.tries,
      logger: options.logger,
      timeoutMs: options.timeoutMs ?? 2000,
      tokenTtlSeconds: options.tokenTtlSeconds ?? 21600,
      backoffBaseMs: options.backoffBaseMs ?? 100,
      v1RetryAfterMs: options.v1RetryAfterMs ?? 300_000,
      sleep: options.sleep ?? realSleep,
      random: options.random ?? Math.random,
      now: options.now ?? Date.now,
      onError: options.onError
    }
  }

  /** GETs `path`; 404 is `{ found: false }`; other failures throw ImdsError after the configured tries. */
  async get (path: string): Promise<ImdsResult> {
    let answer = await this.withRetries(path, async () => this.attempt('GET', path, await this.authHeaders()))
    if (answer.status === 401) {
      this.options.logger.debug({ path }, 'IMDS answered 401; dropping the token and retrying once')
      this.token = undefined
      this.v1Until = 0
      answer = await this.withRetries(path, async () => this.attempt('GET', path, await this.authHeaders()))
    }
    if (answer.status === 404) return { found: false }
    if (answer.status >= 200 && answer.status < 300) return { found: true, body: answer.body }
    this.options.onError?.(path, `http-${answer.status}`)
    throw new ImdsError(path, `http-${answer.status}`, `unexpected HTTP ${answer.status}`, answer.status)
  }

  /** GETs `path` and returns its body, or undefined when missing or failing (for optional metadata). */
  private async optionalText (path: string): Promise<string | undefined> {
    try {
      const r = await this.get(path)
      return r.found ? r.body.trim() : undefined
    } catch (err) {
      this.options.logger.debug({ err: { message: (err as Error).message }, path }, 'could not read instance metadata')
      return undefined
    }
  }

  /**
   * Reads the instance facts not known yet (`known`; every field by default):
   * the identity document first, each field it lacks from its own path; what
   * cannot be read is UNKNOWN, except the public hostname and address, which
   * most nodes do not have: those are empty.
   */
  async readNodeMetadata (known: NodeMetadata = unknownMetadata()): Promise<NodeMetadata> {
    const missing = (Object.keys(known) as Array<keyof NodeMetadata>).filter(k => known[k] === UNKNOWN)
    if (missing.length === 0) return { ...known }
    let doc: Record<string, unknown> = {}
    const raw = await this.optionalText('/latest/dynamic/instance-identity/document')
    if (raw !== undefined) {
      try {
        const parsed: unknown = JSON.parse(raw)
        if (isJsonObject(parsed)) doc = parsed
      } catch {
        this.options.logger.warn('instance identity document is not JSON; reading each field on its own')
      }
    }
    const field = async (name: keyof NodeMetadata, docKey: string | undefined, path: string | undefined, absent = UNKNOWN): Promise<string> => {
      if (known[name] !== UNKNOWN) return known[name]
      const fromDoc = docKey === undefined ? undefined : doc[docKey]
      if (typeof fromDoc === 'string' && fromDoc !== '') return fromDoc
      return (path === undefined ? undefined : await this.optionalText(path)) ?? absent
    }
    return {
      instanceId: await field('instanceId', 'instanceId', '/latest/meta-data/instance-id'),
      instanceType: await field('instanceType', 'instanceType', '/latest/meta-data/instance-type'),
      instanceLifeCycle: await field('instanceLifeCycle', undefined, '/latest/meta-data/instance-life-cycle'),
      availabilityZone: await field('availabilityZone', 'availabilityZone', '/latest/meta-data/placement/availability-zone'),
      region: await field('region', 'region', '/latest/meta-data/placement/region'),
      localHostname: await field('localHostname', undefined, '/latest/meta-data/local-hostname'),
      localIp: await field('localIp', 'privateIp', '/latest/meta-data/local-ipv4'),
      accountId: await field('accountId', 'accountId', undefined),
      publicHostname: await field('publicHostname', undefined, '/latest/meta-data/public-hostname', ''),
      publicIp: await field('publicIp', undefined, '/latest/meta-data/public-ipv4', '')
    }
  }

  /** Headers for a GET: the IMDSv2 token, or none when on IMDSv1. */
  private async authHeaders (): Promise<Record<string, string>> {
    const now = this.options.now()
    if (this.token !== undefined && now < this.token.refreshAt) return { [TOKEN_HEADER]: this.token.value }
    if (now < this.v1Until) return {}
    const ttl = this.options.tokenTtlSeconds
    const answer = await this.withRetries(TOKEN_PATH, () => this.attempt('PUT', TOKEN_PATH, { [TOKEN_TTL_HEADER]: String(ttl) }))
      .catch((err: ImdsError) => ({ kind: 'answer' as const, status: 0, body: err.message }))
    if (answer.status === 200 && answer.body.trim() !== '') {
      // Refresh a tenth of the lifetime (at most a minute) before it runs out.
      this.token = { value: answer.body.trim(), refreshAt: now + ttl * 1000 - Math.min(60_000, ttl * 100) }
      this.v1Logged = false
      return { [TOKEN_HEADER]: this.token.value }
    }
    this.token = undefined
    this.v1Until = now + this.options.v1RetryAfterMs
    if (!this.v1Logged) {
      this.options.logger.warn({ status: answer.status || undefined, detail: answer.status === 0 ? answer.body : undefined }, 'no IMDSv2 token could be had; falling back to IMDSv1')
      this.v1Logged = true
    }
    return {}
  }

  /** Runs `once` until it answers below 500, up to `tries` times, with backoff and jitter. */
  private async withRetries (path: string, once: () => Promise<Attempt>): Promise<{ status: number, body: string }> {
    const { tries, backoffBaseMs, sleep, random } = this.options
    let last: Attempt | undefined
    for (let i = 0; i < tries; i++) {
      if (i > 0) await sleep(backoffBaseMs * 2 ** (i - 1) + random() * backoffBaseMs)
      last = await once()
      if (last.kind === 'answer' && last.status < 500) return last
      this.options.onError?.(path, last.kind === 'answer' ? `http-${last.status}` : last.reason)
    }
    if (last?.kind === 'answer') throw new ImdsError(path, `http-${last.status}`, `HTTP ${last.status} after ${tries} tries`, last.status)
    throw new ImdsError(path, last?.reason ?? 'transport', `${last?.message ?? 'no attempt made'} (after ${tries} tries)`)
  }

  private async attempt (method: 'GET' | 'PUT', path: string, headers: Record<string, string>): Promise<Attempt> {
    try {
      const res = await fetch(this.options.baseUrl + path, { method, headers, signal: AbortSignal.timeout(this.options.timeoutMs) })
      return { kind: 'answer', status: res.status, body: await res.text() }
    } catch (err) {
      const e = err as Error & { cause?: { code?: string, message?: string } }
      const timeout = e.name === 'TimeoutError' || e.name === 'AbortError'
      return {
        kind: 'failure',
        reason: timeout ? 'timeout' : 'transport',
        message: timeout ? `no answer within ${this.options.timeoutMs}ms` : `${e.message}${e.cause?.code !== undefined ? ` (${e.cause.code})` : ''}`
      }
    }
  }
}

/** How `fillNodeMetadata` retries. */
export interface MetadataFill {
  /** Rounds of reading before the fields still missing are left UNKNOWN (default 8). */
  rounds?: number
  /** Wait before the second round (default 1 s); doubles per round, capped at `maxDelayMs`. */
  firstDelayMs?: number
  maxDelayMs?: number
  sleep: (ms: number) => Promise<void>
  logger: Logger
  /** Stops the rounds. */
  signal: AbortSignal
}

/**
 * Fills `metadata` in place as IMDS answers, so nothing waits for it: the
 * monitors poll from the start, and Events and notifications carry whatever
 * is known when they are made. Logs once what is still missing.
 */
export async function fillNodeMetadata (imds: Pick<ImdsClient, 'readNodeMetadata'>, metadata: NodeMetadata, fill: MetadataFill): Promise<void> {
  const rounds = fill.rounds ?? 8
  let delay = fill.firstDelayMs ?? 1000
  for (let round = 1; round <= rounds && !fill.signal.aborted; round++) {
    Object.assign(metadata, await imds.readNodeMetadata(metadata))
    const missing = (Object.keys(metadata) as Array<keyof NodeMetadata>).filter(k => metadata[k] === UNKNOWN)
    if (missing.length === 0) {
      fill.logger.info({ metadata }, 'instance metadata read')
      return
    }
    if (round === 1 || round === rounds) fill.logger.warn({ missing, round, rounds }, round === rounds ? 'instance metadata still missing; left as unknown' : 'instance metadata not readable yet; polling goes on, reading again')
    if (round < rounds) await fill.sleep(delay)
    delay = Math.min(fill.maxDelayMs ?? 60_000, delay * 2)
  }
}
