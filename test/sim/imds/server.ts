/**
 * The IMDS simulator: a node:http server on 127.0.0.1 answering the EC2
 * instance metadata paths (see handler.ts and metadata.ts for what is served
 * and which AWS documents it follows), scripted through `ImdsSim` or the HTTP
 * control API under `/_sim/` (control.ts), with fault injection (faults.ts).
 *
 * ```ts
 * const imds = await startImdsSim({ imdsv2Only: true })
 * imds.postSpotInterruption({ afterMs: 5000 })   // notice appears in 5 s, action 2 min later
 * // point the agent at imds.url ... then:
 * await imds.close()
 * ```
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Logger } from '#common/logger.ts'
import { CONTROL_PREFIX, handleControlRequest } from './control.ts'
import { FaultTable, GARBAGE_BODY, type Fault, type FaultSpec } from './faults.ts'
import type { ScheduledEvent } from './formats.ts'
import { errorResponse, handleImdsRequest, requestTokenStatus, type ImdsResponse, type ImdsState } from './handler.ts'
import { resolveInstance, type InstanceInfo } from './instance.ts'
import { Scenario, type SpotInterruptionRequest } from './scenario.ts'
import { TokenStore, type TokenStatus } from './tokens.ts'

export type { InstanceInfo } from './instance.ts'
export type { ScheduledEvent, SpotAction } from './formats.ts'
export type { FaultKind, FaultSpec } from './faults.ts'

/** How to start the simulator. */
export interface ImdsSimOptions {
  /** Default 127.0.0.1. */
  host?: string
  /** Default 0 (a free port). */
  port?: number
  /** Require IMDSv2: reads without a token get 401. Default false (v1 and v2 both work). */
  imdsv2Only?: boolean
  /** Clock in epoch milliseconds for token expiry, notice times and the request log. Default Date.now. */
  now?: () => number
  /** Overrides of the simulated instance's facts (default: a Spot m5.large in eu-west-1a). */
  instance?: Partial<InstanceInfo>
  /** Logs one line per IMDS request at debug level; default: no logging. */
  logger?: Logger
}

/** One IMDS request as the simulator saw it (control API calls are not recorded). */
export interface ImdsRequestRecord {
  method: string
  /** URL path without the query string. */
  path: string
  /** The request's token header: absent, valid, or unknown/expired. */
  token: TokenStatus
  /** Status sent; 0 when a `drop` fault closed the connection instead. */
  status: number
  /** Clock time (epoch ms) when the request arrived. */
  at: number
}

/** A running simulator. */
export interface ImdsSim {
  /** Base URL, e.g. `http://127.0.0.1:34567` (no trailing slash). */
  readonly url: string
  /** The simulated instance's facts. */
  readonly instance: InstanceInfo
  /**
   * Posts a spot interruption notice (replacing any earlier one): `action`
   * default terminate; it appears `afterMs` from now (default 0); `time`
   * defaults to the moment it appears + 2 minutes.
   */
  postSpotInterruption (o?: SpotInterruptionRequest): void
  /** Removes the spot notice: `spot/...` is 404 again. */
  clearSpotInterruption (): void
  /** Posts a rebalance recommendation; `noticeTime` defaults to now. */
  postRebalanceRecommendation (o?: { noticeTime?: Date }): void
  /** Withdraws the rebalance recommendation: 404 again. */
  withdrawRebalanceRecommendation (): void
  /** Replaces the scheduled maintenance events (all shown in `scheduled`, canceled/completed also in `history`). */
  setScheduledEvents (events: ScheduledEvent[]): void
  /** Sets `autoscaling/target-lifecycle-state` (e.g. `InService`, `Terminated`); undefined → 404. */
  setTargetLifecycleState (state: string | undefined): void
  /** Makes matching requests misbehave; throws on an invalid spec. See FaultSpec. */
  injectFault (f: FaultSpec): void
  /** Removes every injected fault. */
  clearFaults (): void
  /** Every token issued so far becomes invalid (reads with them get 401). */
  expireTokens (): void
  /** Every IMDS request so far, oldest first. */
  readonly requests: ReadonlyArray<ImdsRequestRecord>
  /** Stops listening, drops open connections and pending delayed answers. */
  close (): Promise<void>
}

function readBody (req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    req.on('error', reject)
  })
}

function sendJson (res: ServerResponse, status: number, body: unknown): void {
  if (body === undefined) { res.writeHead(status).end(); return }
  const text = JSON.stringify(body) + '\n'
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text)
}

/** Starts the simulator and resolves once it is listening. */
export async function startImdsSim (opts: ImdsSimOptions = {}): Promise<ImdsSim> {
  const now = opts.now ?? Date.now
  const state: ImdsState = {
    instance: resolveInstance(opts.instance ?? {}, new Date(now())),
    scenario: new Scenario(now),
    tokens: new TokenStore(now),
    imdsv2Only: opts.imdsv2Only ?? false
  }
  const faults = new FaultTable()
  const requests: ImdsRequestRecord[] = []
  const delayed = new Set<NodeJS.Timeout>()
  const log = opts.logger

  function record (r: ImdsRequestRecord): void {
    requests.push(r)
    log?.debug(r, 'imds request')
  }

  /** Sends `response`, carrying out a truncate or garbage fault. */
  function send (res: ServerResponse, response: ImdsResponse, fault: Fault | undefined): number {
    const garbage = fault?.kind === 'garbage'
    const status = garbage ? 200 : response.status
    const body = garbage ? GARBAGE_BODY : Buffer.from(response.body, 'utf8')
    res.writeHead(status, {
      ...(garbage ? { 'content-type': 'text/plain' } : response.headers),
      server: 'EC2ws',
      'content-length': body.length
    })
    if (fault?.kind === 'truncate') {
      // Half the promised bytes, then the connection goes away.
      res.write(body.subarray(0, Math.floor(body.length / 2)), () => res.socket?.destroy())
    } else {
      res.end(body)
    }
    return status
  }

  function answer (req: IncomingMessage, res: ServerResponse, method: string, path: string, at: number, fault: Fault | undefined): void {
    const token = requestTokenStatus(state, req.headers)
    if (fault?.kind === 'drop') {
      req.socket.destroy()
      record({ method, path, token, status: 0, at })
      return
    }
    let response: ImdsResponse
    try {
      response = fault?.kind === 'status' ? errorResponse(fault.status, token) : handleImdsRequest(state, { method, path, headers: req.headers })
    } catch (err) {
      // A simulator bug must not take the test process down: answer 500 and say why.
      log?.error({ err, method, path }, 'imds-sim failed to answer')
      response = errorResponse(500, token)
    }
    record({ method, path, token, status: send(res, response, fault), at })
  }

  async function control (req: IncomingMessage, res: ServerResponse, method: string, path: string): Promise<void> {
    const raw = await readBody(req)
    let body: unknown
    try {
      body = raw.trim() === '' ? undefined : JSON.parse(raw)
    } catch (err) {
      sendJson(res, 400, { error: `body is not JSON: ${(err as Error).message}` })
      return
    }
    const out = handleControlRequest(sim, method, path, body)
    log?.info({ method, path, status: out.status }, 'imds-sim control request')
    sendJson(res, out.status, out.body)
  }

  const server = createServer((req, res) => {
    const method = req.method ?? 'GET'
    const path = (req.url ?? '/').split('?')[0]!
    if (path.startsWith(CONTROL_PREFIX)) {
      control(req, res, method, path).catch(err => { res.destroy(err as Error) })
      return
    }
    req.resume()
    const at = now()
    const fault = faults.take(method, path)
    if (fault?.kind !== 'latency') {
      answer(req, res, method, path, at, fault)
      return
    }
    const timer = setTimeout(() => {
      delayed.delete(timer)
      answer(req, res, method, path, at, undefined)
    }, fault.ms)
    delayed.add(timer)
  })

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
      server.off('error', reject)
      resolve()
    })
  })
  const address = server.address() as AddressInfo
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address

  const sim: ImdsSim = {
    url: `http://${host}:${address.port}`,
    instance: state.instance,
    postSpotInterruption: o => state.scenario.postSpotInterruption(o),
    clearSpotInterruption: () => state.scenario.clearSpotInterruption(),
    postRebalanceRecommendation: o => state.scenario.postRebalanceRecommendation(o),
    withdrawRebalanceRecommendation: () => state.scenario.withdrawRebalanceRecommendation(),
    setScheduledEvents: events => state.scenario.setScheduledEvents(events),
    setTargetLifecycleState: s => state.scenario.setTargetLifecycleState(s),
    injectFault: f => faults.add(f),
    clearFaults: () => faults.clear(),
    expireTokens: () => state.tokens.expireAll(),
    requests,
    close: () => new Promise<void>(resolve => {
      for (const timer of delayed) clearTimeout(timer)
      delayed.clear()
      server.close(() => resolve())
      server.closeAllConnections()
    })
  }
  return sim
}
