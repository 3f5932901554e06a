import t from 'tap'
import { buildReport, countPlacement, errorReport, formatReport, type RehearsalFacts } from './report.ts'

const T0 = Date.parse('2026-11-21T07:00:00.000Z')

/** A run where everything went as the story expects. */
function goodFacts (): RehearsalFacts {
  return {
    scenario: 'spot-itn',
    mode: 'embedded',
    node: 'spot-a',
    nodes: [{ name: 'spot-a', spot: true }, { name: 'spot-b', spot: true }, { name: 'od-c', spot: false }],
    withWebhook: { namespace: 'labelled', nodeSelector: { lifecycle: 'Ec2Spot' }, nodes: ['spot-a', 'spot-b'] },
    withoutWebhook: { namespace: 'plain', nodes: ['spot-a', 'spot-b', 'od-c'] },
    noticeAt: T0,
    deadlineAt: T0 + 120_000,
    detectedAt: T0 + 800,
    cordonedAt: T0 + 900,
    drainedAt: T0 + 4000,
    taint: 'spot-handler.io/spot-itn=itn-1:NoSchedule',
    lbExcluded: true,
    cordoned: true,
    agentResult: 'spot-itn itn-1: drain complete in 3.1s: 2 evicted',
    leftOnNode: [],
    moves: [
      { pod: 'labelled/web-1', evictedMs: 950, replacement: 'labelled/web-3', to: 'spot-b', readyMs: 2200, heldByBudget: false },
      { pod: 'labelled/web-2', evictedMs: 2300, replacement: 'labelled/web-4', to: 'od-c', readyMs: 3900, heldByBudget: true }
    ],
    pdbRefusals: 0,
    budgetShouldHold: true,
    wallMs: 9876
  }
}

t.test('a run that went as expected passes every check and reports times from the notice', async t => {
  const r = buildReport(goodFacts())
  t.equal(r.ok, true)
  t.same(r.failures, [])
  t.equal(r.checks.length, 9)
  t.match(r, { scenario: 'spot-itn', mode: 'embedded', node: 'spot-a', handlerPods: { spot: 2, onDemand: 0 }, withoutWebhook: { spot: 2, onDemand: 1 } })
  t.match(r, { detectionMs: 800, cordonMs: 900, drainedMs: 4000, deadlineMs: 120_000, deadlineMet: true, podsMoved: 2, pdbWaits: 1, pdbRefusals: 0, wallMs: 9876 })
})

const failing: Array<[string, (f: RehearsalFacts) => void, string]> = [
  ['no nodeSelector added', f => { delete f.withWebhook.nodeSelector }, 'webhook pinned the handler: nodeSelector as admitted in labelled: null'],
  ['a handler pod on On-Demand', f => { f.withWebhook.nodes.push('od-c') }, 'handler pods on Spot nodes only: 2 on Spot, 1 on On-Demand'],
  ['no handler pod at all', f => { f.withWebhook.nodes = [] }, 'handler pods on Spot nodes only: 0 on Spot, 0 on On-Demand'],
  ['the contrast missing its On-Demand pod', f => { f.withoutWebhook.nodes = ['spot-a'] }, 'without the webhook it reaches On-Demand nodes: 1 on Spot, 0 on On-Demand in plain'],
  ['the notice never detected', f => { delete f.detectedAt }, 'notice detected: the agent never acted on the notice'],
  ['no taint', f => { delete f.taint }, 'node tainted, out of load balancers and cordoned: taint missing; load-balancer exclusion set; cordoned'],
  ['not cordoned', f => { f.cordoned = false; f.lbExcluded = false }, 'node tainted, out of load balancers and cordoned: taint spot-handler.io/spot-itn=itn-1:NoSchedule; load-balancer exclusion missing; not cordoned'],
  ['a pod left behind', f => { f.leftOnNode = ['labelled/cache-1'] }, 'every non-DaemonSet pod off the node: still there: labelled/cache-1'],
  ['a pod never replaced', f => { delete f.moves[1]!.replacement }, 'replacements Ready on other nodes: without a Ready replacement elsewhere: labelled/web-2'],
  ['a replacement never Ready', f => { delete f.moves[0]!.readyMs }, 'replacements Ready on other nodes: without a Ready replacement elsewhere: labelled/web-1'],
  ['the budget never held', f => { f.moves = f.moves.map(m => ({ ...m, heldByBudget: false })) }, 'PodDisruptionBudget held an eviction back: 0 pod(s) waited for a replacement; 0 eviction(s) refused on the way'],
  ['drained after the deadline', f => { f.drainedAt = T0 + 121_000 }, 'drained before the deadline: drained 121000 ms after the notice, deadline 120000 ms; agent: spot-itn itn-1: drain complete in 3.1s: 2 evicted'],
  ['an incomplete drain', f => { f.agentResult = 'drain incomplete in 120s' }, 'drained before the deadline: drained 4000 ms after the notice, deadline 120000 ms; agent: drain incomplete in 120s'],
  ['never drained', f => { delete f.drainedAt; delete f.agentResult }, 'drained before the deadline: not drained, deadline 120000 ms; agent: no result']
]

for (const [what, change, failure] of failing) {
  t.test(`${what} fails the run with a message naming the check`, async t => {
    const facts = goodFacts()
    change(facts)
    const r = buildReport(facts)
    t.equal(r.ok, false)
    t.same(r.failures, [failure])
  })
}

const passing: Array<[string, (f: RehearsalFacts) => void, string, string]> = [
  ['a cluster without On-Demand nodes', f => { f.nodes = f.nodes.filter(n => n.spot); f.withoutWebhook.nodes = ['spot-a', 'spot-b'] }, 'without the webhook it reaches On-Demand nodes', 'no On-Demand node in this cluster'],
  ['a node without more budgeted pods than the budget lets go', f => { f.budgetShouldHold = false; f.moves = f.moves.map(m => ({ ...m, heldByBudget: false })) }, 'PodDisruptionBudget held an eviction back', 'no budgeted app had more pods on the node than its budget lets go at once']
]

for (const [what, change, check, detail] of passing) {
  t.test(`${what} is not held against the run`, async t => {
    const facts = goodFacts()
    change(facts)
    const r = buildReport(facts)
    t.equal(r.ok, true)
    t.equal(r.checks.find(c => c.name === check)?.detail, detail)
  })
}

t.test('placements are counted by the nodes\' capacity type', async t => {
  const nodes = goodFacts().nodes
  t.same(countPlacement({ namespace: 'x', nodes: [] }, nodes), { spot: 0, onDemand: 0 })
  t.same(countPlacement({ namespace: 'x', nodes: ['spot-a', 'od-c', 'od-c'] }, nodes), { spot: 1, onDemand: 2 })
})

t.test('the readable report lists timings, moves, budget waits and the verdict', async t => {
  const text = formatReport(buildReport(goodFacts()))
  t.equal(text, [
    'Report: spot-itn on spot-a (embedded simulated cluster)',
    '  webhook effect      nodeSelector lifecycle=Ec2Spot: handler pods 2 on Spot, 0 on On-Demand',
    '                      without it: 2 on Spot, 1 on On-Demand',
    '  detection latency   800 ms (notice in IMDS to the agent\'s first action)',
    '  time to cordon      900 ms',
    '  time to drained     4000 ms (deadline 120000 ms: met, 116000 ms to spare)',
    '  pods moved          2',
    '    labelled/web-1                                 evicted at +950 ms -> spot-b, Ready at +2200 ms',
    '    labelled/web-2                                 evicted at +2300 ms -> od-c, Ready at +3900 ms [held by PodDisruptionBudget]',
    '  PDB waits           1 pod(s) held until a replacement was Ready, 0 eviction(s) refused (429)',
    '  agent result        spot-itn itn-1: drain complete in 3.1s: 2 evicted',
    '  checks              9/9 passed',
    '  wall time           9.9 s',
    'Rehearsal passed.',
    ''
  ].join('\n'))
})

t.test('a failed run says what failed; missing facts read n/a', async t => {
  const facts = goodFacts()
  facts.mode = 'kubeconfig'
  delete facts.withWebhook.nodeSelector
  delete facts.drainedAt
  delete facts.agentResult
  delete facts.moves[0]!.evictedMs
  delete facts.moves[1]!.replacement
  delete facts.moves[0]!.readyMs
  const text = formatReport(buildReport(facts))
  t.match(text, /^Report: spot-itn on spot-a \(your cluster\)\n {2}webhook effect {6}nodeSelector not added: handler pods 2 on Spot/)
  t.match(text, /time to drained {5}n\/a \(deadline 120000 ms: MISSED\)/)
  t.match(text, /labelled\/web-1 +evicted at \? -> spot-b \(not Ready\)\n/)
  t.match(text, /labelled\/web-2 +evicted at \+2300 ms not replaced \[held by PodDisruptionBudget\]\n/)
  t.match(text, /agent result {8}none\n {2}checks {14}6\/9 passed\n/)
  t.match(text, /Rehearsal FAILED:\n {2}- webhook pinned the handler: nodeSelector as admitted in labelled: null\n {2}- replacements Ready/)
})

t.test('a run stopped by an error reports only the error', async t => {
  const r = errorReport('asg', 'no node is labelled lifecycle=Ec2Spot', 1234)
  t.match(r, { ok: false, scenario: 'asg', mode: 'unknown', node: null, detectionMs: null, deadlineMet: false, podsMoved: 0, failures: ['no node is labelled lifecycle=Ec2Spot'] })
  t.equal(formatReport(r), 'Report: asg\n  wall time           1.2 s\nRehearsal FAILED:\n  - no node is labelled lifecycle=Ec2Spot\n')
})
