/**
 * The simulator's HTTP control API, under `/_sim/` (a prefix IMDS never uses).
 * Each route mirrors one programmatic call on `ImdsSim`; bodies are JSON, times
 * are ISO 8601 strings. Success is 204 (or 200 with JSON for reads); a bad body
 * is 400 `{"error": "..."}`.
 *
 * | method | path                             | body / effect                                               |
 * |--------|----------------------------------|-------------------------------------------------------------|
 * | POST   | /_sim/spot-interruption          | `{action?, afterMs?, time?}` → postSpotInterruption          |
 * | DELETE | /_sim/spot-interruption          | clearSpotInterruption                                       |
 * | POST   | /_sim/rebalance-recommendation   | `{noticeTime?}` → postRebalanceRecommendation               |
 * | DELETE | /_sim/rebalance-recommendation   | withdrawRebalanceRecommendation                             |
 * | PUT    | /_sim/scheduled-events           | `[{code, state, eventId, notBefore, notAfter?, description}]` |
 * | PUT    | /_sim/target-lifecycle-state     | `{state: "InService" | null}` (null → 404)                  |
 * | POST   | /_sim/faults                     | `{kind, path?, pathPattern?, method?, ms?, status?, count?}` |
 * | DELETE | /_sim/faults                     | clearFaults                                                 |
 * | POST   | /_sim/expire-tokens              | expireTokens                                                |
 * | GET    | /_sim/requests                   | the request log as JSON                                     |
 */
import { FAULT_KINDS } from './faults.ts'
import { SCHEDULED_EVENT_STATES, SPOT_ACTIONS, type ScheduledEvent } from './formats.ts'
import type { ImdsSim } from './server.ts'

/** Path prefix of the control API. */
export const CONTROL_PREFIX = '/_sim/'

/** The answer to a control request. */
export interface ControlResponse {
  status: number
  /** Serialized as JSON when defined. */
  body?: unknown
}

type Json = Record<string, unknown>

function object (body: unknown, what: string): Json {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new Error(`${what} must be a JSON object`)
  return body as Json
}

function optionalString (o: Json, key: string): string | undefined {
  const v = o[key]
  if (v === undefined || v === null) return undefined
  if (typeof v !== 'string') throw new Error(`${key} must be a string`)
  return v
}

function requiredString (o: Json, key: string): string {
  const v = optionalString(o, key)
  if (v === undefined) throw new Error(`${key} is required`)
  return v
}

function optionalNumber (o: Json, key: string): number | undefined {
  const v = o[key]
  if (v === undefined || v === null) return undefined
  if (typeof v !== 'number') throw new Error(`${key} must be a number`)
  return v
}

function optionalDate (o: Json, key: string): Date | undefined {
  const v = optionalString(o, key)
  if (v === undefined) return undefined
  const d = new Date(v)
  if (Number.isNaN(d.getTime())) throw new Error(`${key} must be an ISO 8601 time, got ${JSON.stringify(v)}`)
  return d
}

function oneOf<const W extends string> (words: readonly W[], o: Json, key: string): W | undefined {
  const v = optionalString(o, key)
  if (v !== undefined && !(words as readonly string[]).includes(v)) throw new Error(`${key} must be one of ${words.join(', ')}`)
  return v as W | undefined
}

function scheduledEvent (item: unknown, index: number): ScheduledEvent {
  const o = object(item, `event ${index}`)
  const state = oneOf(SCHEDULED_EVENT_STATES, o, 'state')
  const notBefore = optionalDate(o, 'notBefore')
  if (state === undefined) throw new Error(`event ${index}: state is required`)
  if (notBefore === undefined) throw new Error(`event ${index}: notBefore is required`)
  const notAfter = optionalDate(o, 'notAfter')
  return {
    code: requiredString(o, 'code'),
    state,
    eventId: requiredString(o, 'eventId'),
    notBefore,
    ...(notAfter === undefined ? {} : { notAfter }),
    description: optionalString(o, 'description') ?? ''
  }
}

function route (sim: ImdsSim, method: string, path: string, body: unknown): ControlResponse {
  const name = path.slice(CONTROL_PREFIX.length)
  const call = `${method} ${name}`
  switch (call) {
    case 'POST spot-interruption': {
      const o = object(body ?? {}, 'body')
      const action = oneOf(SPOT_ACTIONS, o, 'action')
      const afterMs = optionalNumber(o, 'afterMs')
      const time = optionalDate(o, 'time')
      sim.postSpotInterruption({
        ...(action === undefined ? {} : { action }),
        ...(afterMs === undefined ? {} : { afterMs }),
        ...(time === undefined ? {} : { time })
      })
      return { status: 204 }
    }
    case 'DELETE spot-interruption': sim.clearSpotInterruption(); return { status: 204 }
    case 'POST rebalance-recommendation': {
      const noticeTime = optionalDate(object(body ?? {}, 'body'), 'noticeTime')
      sim.postRebalanceRecommendation(noticeTime === undefined ? {} : { noticeTime })
      return { status: 204 }
    }
    case 'DELETE rebalance-recommendation': sim.withdrawRebalanceRecommendation(); return { status: 204 }
    case 'PUT scheduled-events': {
      if (!Array.isArray(body)) throw new Error('body must be a JSON array of events')
      sim.setScheduledEvents(body.map(scheduledEvent))
      return { status: 204 }
    }
    case 'PUT target-lifecycle-state': {
      sim.setTargetLifecycleState(optionalString(object(body, 'body'), 'state'))
      return { status: 204 }
    }
    case 'POST faults': {
      const o = object(body, 'body')
      const pattern = optionalString(o, 'pathPattern')
      const path = optionalString(o, 'path')
      if (pattern !== undefined && path !== undefined) throw new Error('give path or pathPattern, not both')
      const kind = oneOf(FAULT_KINDS, o, 'kind')
      if (kind === undefined) throw new Error('kind is required')
      const method = optionalString(o, 'method')
      const ms = optionalNumber(o, 'ms')
      const status = optionalNumber(o, 'status')
      const count = optionalNumber(o, 'count')
      sim.injectFault({
        kind,
        ...(pattern === undefined ? {} : { path: new RegExp(pattern) }),
        ...(path === undefined ? {} : { path }),
        ...(method === undefined ? {} : { method }),
        ...(ms === undefined ? {} : { ms }),
        ...(status === undefined ? {} : { status }),
        ...(count === undefined ? {} : { count })
      })
      return { status: 204 }
    }
    case 'DELETE faults': sim.clearFaults(); return { status: 204 }
    case 'POST expire-tokens': sim.expireTokens(); return { status: 204 }
    case 'GET requests': return { status: 200, body: sim.requests }
  }
  return { status: 404, body: { error: `no control route ${method} ${path} (see test/sim/imds/control.ts)` } }
}

/**
 * Answers a control request. `body` is the parsed JSON body (undefined when
 * empty). Errors thrown by the simulator for invalid values become 400 too.
 */
export function handleControlRequest (sim: ImdsSim, method: string, path: string, body: unknown): ControlResponse {
  try {
    return route(sim, method, path, body)
  } catch (err) {
    return { status: 400, body: { error: (err as Error).message } }
  }
}
