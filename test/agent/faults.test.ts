import t from 'tap'
import { budget, deployment, readyPods, startWorld, NODE, type World } from './world.ts'
import { eventually } from './helpers.ts'
import { readState } from '../../agent/node-state.ts'
import type { OutcomeReport } from '../../agent/agent.ts'
import { metricValue } from '../helpers/metrics.ts'

const SPOT_PATH = '/latest/meta-data/spot/instance-action'
const spotTaint = (w: World): { value: string } | undefined => (w.node().spec?.taints ?? []).find((x: { key: string }) => x.key === 'spot-handler.io/spot-itn')

async function withPods (w: World, n = 2): Promise<void> {
  await w.kube.create(deployment('web', n))
  await w.kube.waitFor(() => readyPods(w.podsOn(NODE)).length === n || undefined, 5000, 'web pods ready')
}

t.test('IMDSv2-only: a token that expires mid-run is replaced and the notice is still acted on', async t => {
  const w = await startWorld({ imds: { imdsv2Only: true } })
  t.teardown(() => w.close())
  await withPods(w)
  await w.start()
  await eventually(() => w.imds.requests.filter(r => r.path === SPOT_PATH && r.status === 404).length >= 2, 5000, 'polls with a token')
  w.imds.expireTokens()
  w.imds.postSpotInterruption()
  await w.kube.waitFor(() => w.receiver.received.length > 0 || undefined, 10_000, 'notification')
  t.same(w.podsOn(NODE), [])
  t.ok(w.imds.requests.some(r => r.status === 401 && r.token === 'invalid'), 'the expired token was refused')
  t.ok(w.imds.requests.filter(r => r.method === 'PUT').length >= 2, 'a new token was fetched')
  t.ok(w.imds.requests.filter(r => r.method === 'GET').every(r => r.token !== 'none'), 'never fell back to IMDSv1')
})

t.test('IMDS timeouts, 5xx, dropped connections and garbage cause no drain and no crash; a later good notice drains', async t => {
  const w = await startWorld()
  t.teardown(() => w.close())
  await withPods(w)
  const agent = await w.start()
  const unparseable: unknown[] = []
  agent.activity.on('unparseable', e => unparseable.push(e))
  w.imds.injectFault({ path: SPOT_PATH, kind: 'status', status: 500, count: 3 })
  w.imds.injectFault({ path: SPOT_PATH, kind: 'latency', ms: 800, count: 2 })
  w.imds.injectFault({ path: SPOT_PATH, kind: 'drop', count: 2 })
  w.imds.injectFault({ path: SPOT_PATH, kind: 'truncate', count: 2 })
  await eventually(async () => await metricValue(agent.metrics.imdsErrors, { path: SPOT_PATH, reason: 'timeout' }) >= 1, 8000, 'a timeout')
  w.imds.postSpotInterruption()
  w.imds.injectFault({ path: SPOT_PATH, kind: 'garbage' })
  await eventually(() => unparseable.length >= 3, 8000, 'garbage bodies reported')
  t.equal(spotTaint(w), undefined, 'no taint from faults or garbage')
  t.notOk(w.node().spec?.unschedulable, 'not cordoned')
  t.equal(w.kube.requests.filter(r => r.path.endsWith('/eviction')).length, 0, 'nothing evicted')
  t.ok(await metricValue(agent.metrics.imdsErrors, { path: SPOT_PATH, reason: 'http-500' }) >= 1)
  t.ok(await metricValue(agent.metrics.imdsErrors, { path: SPOT_PATH, reason: 'transport' }) >= 1)
  t.ok(await metricValue(agent.metrics.unparseableNotices, { kind: 'spot-itn' }) >= 3)
  const garbageEvents = w.kube.list('Event', { namespace: 'default' }).filter(e => e.reason === 'UnparseableNotice')
  t.equal(garbageEvents.length, 1, 'one Event for the same garbage, not one per poll')
  t.match(garbageEvents[0]?.message, /SpotInterruption: unparseable spot-itn body/)
  t.equal((await fetch(`${agent.opsUrls.probes}/healthz`)).status, 200, 'still healthy')
  w.imds.clearFaults()
  await w.kube.waitFor(() => w.receiver.received.length > 0 || undefined, 10_000, 'notification after the good body')
  t.same(w.podsOn(NODE), [])
})

t.test('Kubernetes API faults are retried on the next poll without repeating the announcement', async t => {
  const w = await startWorld()
  t.teardown(() => w.close())
  await withPods(w)
  const patches = w.kube.injectFault({ verb: 'patch', path: `/api/v1/nodes/${NODE}`, status: 503, count: 3 })
  const agent = await w.start()
  const errors: OutcomeReport[] = []
  agent.activity.on('outcome', (e: OutcomeReport) => { if (e.outcome === 'error') errors.push(e) })
  w.imds.postSpotInterruption()
  await w.kube.waitFor(() => w.receiver.received.length > 0 || undefined, 10_000, 'notification')
  t.equal(patches.hits, 3)
  t.ok(errors.length >= 1, 'the failed attempts were reported')
  t.match(errors[0]?.error?.message, /patching node spot-node-1 .*failed \(HTTP 503\)/)
  t.equal(w.kube.list('Event', { namespace: 'default' }).filter(e => e.reason === 'SpotInterruption').length, 1)
  t.equal(await metricValue(agent.metrics.notices, { kind: 'spot-itn' }), 1)
  t.same(w.podsOn(NODE), [])
})

t.test('a conflicting node update is retried on the fresh node', async t => {
  const w = await startWorld()
  t.teardown(() => w.close())
  const conflict = w.kube.injectFault({ verb: 'patch', path: `/api/v1/nodes/${NODE}`, status: 409, count: 1 })
  await w.start()
  w.imds.postSpotInterruption()
  await w.kube.waitFor(() => spotTaint(w), 5000, 'taint')
  t.equal(conflict.hits, 1)
  t.equal(w.kube.list('Event', { namespace: 'default' }).filter(e => e.reason === 'SpotInterruption').length, 1)
})

t.test('a dry run logs every step and changes nothing', async t => {
  const w = await startWorld()
  t.teardown(() => w.close())
  await withPods(w)
  const before = JSON.stringify(w.node())
  const agent = await w.start({ DRY_RUN: 'true' })
  const outcome = new Promise<OutcomeReport>(resolve => agent.activity.once('outcome', resolve))
  w.kube.clearRequests()
  w.imds.postSpotInterruption()
  t.equal((await outcome).outcome, 'dry-run')
  const polls = w.imds.requests.length
  await eventually(() => w.imds.requests.length > polls + 6, 5000, 'more polls')
  t.equal(JSON.stringify(w.node()), before, 'the node is untouched')
  t.equal(w.podsOn(NODE).length, 2)
  t.same(w.kube.requests.filter(r => r.method !== 'GET'), [], 'no writes at all')
  t.equal(w.receiver.received.length, 0, 'no notification')
  const lines = w.logs.lines().filter(l => l.dryRun === true && l.step !== undefined)
  t.ok(lines.every(l => l.eventId === lines[0]?.eventId && l.node === NODE))
  t.same(lines.map(l => l.step), ['record Event SpotInterruption on the node', `taint spot-handler.io/spot-itn=${String(lines[0]?.eventId)}:NoSchedule`, 'label node.kubernetes.io/exclude-from-external-load-balancers=true unless present', 'cordon the node', 'drain the node', 'send the notification'])
})

t.test('a restart in the middle of a drain resumes the same event and notifies once', async t => {
  const w = await startWorld()
  t.teardown(() => w.close())
  await withPods(w)
  await w.kube.addNode({ name: 'on-demand-1', lifecycle: 'on-demand' })
  await w.kube.create(budget('web-pdb', 'web', 2))
  const first = await w.start()
  const handedOver = new Promise<OutcomeReport>(resolve => first.activity.once('outcome', resolve))
  w.imds.postSpotInterruption()
  await eventually(() => w.kube.requests.some(r => r.resource === 'poddisruptionbudgets' && r.verb === 'watch'), 5000, 'the drain waiting on the budget')
  await first.stop()
  t.equal((await handedOver).outcome, 'handed-over')
  const eventId = spotTaint(w)?.value
  t.ok(eventId)
  t.equal(readState(w.node() as never).events[0]?.drained, undefined, 'the drain was not marked done')
  t.equal(w.receiver.received.length, 0)
  w.kube.remove('PodDisruptionBudget', 'default', 'web-pdb')
  const second = await w.start()
  t.equal((await w.first(second, 'outcome')).outcome, 'done')
  t.equal(spotTaint(w)?.value, eventId, 'the same event')
  t.ok(w.logs.lines().some(l => l.msg === 'resuming event recorded on the node' && l.eventId === eventId))
  t.same(w.podsOn(NODE), [])
  t.equal(w.receiver.received.length, 1)
  t.equal(w.kube.list('Event', { namespace: 'default' }).filter(e => e.reason === 'SpotInterruption').length, 1, 'announced once')
  await second.stop()
  const third = await w.start()
  t.equal((await w.first(third, 'outcome')).outcome, 'already-done')
  t.equal(w.receiver.received.length, 1, 'no second notification after another restart')
})
