/**
 * What an IMDS body means (pure: no I/O). Each notice kind has its own parser
 * turning the body into typed Notices or a NoticeParseError; every notice gets
 * a stable event id, so the same notice has the same id across polls and
 * agent restarts. A Spot interruption is known by the instance's boot and the
 * action, not by its time: an instance is interrupted once per boot, and a
 * metadata service whose time moves on every read (the amazon-ec2-metadata-mock
 * does that) must not make one interruption many.
 */
import { createHash } from 'node:crypto'
import { isJsonObject, type JsonObject } from '#common/json.ts'
import { isLabelValue } from '#common/names.ts'

/** The notice kinds the agent acts on; each is also the taint key under spot-handler.io/. */
export const NOTICE_KINDS = ['spot-itn', 'rebalance-recommendation', 'scheduled-maintenance', 'asg-lifecycle-termination'] as const

/** One of NOTICE_KINDS. */
export type NoticeKind = typeof NOTICE_KINDS[number]

/** The AWS Node Termination Handler's name of each kind (its `.Kind`; its monitors are `<name>_MONITOR`). */
export const NTH_KINDS: Record<NoticeKind, string> = {
  'spot-itn': 'SPOT_ITN',
  'rebalance-recommendation': 'REBALANCE_RECOMMENDATION',
  'scheduled-maintenance': 'SCHEDULED_EVENT',
  'asg-lifecycle-termination': 'ASG_LIFECYCLE'
}

/** IMDS path (under the base URL) polled for each kind. */
export const NOTICE_PATHS: Record<NoticeKind, string> = {
  'spot-itn': '/latest/meta-data/spot/instance-action',
  'rebalance-recommendation': '/latest/meta-data/events/recommendations/rebalance',
  'scheduled-maintenance': '/latest/meta-data/events/maintenance/scheduled',
  'asg-lifecycle-termination': '/latest/meta-data/autoscaling/target-lifecycle-state'
}

/** The scheduled-event codes EC2 documents: the first four stop or reboot the instance; system-maintenance may only degrade it for a while. */
export const SCHEDULED_EVENT_CODES = ['instance-stop', 'instance-retirement', 'instance-reboot', 'system-reboot', 'system-maintenance'] as const

/** One of SCHEDULED_EVENT_CODES. */
export type ScheduledEventCode = typeof SCHEDULED_EVENT_CODES[number]

/** A notice: active ones ask for action, canceled/completed ones (scheduled events) for undoing it. */
export interface Notice {
  kind: NoticeKind
  /** Stable id, a valid label value of at most 63 characters (used as the taint value). */
  eventId: string
  /** When the instance goes away or the event starts (ms since epoch); undefined when the notice has none. */
  deadline?: number
  state: 'active' | 'canceled' | 'completed'
  /** Human-readable description for events and notifications. */
  detail: string
  /** True for notices made up from the rehearsal annotation. */
  rehearsal?: boolean
  /** The event code of a scheduled event (`instance-stop`, `system-maintenance`, ...). */
  code?: string
}

/** A body that does not mean what the kind's documentation says; reported, never acted on. */
export class NoticeParseError extends Error {
  override name = 'NoticeParseError'
  readonly kind: NoticeKind
  /** The start of the offending body, for logs. */
  readonly excerpt: string
  constructor (kind: NoticeKind, problem: string, body: string) {
    const excerpt = body.length > 120 ? body.slice(0, 120) + '…' : body
    super(`unparseable ${kind} body (${problem}): ${JSON.stringify(excerpt)}`)
    this.kind = kind
    this.excerpt = excerpt
  }
}

/** The outcome of parsing one body. */
export type ParseOutcome = { ok: true, notices: Notice[] } | { ok: false, error: NoticeParseError }

const SHORT_KIND: Record<NoticeKind, string> = {
  'spot-itn': 'itn',
  'rebalance-recommendation': 'rebalance',
  'scheduled-maintenance': 'scheduled',
  'asg-lifecycle-termination': 'asg'
}

/** A stable event id from the notice's identifying content: `<short kind>-<16 hex digits>`. */
export function eventIdFor (kind: NoticeKind, ...content: string[]): string {
  const hash = createHash('sha256').update([kind, ...content].join('\n')).digest('hex').slice(0, 16)
  return `${SHORT_KIND[kind]}-${hash}`
}

function parseJson (kind: NoticeKind, body: string): { ok: true, value: unknown } | { ok: false, error: NoticeParseError } {
  try {
    return { ok: true, value: JSON.parse(body) }
  } catch {
    return { ok: false, error: new NoticeParseError(kind, 'not JSON', body) }
  }
}

function parseJsonObject (kind: NoticeKind, body: string): { ok: true, value: JsonObject } | { ok: false, error: NoticeParseError } {
  const json = parseJson(kind, body)
  if (!json.ok) return json
  if (!isJsonObject(json.value)) return { ok: false, error: new NoticeParseError(kind, 'not a JSON object', body) }
  return { ok: true, value: json.value }
}

function parseTime (raw: unknown): number | undefined {
  if (typeof raw !== 'string' || raw.trim() === '') return undefined
  const t = Date.parse(raw)
  return Number.isNaN(t) ? undefined : t
}

const SPOT_ACTIONS = ['terminate', 'stop', 'hibernate']

/** What identifies the instance a notice is about. */
export interface InstanceIdentity {
  instanceId: string
  /** This boot of the machine (Linux's random boot id), when known: a stopped and restarted Spot instance can be interrupted again. */
  bootId?: string
}

/** `spot/instance-action`: `{"action":"terminate","time":"2017-09-18T08:22:00Z"}`; the event id comes from the instance's boot and the action. */
export function parseSpotInstanceAction (body: string, instance: InstanceIdentity): ParseOutcome {
  const kind = 'spot-itn'
  const json = parseJsonObject(kind, body)
  if (!json.ok) return json
  const v = json.value
  if (typeof v.action !== 'string' || !SPOT_ACTIONS.includes(v.action)) {
    return { ok: false, error: new NoticeParseError(kind, `action must be one of ${SPOT_ACTIONS.join(', ')}`, body) }
  }
  const deadline = parseTime(v.time)
  if (deadline === undefined) return { ok: false, error: new NoticeParseError(kind, 'time is missing or not a date', body) }
  return {
    ok: true,
    notices: [{ kind, eventId: eventIdFor(kind, instance.bootId ?? instance.instanceId, v.action), deadline, state: 'active', detail: `Spot interruption: ${v.action} at ${new Date(deadline).toISOString()}` }]
  }
}

/** `events/recommendations/rebalance`: `{"noticeTime":"2020-10-27T08:22:00Z"}`. */
export function parseRebalanceRecommendation (body: string): ParseOutcome {
  const kind = 'rebalance-recommendation'
  const json = parseJsonObject(kind, body)
  if (!json.ok) return json
  const v = json.value
  const noticeTime = parseTime(v.noticeTime)
  if (noticeTime === undefined) return { ok: false, error: new NoticeParseError(kind, 'noticeTime is missing or not a date', body) }
  const iso = new Date(noticeTime).toISOString()
  return { ok: true, notices: [{ kind, eventId: eventIdFor(kind, iso), state: 'active', detail: `Rebalance recommendation since ${iso}` }] }
}

const SCHEDULED_STATES = ['active', 'canceled', 'completed'] as const

/**
 * `events/maintenance/scheduled`: a JSON array of
 * `{Code, Description, EventId, NotBefore, NotAfter?, State}`, each a notice
 * with its code (which codes are acted on is the agent's setting).
 */
export function parseScheduledEvents (body: string): ParseOutcome {
  const kind = 'scheduled-maintenance'
  const json = parseJson(kind, body)
  if (!json.ok) return json
  if (!Array.isArray(json.value)) return { ok: false, error: new NoticeParseError(kind, 'not a JSON array', body) }
  const notices: Notice[] = []
  for (const [i, e] of json.value.entries()) {
    if (!isJsonObject(e)) return { ok: false, error: new NoticeParseError(kind, `entry ${i} is not an object`, body) }
    const { Code: code, State: state, EventId: id, Description: description } = e
    if (typeof code !== 'string' || typeof id !== 'string' || id === '') {
      return { ok: false, error: new NoticeParseError(kind, `entry ${i} lacks Code or EventId`, body) }
    }
    if (typeof state !== 'string' || !(SCHEDULED_STATES as readonly string[]).includes(state)) {
      return { ok: false, error: new NoticeParseError(kind, `entry ${i} has State ${JSON.stringify(state)}; expected ${SCHEDULED_STATES.join(', ')}`, body) }
    }
    const notBefore = parseTime(e.NotBefore)
    if (notBefore === undefined) return { ok: false, error: new NoticeParseError(kind, `entry ${i} has no valid NotBefore`, body) }
    notices.push({
      kind,
      code,
      eventId: isLabelValue(id) ? id : eventIdFor(kind, id),
      deadline: notBefore,
      state: state as typeof SCHEDULED_STATES[number],
      detail: `Scheduled ${code} (${id}) not before ${new Date(notBefore).toISOString()}${typeof description === 'string' && description !== '' ? ': ' + description : ''}`
    })
  }
  return { ok: true, notices }
}

/**
 * `autoscaling/target-lifecycle-state`: a plain word (`InService`, `Terminated`,
 * `Warmed:Stopped`, ...). Only `Terminated` is a notice; its id comes from the instance id.
 */
export function parseTargetLifecycleState (body: string, instanceId: string): ParseOutcome {
  const kind = 'asg-lifecycle-termination'
  const state = body.trim()
  if (!/^[A-Za-z]+(:[A-Za-z]+)?$/.test(state)) return { ok: false, error: new NoticeParseError(kind, 'not a lifecycle state word', body) }
  if (state !== 'Terminated') return { ok: true, notices: [] }
  return { ok: true, notices: [{ kind, eventId: eventIdFor(kind, instanceId, state), state: 'active', detail: 'Auto Scaling target lifecycle state is Terminated' }] }
}

/** Parses the body of `kind`'s IMDS path. */
export function parseNoticeBody (kind: NoticeKind, body: string, instance: InstanceIdentity): ParseOutcome {
  switch (kind) {
    case 'spot-itn': return parseSpotInstanceAction(body, instance)
    case 'rebalance-recommendation': return parseRebalanceRecommendation(body)
    case 'scheduled-maintenance': return parseScheduledEvents(body)
    case 'asg-lifecycle-termination': return parseTargetLifecycleState(body, instance.instanceId)
  }
}

/** Of two sightings of the same event, the one with the earlier deadline (the first one when equal or without deadlines). */
export function earlierDeadline (a: Notice, b: Notice): Notice {
  return b.deadline !== undefined && (a.deadline === undefined || b.deadline < a.deadline) ? b : a
}
