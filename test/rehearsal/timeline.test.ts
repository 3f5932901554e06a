import t from 'tap'
import type { V1Node, V1Pod, V1PodDisruptionBudget } from '@kubernetes/client-node'
import { budgetChange, elapsed, formatEntry, formatProgress, isDaemonPod, nodeChanges, nodeEvent, podChange } from './timeline.ts'
import { createNarrator } from './output.ts'
import { instanceFacts } from './scenarios.ts'

const node = (spec: V1Node['spec'] = {}, labels: Record<string, string> = {}): V1Node => ({ metadata: { name: 'n1', labels }, spec })
const TAINT = { key: 'spot-handler.io/spot-itn', value: 'itn-1', effect: 'NoSchedule' }
const LB = { 'node.kubernetes.io/exclude-from-external-load-balancers': 'true' }

t.test('node changes name our taint, the load-balancer label and the cordon, once each', async t => {
  const cases: Array<[string, V1Node | undefined, V1Node, string[]]> = [
    ['nothing changed', node(), node(), []],
    ['first sight of a plain node', undefined, node(), []],
    ['our taint added', node(), node({ taints: [TAINT] }), ['tainted spot-handler.io/spot-itn=itn-1:NoSchedule']],
    ['a taint that is not ours', node(), node({ taints: [{ key: 'other', effect: 'NoSchedule' }] }), []],
    ['our taint already there', node({ taints: [TAINT] }), node({ taints: [TAINT] }), []],
    ['label added', node(), node({}, LB), ['labelled node.kubernetes.io/exclude-from-external-load-balancers=true: out of load balancers']],
    ['cordoned', node(), node({ unschedulable: true }), ['cordoned: no new pods']],
    ['uncordoned', node({ unschedulable: true }), node(), ['uncordoned']],
    ['all at once, in order', node(), node({ taints: [TAINT], unschedulable: true }, LB), ['tainted spot-handler.io/spot-itn=itn-1:NoSchedule', 'labelled node.kubernetes.io/exclude-from-external-load-balancers=true: out of load balancers', 'cordoned: no new pods']]
  ]
  for (const [what, before, after, expected] of cases) t.same(nodeChanges(before, after), expected, what)
})

const pod = (nodeName: string | undefined, extra: { deleting?: boolean, ready?: boolean, daemon?: boolean } = {}): V1Pod => ({
  metadata: {
    namespace: 'ns',
    name: 'p',
    ...(extra.deleting === true ? { deletionTimestamp: new Date(), deletionGracePeriodSeconds: 5 } : {}),
    ...(extra.daemon === true ? { ownerReferences: [{ apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'ds', uid: 'u', controller: true }] } : {})
  },
  spec: { containers: [], ...(nodeName === undefined ? {} : { nodeName }) },
  status: { conditions: [{ type: 'Ready', status: extra.ready === true ? 'True' : 'False' }] }
})

t.test('pod changes tell evictions and departures on the node and replacements elsewhere', async t => {
  const cases: Array<[string, string, V1Pod | undefined, V1Pod, string | undefined]> = [
    ['eviction accepted on the node', 'MODIFIED', pod('n1', { ready: true }), pod('n1', { deleting: true }), 'evicting ns/p (grace 5s)'],
    ['still terminating', 'MODIFIED', pod('n1', { deleting: true }), pod('n1', { deleting: true }), undefined],
    ['gone from the node', 'DELETED', pod('n1', { deleting: true }), pod('n1', { deleting: true }), 'ns/p gone from n1'],
    ['a DaemonSet pod is left alone', 'MODIFIED', pod('n1'), pod('n1', { deleting: true, daemon: true }), undefined],
    ['a replacement created on another node', 'ADDED', undefined, pod('n2'), 'replacement ns/p scheduled on n2'],
    ['a pending pod bound to another node', 'MODIFIED', pod(undefined), pod('n2'), 'replacement ns/p scheduled on n2'],
    ['a pod still pending', 'ADDED', undefined, pod(undefined), undefined],
    ['a replacement becoming Ready', 'MODIFIED', pod('n2'), pod('n2', { ready: true }), 'ns/p Ready on n2'],
    ['a Ready pod changing otherwise', 'MODIFIED', pod('n2', { ready: true }), pod('n2', { ready: true }), undefined],
    ['a pod going away elsewhere', 'DELETED', pod('n2'), pod('n2'), undefined],
    ['a pod on the node changing otherwise', 'MODIFIED', pod('n1'), pod('n1', { ready: true }), undefined]
  ]
  for (const [what, type, before, after, expected] of cases) t.equal(podChange(type, before, after, 'n1'), expected, what)
  t.equal(isDaemonPod(pod('n1', { daemon: true })), true)
  t.equal(isDaemonPod(pod('n1')), false)
})

t.test('node events and budget changes read as sentences', async t => {
  t.equal(nodeEvent({ metadata: {}, involvedObject: { kind: 'Node', name: 'n1' }, reason: 'SpotInterruption', message: 'terminate' }, 'n1'), 'Event SpotInterruption on n1: terminate')
  t.equal(nodeEvent({ metadata: {}, involvedObject: { kind: 'Node', name: 'n2' }, reason: 'X' }, 'n1'), undefined, 'another node')
  t.equal(nodeEvent({ metadata: {}, involvedObject: { kind: 'Pod', name: 'n1' }, reason: 'X' }, 'n1'), undefined, 'not a node')
  const pdb = (allowed: number | undefined): V1PodDisruptionBudget => ({ metadata: { namespace: 'ns', name: 'web' }, ...(allowed === undefined ? {} : { status: { disruptionsAllowed: allowed, currentHealthy: 5, desiredHealthy: 5, expectedPods: 6 } }) })
  t.equal(budgetChange(pdb(1), pdb(0)), 'PodDisruptionBudget ns/web allows 0 disruption(s) (5 healthy, 5 needed): further evictions of its pods wait until a replacement is Ready')
  t.equal(budgetChange(undefined, pdb(1)), 'PodDisruptionBudget ns/web allows 1 disruption(s) (5 healthy, 5 needed)')
  t.equal(budgetChange(pdb(1), pdb(1)), undefined, 'unchanged')
  t.equal(budgetChange(pdb(1), pdb(undefined)), undefined, 'no status yet')
})

t.test('timeline lines and the progress bar have fixed columns', async t => {
  t.equal(elapsed(1234, 0), '+  1234 ms')
  t.equal(elapsed(0, 12.4), '-    12 ms')
  t.equal(formatEntry({ at: 1500, actor: 'agent', text: 'cordoned' }, 1000, 'notice'), 'notice +   500 ms  agent     cordoned')
  const cases: Array<[Parameters<typeof formatProgress>[0], string]> = [
    [{ node: 'n1', total: 4, gone: 0, evicting: 0, elapsedMs: 0 }, '[--------------------] 0/4 pods off n1  0.0 s'],
    [{ node: 'n1', total: 4, gone: 1, evicting: 2, elapsedMs: 1250 }, '[#####---------------] 1/4 pods off n1, 2 terminating  1.3 s'],
    [{ node: 'n1', total: 4, gone: 4, evicting: 0, elapsedMs: 3000 }, '[####################] 4/4 pods off n1  3.0 s'],
    [{ node: 'n1', total: 0, gone: 0, evicting: 0, elapsedMs: 10 }, '[####################] 0/0 pods off n1  0.0 s']
  ]
  for (const [progress, line] of cases) t.equal(formatProgress(progress), line)
})

/** A narrator over a captured stream. */
function capture (isTTY: boolean): { out: string[], narrator: ReturnType<typeof createNarrator> } {
  const out: string[] = []
  return { out, narrator: createNarrator({ write: s => out.push(s), isTTY }, 1000) }
}

t.test('without a TTY progress is printed as plain lines when it changes', async t => {
  const { out, narrator } = capture(false)
  let gone = 0
  narrator.entry({ at: 1100, actor: 'rehearsal', text: 'first' })
  narrator.setOrigin(2000, 'notice')
  narrator.startProgress(() => ({ node: 'n1', total: 2, gone, evicting: 0, elapsedMs: 0 }))
  narrator.entry({ at: 2100, actor: 'agent', text: 'second' })
  gone = 2
  narrator.stopProgress()
  narrator.heading('Report')
  t.same(out, [
    'start  +   100 ms  rehearsal first\n',
    '          progress  [--------------------] 0/2 pods off n1  0.0 s\n',
    'notice +   100 ms  agent     second\n',
    '          progress  [####################] 2/2 pods off n1  0.0 s\n',
    '\nReport\n'
  ])
  t.notOk(out.join('').includes('\r'), 'no carriage returns')
})

t.test('on a TTY the progress line is redrawn in place and cleared around timeline lines', async t => {
  const { out, narrator } = capture(true)
  narrator.startProgress(() => ({ node: 'n1', total: 1, gone: 0, evicting: 1, elapsedMs: 0 }))
  narrator.entry({ at: 1000, actor: 'cluster', text: 'line' })
  await new Promise(resolve => setTimeout(resolve, 150))
  narrator.stopProgress()
  const bar = '[--------------------] 0/1 pods off n1, 1 terminating  0.0 s'
  t.same(out.slice(0, 4), [`\r\x1b[K${bar}`, '\r\x1b[K', 'start  +     0 ms  cluster   line\n', `\r\x1b[K${bar}`], 'drawn, cleared, line printed, drawn again')
  t.ok(out.length > 4, 'redrawn by the timer')
  t.equal(out.at(-1), '\r\x1b[K', 'cleared when the drain is over')
})

t.test('instance facts come from the node\'s providerID and labels', async t => {
  t.same(instanceFacts({
    metadata: { name: 'ip-1', labels: { 'node.kubernetes.io/instance-type': 'm5.large', 'topology.kubernetes.io/zone': 'us-east-1a' } },
    spec: { providerID: 'aws:///us-east-1a/i-0abc123' }
  }), { instanceLifeCycle: 'spot', instanceId: 'i-0abc123', instanceType: 'm5.large', availabilityZone: 'us-east-1a', localHostname: 'ip-1' })
  t.same(instanceFacts({ spec: { providerID: 'kind://docker/kind/kind-worker' } }), { instanceLifeCycle: 'spot' }, 'a kind node keeps the simulator\'s defaults')
})
