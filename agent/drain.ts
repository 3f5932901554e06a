/**
 * The drain: evict every pod of the plan concurrently (the API gate bounds
 * parallelism and rate) but at most as many per PodDisruptionBudget as it
 * allows (BudgetTurns, on a watch of the budgets), retry refusals as
 * `afterRefusal` decides,
 * delete finished pods, and wait, on a watch of the node's pods, until each
 * pod is gone or replaced. The deadline rules: grace periods end before it,
 * and a pod a budget still blocks when it can no longer wait is deleted with
 * the grace that is left (when enabled), recording the budget that blocked it.
 */
import type { V1Pod, V1PodDisruptionBudget } from '@kubernetes/client-node'
import type { Logger } from 'pino'
import { afterRefusal, boundedGraceSeconds, budgetFor, contentionWindowMs, deleteAtDeadlineTime, evictionBackoffMs, planDrain, type DrainPlanOptions, type PodRef, type RefusalState, type SkipReason } from './drain-plan.ts'
import type { EvictionOutcome } from './kube.ts'
import type { RecordedDrain } from './node-state.ts'
import type { AgentMetrics } from './metrics.ts'

/** Timing and policy of one drain. */
export interface DrainOptions extends DrainPlanOptions {
  /** When the instance goes away (ms since epoch), if the notice says. */
  deadline?: number
  /** How long a drain without a deadline may take (NODE_TERMINATION_GRACE_PERIOD, ms). */
  noDeadlineBudgetMs: number
  /** Time kept free before the deadline (ms). */
  safetyMarginMs: number
  /** Delete pods a budget still blocks once they can no longer wait. */
  deleteAtDeadline: boolean
}

/** Objects as a watch sees them, for as long as the drain runs (the node's pods, the budgets). */
export interface WatchedObjects<T> {
  /** The objects now. */
  current (): T[]
  /** Resolves at the next change, or at `until` (ms since epoch), whichever comes first; any number may wait. */
  changed (until: number): Promise<void>
  /** Ends the watch. */
  close (): Promise<void>
}

/** The Kubernetes calls a drain makes. */
export interface DrainClient {
  /** Lists the node's pods and keeps watching them; aborting `signal` wakes `changed`. */
  watchPods (signal?: AbortSignal): Promise<WatchedObjects<V1Pod>>
  /** Lists and watches the PodDisruptionBudgets; rejects when they cannot be read. */
  watchBudgets (signal?: AbortSignal): Promise<WatchedObjects<V1PodDisruptionBudget>>
  evict (namespace: string, name: string, uid: string, gracePeriodSeconds: number): Promise<EvictionOutcome>
  deletePod (namespace: string, name: string, uid: string, gracePeriodSeconds: number): Promise<boolean>
}

/** What the drain needs from the outside. */
export interface DrainDeps {
  client: DrainClient
  logger: Logger
  metrics: AgentMetrics
  now: () => number
  sleep: (ms: number) => Promise<void>
  /** Aborted when the agent stops: the drain returns at the next step, handing over to the next start. */
  signal?: AbortSignal
  /** Called once the evictions are done, before waiting for the pods to go, with the report so far (to keep it across a restart). */
  checkpoint?: (report: DrainReport) => Promise<void>
  /** Called for each pod the API server accepted an eviction of (not awaited). */
  onEvicted?: (pod: PodRef) => void
  /** Random numbers in [0, 1) for the contention wait (default Math.random). */
  random?: () => number
}

/** `namespace/name`. */
export type PodName = string

/** What a drain did. */
export interface DrainReport {
  evicted: PodName[]
  deletedFinished: PodName[]
  deletedAtDeadline: Array<{ pod: PodName, pdb?: string }>
  skipped: Array<{ pod: PodName, reason: SkipReason }>
  /** Pods still on the node because of configuration or a budget. */
  blockers: Array<{ pod: PodName, reason: string }>
  /** Pods whose eviction was accepted but that were still terminating when the drain stopped waiting. */
  stillTerminating: PodName[]
  durationMs: number
  /** True when every pod the plan acts on is gone. */
  complete: boolean
  /** True when the drain stopped because the agent is stopping. */
  handedOver: boolean
}

const nameOf = (p: PodRef): PodName => `${p.namespace}/${p.name}`

/** One-line summary of a report, for the final Event and logs. */
export function summarizeDrain (r: DrainReport): string {
  const parts = [`${r.evicted.length} evicted`]
  if (r.deletedFinished.length > 0) parts.push(`${r.deletedFinished.length} finished deleted`)
  parts.push(`${r.deletedAtDeadline.length} deleted at the deadline${r.deletedAtDeadline.length > 0 ? ` (${r.deletedAtDeadline.map(d => `${d.pod}${d.pdb !== undefined ? ` blocked by PDB ${d.pdb}` : ''}`).join(', ')})` : ''}`)
  parts.push(`${r.skipped.length} left alone`)
  if (r.blockers.length > 0) parts.push(`blockers: ${r.blockers.map(b => `${b.pod} (${b.reason})`).join(', ')}`)
  if (r.stillTerminating.length > 0) parts.push(`still terminating: ${r.stillTerminating.join(', ')}`)
  if (r.handedOver) parts.push('handed over to the next agent start')
  return `drain ${r.complete ? 'complete' : 'incomplete'} in ${(r.durationMs / 1000).toFixed(1)}s: ${parts.join('; ')}`
}

/** Drains the node. Never throws for a single pod's trouble; that pod is reported instead. */
export async function drainNode (options: DrainOptions, deps: DrainDeps): Promise<DrainReport> {
  const { client, logger, metrics, now, sleep, signal } = deps
  const start = now()
  const stopAt = options.deadline ?? start + options.noDeadlineBudgetMs
  const aborted = (): boolean => signal?.aborted === true
  const pods = await client.watchPods(signal)
  try {
    const plan = planDrain(pods.current(), options)
    const report: DrainReport = {
      evicted: [],
      deletedFinished: [],
      deletedAtDeadline: [],
      skipped: plan.skipped.map(s => ({ pod: nameOf(s.pod), reason: s.reason })),
      blockers: plan.blocked.map(b => ({ pod: nameOf(b.pod), reason: b.reason })),
      stillTerminating: [],
      durationMs: 0,
      complete: false,
      handedOver: false
    }
    logger.info({ evict: plan.evict.length, finished: plan.deleteFinished.length, terminating: plan.terminating.length, skipped: plan.skipped.length, blocked: plan.blocked.length }, 'drain planned')
    const toAwait: PodRef[] = [...plan.terminating]
    let progress = 0

    const turns = plan.evict.length === 0 ? undefined : await BudgetTurns.start(deps)
    const evictOne = async (pod: PodRef): Promise<void> => {
      const deleteAt = options.deleteAtDeadline && options.deadline !== undefined ? deleteAtDeadlineTime(pod.desiredGraceSeconds, options.deadline, options.safetyMarginMs) : undefined
      const decisionAt = deleteAt ?? stopAt
      let refusals: RefusalState = { backoffStep: 0, seenProgress: 0 }
      for (let attempt = 1; !aborted(); attempt++) {
        const turn = turns === undefined ? undefined : await turns.take(pod, decisionAt)
        const grace = boundedGraceSeconds(pod.desiredGraceSeconds, options.deadline, now(), options.safetyMarginMs)
        const result = await tryEvict(pod, grace, deps)
        turn?.release(result.outcome === 'accepted' ? 'accepted' : result.outcome === 'blocked' && result.status === 429 ? 'refused' : 'other')
        if (result.outcome === 'accepted') {
          progress++
          metrics.evictions.inc({ outcome: 'evicted' })
          logger.info({ pod: nameOf(pod), gracePeriodSeconds: grace, attempts: attempt }, 'pod evicted')
          report.evicted.push(nameOf(pod))
          deps.onEvicted?.(pod)
          toAwait.push(pod)
          return
        }
        if (result.outcome === 'gone') {
          metrics.evictions.inc({ outcome: 'gone' })
          return
        }
        if (result.status === 429) metrics.evictions.inc({ outcome: 'blocked' })
        const decided = afterRefusal(refusals, { now: now(), progress, deleteAt, stopAt, desiredGraceSeconds: pod.desiredGraceSeconds, deadline: options.deadline, safetyMarginMs: options.safetyMarginMs, retryAfterMs: result.retryAfterMs })
        refusals = decided.state
        const next = decided.next
        if (next.step === 'give-up') {
          metrics.evictions.inc({ outcome: 'gave-up' })
          report.blockers.push({ pod: nameOf(pod), reason: result.pdb !== undefined ? `blocked by PodDisruptionBudget ${result.pdb}` : result.message })
          return
        }
        if (next.step === 'retry') {
          // With the budgets watched, the wait ends early when a budget changes; the turn then says whether to try.
          await (turn !== undefined && turns !== undefined ? turns.changed(now() + next.waitMs) : sleep(next.waitMs))
          continue
        }
        logger.warn({ pod: nameOf(pod), pdb: result.pdb, gracePeriodSeconds: next.graceSeconds }, 'budget still blocks near the deadline; deleting the pod with the remaining grace')
        try {
          if (await client.deletePod(pod.namespace, pod.name, pod.uid, next.graceSeconds)) {
            metrics.evictions.inc({ outcome: 'deleted-at-deadline' })
            report.deletedAtDeadline.push({ pod: nameOf(pod), ...(result.pdb !== undefined ? { pdb: result.pdb } : {}) })
            toAwait.push(pod)
          }
          return
        } catch (err) {
          logger.error({ err, pod: nameOf(pod) }, 'deleting the pod at the deadline failed; retrying')
          await sleep(evictionBackoffMs(0))
        }
      }
    }

    const deleteFinished = async (pod: PodRef): Promise<void> => {
      try {
        if (await client.deletePod(pod.namespace, pod.name, pod.uid, 0)) report.deletedFinished.push(nameOf(pod))
        metrics.evictions.inc({ outcome: 'deleted-finished' })
      } catch (err) {
        logger.warn({ err, pod: nameOf(pod) }, 'could not delete finished pod')
        report.blockers.push({ pod: nameOf(pod), reason: (err as Error).message })
      }
    }

    await Promise.all([...plan.evict.map(evictOne), ...plan.deleteFinished.map(deleteFinished)])
    await turns?.close()
    await deps.checkpoint?.(report).catch((err: Error) => logger.warn({ err }, 'could not record the evictions so far; carrying on'))
    report.stillTerminating = (await untilGone(toAwait, stopAt, pods, deps)).map(nameOf)
    report.handedOver = aborted()
    report.durationMs = now() - start
    report.complete = !report.handedOver && report.blockers.length === 0 && report.stillTerminating.length === 0
    return report
  } finally {
    await pods.close()
  }
}

/**
 * A resumed drain's report with what the drain before the restart recorded:
 * its evictions and deletions count too (without duplicates); blockers and
 * pods still terminating are the resumed drain's own, which looked last.
 */
export function withEarlierDrain (report: DrainReport, earlier: RecordedDrain | undefined): DrainReport {
  if (earlier === undefined) return report
  const union = <T>(a: readonly T[], b: readonly T[], key: (x: T) => string): T[] => [...new Map([...a, ...b].map(x => [key(x), x])).values()]
  const same = (x: string): string => x
  return {
    ...report,
    evicted: union(earlier.evicted, report.evicted, same),
    deletedFinished: union(earlier.deletedFinished, report.deletedFinished, same),
    deletedAtDeadline: union(earlier.deletedAtDeadline, report.deletedAtDeadline, d => d.pod)
  }
}

/** A pod's turn to try an eviction under its budget; released with how the eviction went. */
interface BudgetTurn {
  release (outcome: 'accepted' | 'refused' | 'other'): void
}

/**
 * Paces evictions on the budgets' own signal: with the PodDisruptionBudgets
 * watched, a pod covered by one tries only while the budget allows more
 * disruptions than are being tried or were just accepted (an accepted
 * eviction holds its place until the budget's status shows it), so at most
 * `disruptionsAllowed` evictions per budget are in flight and the others
 * wait for the budget to change instead of asking again and again. After
 * BUDGET_RECHECK_MS without a change a pod tries anyway (a watch can lag).
 * Where the budget refused this drain since its last accepted eviction
 * there, other nodes are competing for it: a free slot is then taken after a
 * random wait (contentionWindowMs), and only if still free.
 * Without read access to budgets, nothing is paced: refusals are retried on
 * the backoff.
 */
class BudgetTurns {
  readonly #budgets: WatchedObjects<V1PodDisruptionBudget>
  readonly #deps: DrainDeps
  readonly #inFlight = new Map<string, number>()
  /** Per budget, the resourceVersion it had when each recent eviction under it was accepted. */
  readonly #accepted = new Map<string, string[]>()
  /** Per budget, refusals since this drain's last accepted eviction under it. */
  readonly #refusals = new Map<string, number>()

  private constructor (budgets: WatchedObjects<V1PodDisruptionBudget>, deps: DrainDeps) {
    this.#budgets = budgets
    this.#deps = deps
  }

  /** Starts watching the budgets; undefined (logged) when they cannot be read. */
  static async start (deps: DrainDeps): Promise<BudgetTurns | undefined> {
    try {
      return new BudgetTurns(await deps.client.watchBudgets(deps.signal), deps)
    } catch (err) {
      deps.logger.warn({ err: { message: (err as Error).message } }, 'PodDisruptionBudgets cannot be watched; refused evictions are retried on a backoff')
      return undefined
    }
  }

  /** Waits (until `decisionAt` at the latest) for the budget covering `pod` to allow one more eviction; no wait for a pod no budget covers. */
  async take (pod: PodRef, decisionAt: number): Promise<BudgetTurn | undefined> {
    const key = budgetFor(pod, this.#budgets.current())
    if (key === undefined) return undefined
    const { now } = this.#deps
    const random = this.#deps.random ?? Math.random
    const open = (): boolean => this.#deps.signal?.aborted !== true && now() < decisionAt
    for (;;) {
      while (open() && this.#free(key) <= 0) {
        await this.#budgets.changed(Math.min(decisionAt, now() + BUDGET_RECHECK_MS))
        if (this.#free(key) <= 0 && now() >= decisionAt) break
      }
      const window = contentionWindowMs(this.#refusals.get(key) ?? 0)
      if (window === 0 || !open()) break
      await this.#deps.sleep(Math.floor(random() * window))
      if (this.#free(key) > 0 || !open()) break
    }
    this.#inFlight.set(key, (this.#inFlight.get(key) ?? 0) + 1)
    return {
      release: outcome => {
        this.#inFlight.set(key, (this.#inFlight.get(key) ?? 1) - 1)
        if (outcome === 'accepted') {
          this.#refusals.delete(key)
          this.#accepted.set(key, [...(this.#accepted.get(key) ?? []), this.#budget(key)?.metadata?.resourceVersion ?? ''])
        } else if (outcome === 'refused') {
          this.#refusals.set(key, (this.#refusals.get(key) ?? 0) + 1)
        }
      }
    }
  }

  /** Resolves at the next change of any budget, or at `until`. */
  async changed (until: number): Promise<void> {
    await this.#budgets.changed(until)
  }

  async close (): Promise<void> {
    await this.#budgets.close()
  }

  #budget (key: string): V1PodDisruptionBudget | undefined {
    return this.#budgets.current().find(b => `${b.metadata?.namespace}/${b.metadata?.name}` === key)
  }

  /** Disruptions the budget allows beyond those being tried or accepted since its status last changed; Infinity when its status is unknown. */
  #free (key: string): number {
    const budget = this.#budget(key)
    const allowed = budget?.status?.disruptionsAllowed
    if (allowed === undefined) return Infinity
    const rv = budget?.metadata?.resourceVersion ?? ''
    const recent = (this.#accepted.get(key) ?? []).filter(seen => seen === rv)
    this.#accepted.set(key, recent)
    return allowed - (this.#inFlight.get(key) ?? 0) - recent.length
  }
}

/** How long a pod waits for its budget to change before it tries anyway. */
const BUDGET_RECHECK_MS = 5000

/** One eviction request; a failed request counts as a refusal to retry. */
async function tryEvict (pod: PodRef, grace: number, deps: DrainDeps): Promise<EvictionOutcome> {
  try {
    return await deps.client.evict(pod.namespace, pod.name, pod.uid, grace)
  } catch (err) {
    deps.metrics.evictions.inc({ outcome: 'error' })
    deps.logger.warn({ err, pod: nameOf(pod) }, 'eviction request failed; retrying')
    return { outcome: 'blocked', status: 0, message: (err as Error).message }
  }
}

/** Waits on the pod watch until none of `awaited` is on the node (same name with another uid counts as gone); returns the ones left at `stopAt`. */
async function untilGone (awaited: readonly PodRef[], stopAt: number, pods: WatchedObjects<V1Pod>, deps: DrainDeps): Promise<PodRef[]> {
  let left = [...awaited]
  for (;;) {
    const present = new Set(pods.current().map(p => p.metadata?.uid))
    left = left.filter(p => present.has(p.uid))
    if (left.length === 0 || deps.now() >= stopAt || deps.signal?.aborted === true) return left
    await pods.changed(stopAt)
  }
}
