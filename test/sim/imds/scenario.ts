/**
 * The notices a test scripts: spot interruption, rebalance recommendation,
 * scheduled events, Auto Scaling target lifecycle state. Pure; times come from
 * the injected clock, so a delayed notice needs no timer: it is simply not
 * visible until the clock reaches its posting time.
 */
import type { ScheduledEvent, SpotAction } from './formats.ts'

/** How long EC2 gives between the interruption notice and the action. */
export const SPOT_NOTICE_LEAD_MS = 2 * 60_000

/** Options of `postSpotInterruption`. */
export interface SpotInterruptionRequest {
  /** Default `terminate`. */
  action?: SpotAction
  /** The notice appears this many milliseconds after posting (default 0: now). */
  afterMs?: number
  /** The action time in the notice; default: when the notice appears + 2 minutes. */
  time?: Date
  /**
   * Like the amazon-ec2-metadata-mock NTH's docs test with: the time in the
   * notice is the moment of reading + 2 minutes, on every read (real EC2
   * keeps it fixed). Default false.
   */
  moving?: boolean
}

/** A spot interruption notice and the moment it becomes visible. */
export interface SpotInterruption {
  action: SpotAction
  visibleAt: number
  time: Date
  /** The time moves with every read (see SpotInterruptionRequest.moving). */
  moving: boolean
}

function requireValidDate (what: string, d: Date): Date {
  if (Number.isNaN(d.getTime())) throw new Error(`${what} is an invalid Date`)
  return d
}

/** The scripted notices of one simulated instance. */
export class Scenario {
  readonly #now: () => number
  #spot: SpotInterruption | undefined
  #rebalanceNoticeTime: Date | undefined
  #scheduledEvents: readonly ScheduledEvent[] = []
  #targetLifecycleState: string | undefined

  constructor (now: () => number) {
    this.#now = now
  }

  /**
   * Posts a spot interruption notice, replacing any earlier one. The notice
   * appears `afterMs` from now; its time defaults to that moment + 2 minutes.
   */
  postSpotInterruption (o: SpotInterruptionRequest = {}): void {
    const afterMs = o.afterMs ?? 0
    if (!Number.isFinite(afterMs) || afterMs < 0) throw new Error(`afterMs must be a non-negative number of milliseconds, got ${afterMs}`)
    const visibleAt = this.#now() + afterMs
    this.#spot = { action: o.action ?? 'terminate', visibleAt, time: requireValidDate('time', o.time ?? new Date(visibleAt + SPOT_NOTICE_LEAD_MS)), moving: o.moving === true }
  }

  /** Removes the spot interruption notice (posted or pending). */
  clearSpotInterruption (): void {
    this.#spot = undefined
  }

  /** The spot notice if it is visible now. */
  visibleSpotInterruption (): SpotInterruption | undefined {
    const spot = this.#spot
    if (spot === undefined || this.#now() < spot.visibleAt) return undefined
    return spot.moving ? { ...spot, time: new Date(this.#now() + SPOT_NOTICE_LEAD_MS) } : spot
  }

  /** Posts a rebalance recommendation (noticeTime defaults to now). */
  postRebalanceRecommendation (o: { noticeTime?: Date } = {}): void {
    this.#rebalanceNoticeTime = requireValidDate('noticeTime', o.noticeTime ?? new Date(this.#now()))
  }

  /** Withdraws the rebalance recommendation. */
  withdrawRebalanceRecommendation (): void {
    this.#rebalanceNoticeTime = undefined
  }

  /** The rebalance recommendation's notice time, if one is posted. */
  rebalanceNoticeTime (): Date | undefined {
    return this.#rebalanceNoticeTime
  }

  /** Replaces the scheduled maintenance events; throws on an invalid date. */
  setScheduledEvents (events: readonly ScheduledEvent[]): void {
    events.forEach((e, i) => {
      requireValidDate(`event ${i} notBefore`, e.notBefore)
      if (e.notAfter !== undefined) requireValidDate(`event ${i} notAfter`, e.notAfter)
    })
    this.#scheduledEvents = events.map(e => ({ ...e }))
  }

  /** The scheduled maintenance events, in the order they were set. */
  scheduledEvents (): readonly ScheduledEvent[] {
    return this.#scheduledEvents
  }

  /** Sets `autoscaling/target-lifecycle-state`; undefined removes it (404). */
  setTargetLifecycleState (state: string | undefined): void {
    this.#targetLifecycleState = state
  }

  /** The Auto Scaling target lifecycle state, if set. */
  targetLifecycleState (): string | undefined {
    return this.#targetLifecycleState
  }
}
