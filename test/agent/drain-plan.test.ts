import t from 'tap'
import type { V1Pod } from '@kubernetes/client-node'
import { afterRefusal, boundedGraceSeconds, budgetFor, contentionWindowMs, deleteAtDeadlineTime, evictionBackoffMs, planDrain, selectorMatches, MIRROR_POD_ANNOTATION, type DrainPlanOptions } from '../../agent/drain-plan.ts'

function pod (name: string, extra: { owner?: string, phase?: string, emptyDir?: boolean, mirror?: boolean, grace?: number, deleting?: boolean, namespace?: string } = {}): V1Pod {
  return {
    metadata: {
      name,
      namespace: extra.namespace ?? 'apps',
      uid: `uid-${name}`,
      ...(extra.owner !== undefined ? { ownerReferences: [{ apiVersion: 'apps/v1', kind: extra.owner, name: 'o', uid: 'u', controller: true }] } : {}),
      ...(extra.mirror === true ? { annotations: { [MIRROR_POD_ANNOTATION]: 'abc' } } : {}),
      ...(extra.deleting === true ? { deletionTimestamp: new Date() } : {})
    },
    spec: {
      containers: [{ name: 'c' }],
      ...(extra.grace !== undefined ? { terminationGracePeriodSeconds: extra.grace } : {}),
      ...(extra.emptyDir === true ? { volumes: [{ name: 'scratch', emptyDir: {} }] } : {})
    },
    status: { phase: extra.phase ?? 'Running' }
  }
}

const base: DrainPlanOptions = { ignoreDaemonSets: true, deleteLocalData: true, podTerminationGracePeriod: -1, ownPod: { namespace: 'spot-handler', name: 'agent-x' } }

const cases: Array<{ name: string, pods: V1Pod[], options?: Partial<DrainPlanOptions>, expect: Record<string, string[]> }> = [
  {
    name: 'ReplicaSet and bare pods are evicted; DaemonSet, mirror and own pods are left alone',
    pods: [pod('web', { owner: 'ReplicaSet' }), pod('bare'), pod('ds', { owner: 'DaemonSet' }), pod('static', { mirror: true }), pod('agent-x', { namespace: 'spot-handler', owner: 'DaemonSet' })],
    expect: { evict: ['web', 'bare'], skipped: ['ds:daemonset', 'static:mirror', 'agent-x:own-pod'] }
  },
  {
    name: 'finished pods are deleted, terminating pods only awaited',
    pods: [pod('done', { phase: 'Succeeded' }), pod('crashed', { phase: 'Failed', owner: 'DaemonSet' }), pod('going', { deleting: true })],
    expect: { deleteFinished: ['done', 'crashed'], terminating: ['going'] }
  },
  {
    name: 'emptyDir pods are evicted with DELETE_LOCAL_DATA',
    pods: [pod('cache', { emptyDir: true })],
    expect: { evict: ['cache'] }
  },
  {
    name: 'emptyDir pods block the drain without DELETE_LOCAL_DATA',
    pods: [pod('cache', { emptyDir: true })],
    options: { deleteLocalData: false },
    expect: { blocked: ['cache:uses emptyDir and DELETE_LOCAL_DATA is false'] }
  },
  {
    name: 'DaemonSet pods block the drain when they may not be ignored',
    pods: [pod('ds', { owner: 'DaemonSet' })],
    options: { ignoreDaemonSets: false },
    expect: { blocked: ['ds:DaemonSet-managed pod and IGNORE_DAEMON_SETS is false'] }
  },
  {
    name: 'without an own pod configured, a pod named like the agent is evicted',
    pods: [pod('agent-x', { namespace: 'spot-handler' })],
    options: { ownPod: undefined },
    expect: { evict: ['agent-x'] }
  }
]

t.test('the drain plan sorts each pod into what happens to it', async t => {
  for (const c of cases) {
    const options = { ...base, ...c.options }
    if (c.options !== undefined && 'ownPod' in c.options && c.options.ownPod === undefined) delete options.ownPod
    const plan = planDrain(c.pods, options)
    const got: Record<string, string[]> = {
      evict: plan.evict.map(p => p.name),
      deleteFinished: plan.deleteFinished.map(p => p.name),
      terminating: plan.terminating.map(p => p.name),
      skipped: plan.skipped.map(s => `${s.pod.name}:${s.reason}`),
      blocked: plan.blocked.map(b => `${b.pod.name}:${b.reason}`)
    }
    const want = { evict: [], deleteFinished: [], terminating: [], skipped: [], blocked: [], ...c.expect }
    t.same(got, want, c.name)
  }
})

t.test('a pod keeps its own grace period unless POD_TERMINATION_GRACE_PERIOD overrides it', async t => {
  const pods = [pod('a', { grace: 45 }), pod('b')]
  t.same(planDrain(pods, base).evict.map(p => p.desiredGraceSeconds), [45, 30])
  t.same(planDrain(pods, { ...base, podTerminationGracePeriod: 10 }).evict.map(p => p.desiredGraceSeconds), [10, 10])
  t.same(planDrain(pods, base).evict.map(p => `${p.namespace}/${p.uid}`), ['apps/uid-a', 'apps/uid-b'])
})

t.test('grace periods end a safety margin before the deadline and are at least one second', async t => {
  const rows: Array<[number, number | undefined, number, number, number]> = [
    // desired, deadline, now, margin, expected
    [30, undefined, 0, 5000, 30],
    [30, 120_000, 0, 5000, 30],
    [30, 120_000, 100_000, 5000, 15],
    [300, 120_000, 0, 5000, 115],
    [30, 120_000, 119_000, 5000, 1],
    [30, 120_000, 200_000, 5000, 1],
    [0, 120_000, 0, 5000, 1]
  ]
  for (const [desired, deadline, now, margin, want] of rows) {
    t.equal(boundedGraceSeconds(desired, deadline, now, margin), want, `desired ${desired}, deadline ${deadline}, now ${now}`)
  }
})

t.test('a blocked pod is deleted when it can just still get its grace before the deadline', async t => {
  t.equal(deleteAtDeadlineTime(30, 120_000, 5000), 85_000)
  t.equal(deleteAtDeadlineTime(0, 120_000, 5000), 115_000)
})

t.test('eviction retries start at a quarter second, double and are capped', async t => {
  t.same([0, 1, 2, 3, 10].map(a => evictionBackoffMs(a)), [250, 500, 1000, 1000, 1000])
  t.equal(evictionBackoffMs(3, 100, 500), 500)
})

t.test('after a refused eviction: retry with backoff, start over on progress, give up at the end, delete when the deadline forces it', async t => {
  const at = { now: 10_000, progress: 0, stopAt: 100_000, desiredGraceSeconds: 30, deadline: 120_000, safetyMarginMs: 5000 }
  const fresh = { backoffStep: 0, seenProgress: 0 }
  const rows: Array<[string, Parameters<typeof afterRefusal>, ReturnType<typeof afterRefusal>]> = [
    ['first refusal: a quarter second', [fresh, at], { next: { step: 'retry', waitMs: 250 }, state: { backoffStep: 1, seenProgress: 0 } }],
    ['third refusal: a second', [{ backoffStep: 2, seenProgress: 0 }, at], { next: { step: 'retry', waitMs: 1000 }, state: { backoffStep: 3, seenProgress: 0 } }],
    ['another eviction got through: start over', [{ backoffStep: 5, seenProgress: 0 }, { ...at, progress: 2 }], { next: { step: 'retry', waitMs: 250 }, state: { backoffStep: 1, seenProgress: 2 } }],
    ['a Retry-After longer than the backoff is honoured', [fresh, { ...at, retryAfterMs: 2000 }], { next: { step: 'retry', waitMs: 2000 }, state: { backoffStep: 1, seenProgress: 0 } }],
    ['never sleeps past the deletion time', [{ backoffStep: 5, seenProgress: 0 }, { ...at, deleteAt: 10_100 }], { next: { step: 'retry', waitMs: 100 }, state: { backoffStep: 6, seenProgress: 0 } }],
    ['never sleeps past the end of the drain', [{ backoffStep: 5, seenProgress: 0 }, { ...at, stopAt: 10_040 }], { next: { step: 'retry', waitMs: 40 }, state: { backoffStep: 6, seenProgress: 0 } }],
    ['at the end of the drain without deletion: give up', [fresh, { ...at, now: 100_000 }], { next: { step: 'give-up' }, state: fresh }],
    ['at the deletion time: delete with the full grace', [fresh, { ...at, now: 85_000, deleteAt: 85_000 }], { next: { step: 'delete', graceSeconds: 30 }, state: fresh }],
    ['late: delete with the grace that is left', [fresh, { ...at, now: 100_000, deleteAt: 85_000 }], { next: { step: 'delete', graceSeconds: 15 }, state: fresh }],
    ['deletion wins over giving up', [fresh, { ...at, now: 118_000, deleteAt: 85_000 }], { next: { step: 'delete', graceSeconds: 1 }, state: fresh }]
  ]
  for (const [name, args, expected] of rows) t.same(afterRefusal(...args), expected, name)
})

t.test('a budget covers the pods of its namespace that its selector matches', async t => {
  const pdb = (name: string, namespace: string, selector: Record<string, unknown> | undefined) => ({ metadata: { name, namespace }, spec: { ...(selector === undefined ? {} : { selector }) } })
  const budgets = [
    pdb('none', 'apps', undefined),
    pdb('web', 'apps', { matchLabels: { app: 'web' } }),
    pdb('tiers', 'apps', { matchExpressions: [{ key: 'tier', operator: 'In', values: ['db', 'cache'] }, { key: 'canary', operator: 'DoesNotExist' }] }),
    pdb('all-other', 'other', {})
  ]
  const pod = (namespace: string, labels: Record<string, string>) => ({ namespace, labels })
  t.equal(budgetFor(pod('apps', { app: 'web', x: '1' }), budgets), 'apps/web')
  t.equal(budgetFor(pod('apps', { tier: 'db' }), budgets), 'apps/tiers')
  t.equal(budgetFor(pod('apps', { tier: 'db', canary: 'yes' }), budgets), undefined, 'DoesNotExist')
  t.equal(budgetFor(pod('apps', { tier: 'web' }), budgets), undefined, 'In')
  t.equal(budgetFor(pod('other', { anything: 'x' }), budgets), 'other/all-other', 'an empty selector covers the whole namespace')
  t.equal(budgetFor(pod('third', { app: 'web' }), budgets), undefined, 'budgets are per namespace')
  t.equal(selectorMatches({ matchExpressions: [{ key: 'a', operator: 'NotIn', values: ['x'] }] }, {}), true, 'NotIn matches a missing key')
  t.equal(selectorMatches({ matchExpressions: [{ key: 'a', operator: 'Exists' }] }, { a: '' }), true)
  t.equal(selectorMatches({ matchExpressions: [{ key: 'a', operator: 'Gt', values: ['1'] }] }, { a: '2' }), false, 'an operator PDBs do not know matches nothing')
  t.equal(selectorMatches({ matchLabels: { constructor: 'x' } }, {}), false, 'own keys only')
})

t.test('the random wait before trying a contended budget: none until refused, then 250 ms doubling to 2 s', async t => {
  t.same([0, 1, 2, 3, 4, 5, 10].map(contentionWindowMs), [0, 250, 500, 1000, 2000, 2000, 2000])
})
