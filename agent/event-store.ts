/**
 * The interruption event store: every source (the IMDS monitors, the Node
 * monitor) reports here, and each interruption event, known by its id, is
 * acted on once, with the earliest deadline any sighting of it gave. `EventStore` is the pure bookkeeping: given what a source
 * saw, which job to start now (act on a notice, undo an event), an undo held
 * back until the action in progress ends, a failed job retried on the next
 * sighting, nothing new once the agent stops. `EventDispatcher` is the thin
 * shell that runs those jobs and feeds their ends back.
 */
import { earlierDeadline, type Notice, type NoticeKind, type NoticeParseError } from './notices.ts'

/** Act on an active notice; `announce` is false when this process announced the event before (a retry). */
export interface ActJob {
  type: 'act'
  notice: Notice
  announce: boolean
}

/** Undo what an event did (canceled, completed, rebooted, rebalance expired). */
export interface UndoJob {
  type: 'undo'
  eventId: string
  kind: NoticeKind
  why: string
}

/** Work the store hands out. */
export type Job = ActJob | UndoJob

/** How a job ended: finished (nothing left to do), failed (try again when seen again), handed over (the agent is stopping). */
export type JobEnd = 'finished' | 'failed' | 'handed-over'

/** How often unparseable bodies of one kind may become a Kubernetes Event. */
export const UNPARSEABLE_EVENT_INTERVAL_MS = 10 * 60_000

/** Whether an unparseable body gets reported as a Kubernetes Event, and how many were left unreported before it. */
export interface UnparseableVerdict {
  report: boolean
  /** Unparseable bodies of the kind not reported since the last report. */
  suppressed: number
}

/** What the store knows about one event. */
interface Entry {
  /** The event as first seen, with the earliest deadline seen since. */
  notice?: Notice
  running?: Job
  /** An undo asked for while the action ran, started when it ends. */
  heldUndo?: UndoJob
  acted: boolean
  undone: boolean
  announced: boolean
}

/** The pure bookkeeping of interruption events. */
export class EventStore {
  readonly #entries = new Map<string, Entry>()
  readonly #garbage = new Map<NoticeKind, { reportedAt: number, suppressed: number }>()
  #closed = false

  #entry (eventId: string): Entry {
    let entry = this.#entries.get(eventId)
    if (entry === undefined) {
      entry = { acted: false, undone: false, announced: false }
      this.#entries.set(eventId, entry)
    }
    return entry
  }

  /** A source saw `notice`: the job to start now, if any (canceled and completed notices ask for an undo). */
  noticeSeen (notice: Notice): Job | undefined {
    if (notice.state !== 'active') return this.undoAsked({ type: 'undo', eventId: notice.eventId, kind: notice.kind, why: notice.state })
    if (this.#closed) return undefined
    const entry = this.#entry(notice.eventId)
    entry.notice = entry.notice === undefined ? notice : earlierDeadline(entry.notice, notice)
    if (entry.running !== undefined || entry.acted || entry.undone) return undefined
    if (notice.rehearsal === true && this.running().some(j => j.type === 'act' && j.notice.rehearsal === true)) return undefined
    const job: ActJob = { type: 'act', notice: entry.notice, announce: !entry.announced }
    entry.announced = true
    entry.running = job
    return job
  }

  /** A source asks to undo an event: the job to start now, if any (held back while the event's action runs). */
  undoAsked (undo: UndoJob): Job | undefined {
    if (this.#closed) return undefined
    const entry = this.#entry(undo.eventId)
    if (entry.undone || entry.running?.type === 'undo') return undefined
    if (entry.running !== undefined) {
      entry.heldUndo ??= undo
      return undefined
    }
    entry.running = undo
    return undo
  }

  /** A job ended: the jobs to start next (an undo that waited for it). */
  jobEnded (job: Job, end: JobEnd): Job[] {
    const entry = this.#entry(job.type === 'act' ? job.notice.eventId : job.eventId)
    entry.running = undefined
    if (end === 'finished') {
      entry.acted = true
      if (job.type === 'undo') entry.undone = true
    }
    const held = entry.heldUndo
    entry.heldUndo = undefined
    if (held === undefined || entry.undone) return []
    const next = this.undoAsked(held)
    return next === undefined ? [] : [next]
  }

  /**
   * An unparseable body of `kind` at `now`: reported as a Kubernetes Event at
   * most once per UNPARSEABLE_EVENT_INTERVAL_MS per kind, with the count of the
   * ones left out, however the garbage varies (alternating bodies were one
   * Event per poll, 43,000 a day).
   */
  unparseableSeen (kind: NoticeKind, now: number): UnparseableVerdict {
    const last = this.#garbage.get(kind)
    if (last !== undefined && now - last.reportedAt < UNPARSEABLE_EVENT_INTERVAL_MS) {
      last.suppressed++
      return { report: false, suppressed: last.suppressed }
    }
    this.#garbage.set(kind, { reportedAt: now, suppressed: 0 })
    return { report: true, suppressed: last?.suppressed ?? 0 }
  }

  /** The jobs running now. */
  running (): Job[] {
    return [...this.#entries.values()].flatMap(e => e.running === undefined ? [] : [e.running])
  }

  /** Starts nothing new from now on (the agent is stopping). */
  close (): void {
    this.#closed = true
  }
}

/** Where sources report what they saw. */
export interface NoticeSink {
  /** An active notice, or a canceled/completed one. */
  notice (notice: Notice): void
  /** A request to undo an event (the instance rebooted, a rebalance cordon expired). */
  undo (undo: UndoJob): void
  /** A body that did not parse. */
  unparseable (kind: NoticeKind, error: NoticeParseError): void
}

/** What the dispatcher runs the store's jobs with. */
export interface JobRunner {
  run (job: Job): Promise<JobEnd>
  /** Reports an unparseable body, and whether it gets a Kubernetes Event. */
  unparseable (kind: NoticeKind, error: NoticeParseError, verdict: UnparseableVerdict): void
}

/** The store's shell: takes reports from the sources, runs the jobs the store hands out, and waits for them on close. */
export class EventDispatcher implements NoticeSink {
  readonly #store = new EventStore()
  readonly #inFlight = new Set<Promise<void>>()
  readonly #runner: JobRunner
  readonly #now: () => number

  constructor (runner: JobRunner, now: () => number = Date.now) {
    this.#runner = runner
    this.#now = now
  }

  notice (notice: Notice): void { this.#start(this.#store.noticeSeen(notice)) }

  undo (undo: UndoJob): void { this.#start(this.#store.undoAsked(undo)) }

  unparseable (kind: NoticeKind, error: NoticeParseError): void {
    this.#runner.unparseable(kind, error, this.#store.unparseableSeen(kind, this.#now()))
  }

  #start (job: Job | undefined): void {
    if (job === undefined) return
    const run = this.#runner.run(job).catch((): JobEnd => 'failed').then(end => {
      this.#inFlight.delete(run)
      for (const next of this.#store.jobEnded(job, end)) this.#start(next)
    })
    this.#inFlight.add(run)
  }

  /** Starts nothing new and resolves once every running job has ended. */
  async close (): Promise<void> {
    this.#store.close()
    while (this.#inFlight.size > 0) await Promise.all(this.#inFlight)
  }
}
