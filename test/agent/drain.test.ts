import t from 'tap'
import type { V1Pod } from '@kubernetes/client-node'
import { drainNode, summarizeDrain, type DrainDeps, type DrainOptions } from '../../agent/drain.ts'
import type { EvictionOutcome } from '../../agent/kube.ts'
import { createAgentMetrics } from '../../agent/metrics.ts'
import { createRegistry } from '#common/metrics.ts'
import { captureLogger } from './helpers.ts'
import { metricValue } from '../helpers/metrics.ts'

/**
 * A node's pods in memory; evictions answer from a script; time only moves
 * when the drain sleeps or waits on the pod watch (which jumps to the next pod
 * the kubelet finishes, or to the wait's end).
 */
function fakeCluster (pods: V1Pod[], script: (name: string, now: number) => EvictionOutcome | Error = () => ({ outcome: 'accepted' })) {
  let now = 0
  const present = new Map(pods.map(p => [p.metadata!.name!, p]))
  const calls: string[] = []
  const terminatingFor = new Map<string, number>()
  const finishDue = (): void => {
    for (const [name, until] of terminatingFor) if (now >= until) { present.delete(name); terminatingFor.delete(name) }
  }
  let watches = 0
  const client: DrainDeps['client'] = {
    watchPods: async () => {
      watches++
      return {
        current: () => { finishDue(); return [...present.values()] },
        changed: async until => {
          const next = Math.min(...terminatingFor.values())
          now = Math.max(now, next <= until ? next : until)
        },
        close: async () => { watches-- }
      }
    },
    // No read access to budgets here: refusals are retried on the backoff, whose timings these tests pin down.
    watchBudgets: async () => { throw new Error('poddisruptionbudgets is forbidden') },
    evict: async (_ns, name, _uid, grace) => {
      calls.push(`evict ${name} grace=${grace} t=${now}`)
      const r = script(name, now)
      if (r instanceof Error) throw r
      if (r.outcome === 'accepted') terminatingFor.set(name, now + 1000)
      return r
    },
    deletePod: async (_ns, name, _uid, grace) => {
      calls.push(`delete ${name} grace=${grace} t=${now}`)
      terminatingFor.set(name, now + 1000)
      return present.has(name)
    }
  }
  const metrics = createAgentMetrics(createRegistry(false))
  const abort = new AbortController()
  const deps: DrainDeps = { client, logger: captureLogger().logger, metrics, now: () => now, sleep: async ms => { now += ms }, signal: abort.signal }
  return { deps, calls, metrics, abort, advance: (ms: number) => { now += ms }, openWatches: () => watches }
}

function pod (name: string, extra: Partial<V1Pod['spec']> & { owner?: string, phase?: string } = {}): V1Pod {
  const { owner, phase, ...spec } = extra
  return {
    metadata: { name, namespace: 'apps', uid: `uid-${name}`, ...(owner !== undefined ? { ownerReferences: [{ apiVersion: 'apps/v1', kind: owner, name: 'o', uid: 'o', controller: true }] } : {}) },
    spec: { containers: [], ...spec },
    status: { phase: phase ?? 'Running' }
  }
}

const spotOptions: DrainOptions = { ignoreDaemonSets: true, deleteLocalData: true, podTerminationGracePeriod: -1, deadline: 120_000, noDeadlineBudgetMs: 120_000, safetyMarginMs: 5000, deleteAtDeadline: true }

t.test('every pod is evicted, finished pods deleted, DaemonSet pods left alone, and the drain waits until they are gone', async t => {
  const c = fakeCluster([pod('a'), pod('b', { terminationGracePeriodSeconds: 10 }), pod('done', { phase: 'Succeeded' }), pod('ds', { owner: 'DaemonSet' })])
  const r = await drainNode(spotOptions, c.deps)
  t.same(r.evicted, ['apps/a', 'apps/b'])
  t.same(r.deletedFinished, ['apps/done'])
  t.same(r.skipped, [{ pod: 'apps/ds', reason: 'daemonset' }])
  t.same(r.stillTerminating, [])
  t.equal(r.complete, true)
  t.equal(r.durationMs, 1000, 'waited for the kubelet to finish the pods')
  t.same(c.calls.slice(0, 3), ['evict a grace=30 t=0', 'evict b grace=10 t=0', 'delete done grace=0 t=0'])
  t.equal(await metricValue(c.metrics.evictions, { outcome: 'evicted' }), 2)
  t.match(summarizeDrain(r), /^drain complete in 1\.0s: 2 evicted; 1 finished deleted; 0 deleted at the deadline; 1 left alone$/)
  t.equal(c.openWatches(), 0, 'the pod watch is closed when the drain ends')
})

t.test('a budget that blocks for a while is retried promptly with growing backoff until it allows', async t => {
  const c = fakeCluster([pod('guarded')], (_n, now) => now < 1500 ? { outcome: 'blocked', status: 429, message: 'Cannot evict pod as it would violate the pod\'s disruption budget. The disruption budget web-pdb needs 2 healthy pods and has 2 currently', pdb: 'web-pdb' } : { outcome: 'accepted' })
  const r = await drainNode(spotOptions, c.deps)
  t.same(c.calls, ['evict guarded grace=30 t=0', 'evict guarded grace=30 t=250', 'evict guarded grace=30 t=750', 'evict guarded grace=30 t=1750'])
  t.same(r.evicted, ['apps/guarded'])
  t.equal(r.complete, true)
  t.equal(await metricValue(c.metrics.evictions, { outcome: 'blocked' }), 3)
})

t.test('a budget still blocking near the deadline: the pod is deleted with the grace left and the budget reported', async t => {
  const c = fakeCluster([pod('guarded', { terminationGracePeriodSeconds: 20 }), pod('free')], name => name === 'guarded' ? { outcome: 'blocked', status: 429, message: 'budget', pdb: 'web-pdb' } : { outcome: 'accepted' })
  const r = await drainNode(spotOptions, c.deps)
  const deletion = c.calls.find(x => x.startsWith('delete'))
  t.equal(deletion, 'delete guarded grace=20 t=95000', 'at deadline - margin - grace, with the full grace still possible')
  t.same(r.deletedAtDeadline, [{ pod: 'apps/guarded', pdb: 'web-pdb' }])
  t.same(r.evicted, ['apps/free'])
  t.equal(r.complete, true)
  t.match(summarizeDrain(r), /1 deleted at the deadline \(apps\/guarded blocked by PDB web-pdb\)/)
  t.equal(await metricValue(c.metrics.evictions, { outcome: 'deleted-at-deadline' }), 1)
})

t.test('a pod whose grace is longer than the window left is deleted with what is left', async t => {
  const c = fakeCluster([pod('slow', { terminationGracePeriodSeconds: 600 })], () => ({ outcome: 'blocked', status: 429, message: 'budget' }))
  c.advance(30_000)
  const r = await drainNode(spotOptions, c.deps)
  t.same(c.calls, ['evict slow grace=85 t=30000', 'delete slow grace=85 t=30000'])
  t.same(r.deletedAtDeadline, [{ pod: 'apps/slow' }])
})

t.test('without deletion at the deadline a blocked pod is given up at the deadline and reported as a blocker', async t => {
  const c = fakeCluster([pod('guarded')], () => ({ outcome: 'blocked', status: 429, message: 'budget', pdb: 'web-pdb' }))
  const r = await drainNode({ ...spotOptions, deleteAtDeadline: false }, c.deps)
  t.notOk(c.calls.some(x => x.startsWith('delete')))
  t.same(r.blockers, [{ pod: 'apps/guarded', reason: 'blocked by PodDisruptionBudget web-pdb' }])
  t.equal(r.complete, false)
  t.equal(r.durationMs, 120_000)
  t.equal(await metricValue(c.metrics.evictions, { outcome: 'gave-up' }), 1)
  t.match(summarizeDrain(r), /^drain incomplete .*blockers: apps\/guarded \(blocked by PodDisruptionBudget web-pdb\)/)
})

t.test('a notice without a deadline is bounded by NODE_TERMINATION_GRACE_PERIOD and never deletes', async t => {
  const c = fakeCluster([pod('guarded')], () => ({ outcome: 'blocked', status: 429, message: 'nope' }))
  const { deadline: _d, ...noDeadline } = spotOptions
  const r = await drainNode({ ...noDeadline, noDeadlineBudgetMs: 10_000 }, c.deps)
  t.same(r.blockers, [{ pod: 'apps/guarded', reason: 'nope' }])
  t.equal(r.durationMs, 10_000)
  t.ok(c.calls.every(x => x.endsWith(`grace=30 t=${x.split('t=')[1]}`)), 'the pod\'s own grace without a deadline')
})

t.test('pods already gone count as done; failing requests are retried; pods still terminating at the stop are reported', async t => {
  let failures = 1
  const stuck = pod('stuck')
  stuck.metadata!.deletionTimestamp = new Date()
  const c = fakeCluster([pod('gone'), pod('flaky'), stuck], name => {
    if (name === 'gone') return { outcome: 'gone' }
    if (failures-- > 0) return new Error('connection reset')
    return { outcome: 'accepted' }
  })
  const r = await drainNode({ ...spotOptions, deadline: 60_000 }, c.deps)
  t.same(r.evicted, ['apps/flaky'])
  t.same(r.stillTerminating, ['apps/stuck'])
  t.equal(r.complete, false)
  t.equal(await metricValue(c.metrics.evictions, { outcome: 'error' }), 1)
  t.equal(await metricValue(c.metrics.evictions, { outcome: 'gone' }), 1)
})

t.test('an aborted drain stops and says it handed over', async t => {
  const c = fakeCluster([pod('guarded')], () => {
    c.abort.abort()
    return { outcome: 'blocked', status: 429, message: 'budget' }
  })
  const r = await drainNode(spotOptions, c.deps)
  t.equal(r.handedOver, true)
  t.equal(r.complete, false)
  t.match(summarizeDrain(r), /handed over/)
  t.equal(c.calls.length, 1)
})

/** Virtual time: sleeps resolve in time order once every task is waiting, so concurrent retries interleave as they would for real. */
function virtualTime (): { now: () => number, sleep: (ms: number) => Promise<void> } {
  let now = 0
  let pending = false
  const sleepers: Array<{ at: number, seq: number, wake: () => void }> = []
  let seq = 0
  const advance = (): void => {
    if (pending) return
    pending = true
    setImmediate(() => {
      pending = false
      sleepers.sort((a, b) => a.at - b.at || a.seq - b.seq)
      const next = sleepers.shift()
      if (next === undefined) return
      now = next.at
      next.wake()
      advance()
    })
  }
  return { now: () => now, sleep: ms => new Promise<void>(resolve => { sleepers.push({ at: now + ms, seq: seq++, wake: resolve }); advance() }) }
}

t.test('when another eviction gets through, blocked pods start their backoff over', async t => {
  const time = virtualTime()
  let allowAt = 0
  const accepted: Record<string, number> = {}
  const c = fakeCluster([pod('x'), pod('y'), pod('z')], name => {
    if (time.now() < allowAt) return { outcome: 'blocked', status: 429, message: 'budget', pdb: 'p' }
    allowAt = time.now() + 300
    accepted[name] = time.now()
    return { outcome: 'accepted' }
  })
  const r = await drainNode(spotOptions, { ...c.deps, now: time.now, sleep: time.sleep })
  t.same(r.evicted.length, 3)
  t.same(accepted, { x: 0, y: 750, z: 1500 }, 'z retried 250 ms after y got through instead of waiting its full 1 s step')
})
