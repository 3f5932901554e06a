/**
 * How IMDS writes times and notices, as AWS documents them. Pure functions.
 *
 * Sources:
 * - spot/instance-action and spot/termination-time: EC2 User Guide, "Spot Instance
 *   interruption notices" (`{"action": "terminate", "time": "2017-09-18T08:22:00Z"}`,
 *   termination-time `2015-01-05T18:02:00Z`): RFC 3339, UTC, whole seconds.
 * - events/recommendations/rebalance: EC2 User Guide, "EC2 instance rebalance
 *   recommendations" (`{"noticeTime": "2020-10-27T08:22:00Z"}`).
 * - events/maintenance/scheduled: EC2 User Guide, "Scheduled events for your
 *   instances" (`"NotBefore" : "21 Jan 2019 09:00:43 GMT"`, keys in the order
 *   NotBefore, Code, Description, EventId, NotAfter, State).
 */

/** A scheduled maintenance event as a test scripts it (see `ImdsSim.setScheduledEvents`). */
export interface ScheduledEvent {
  /** e.g. `system-reboot`, `instance-reboot`, `system-maintenance`, `instance-retirement`, `instance-stop`. */
  code: string
  /** `active`, `canceled` or `completed`. */
  state: 'active' | 'canceled' | 'completed'
  /** e.g. `instance-event-0d59937288b749b32`. */
  eventId: string
  notBefore: Date
  /** Omitted from the body when unset (AWS leaves it out for events without an end). */
  notAfter?: Date
  description: string
}

/** The spot interruption actions EC2 can announce. */
export const SPOT_ACTIONS = ['terminate', 'stop', 'hibernate'] as const

/** One of SPOT_ACTIONS. */
export type SpotAction = typeof SPOT_ACTIONS[number]

/** The scheduled-event states IMDS reports. */
export const SCHEDULED_EVENT_STATES = ['active', 'canceled', 'completed'] as const

/** `2017-09-18T08:22:00Z`: RFC 3339 in UTC without fractional seconds, as IMDS writes it. */
export function formatImdsTime (at: Date): string {
  return at.toISOString().replace(/\.\d{3}Z$/, 'Z')
}

/**
 * `21 Jan 2019 09:00:43 GMT`, the scheduled-events date format. The day is two
 * digits (AWS's examples only show days >= 10; both Go layouts the Node
 * Termination Handler has used, `02 Jan ...` and `2 Jan ...`, accept a padded day).
 */
export function formatScheduledEventDate (at: Date): string {
  // toUTCString() is `Mon, 21 Jan 2019 09:00:43 GMT`; drop the weekday.
  return at.toUTCString().slice(5)
}

/** The body of `spot/instance-action`. */
export function instanceActionBody (action: SpotAction, time: Date): string {
  return JSON.stringify({ action, time: formatImdsTime(time) })
}

/** The body of `events/recommendations/rebalance`. */
export function rebalanceBody (noticeTime: Date): string {
  return JSON.stringify({ noticeTime: formatImdsTime(noticeTime) })
}

/** The body of `events/maintenance/scheduled` (and `history`): a JSON array, `[]` when empty. */
export function scheduledEventsBody (events: readonly ScheduledEvent[]): string {
  return JSON.stringify(events.map(e => ({
    NotBefore: formatScheduledEventDate(e.notBefore),
    Code: e.code,
    Description: e.description,
    EventId: e.eventId,
    ...(e.notAfter === undefined ? {} : { NotAfter: formatScheduledEventDate(e.notAfter) }),
    State: e.state
  })), null, 2)
}
