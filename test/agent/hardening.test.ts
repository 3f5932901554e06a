/** The agent under the faults and inputs the hardening review found (issue 11). */
import t from 'tap'
import { deployment, readyPods, startWorld, NODE, type World } from './world.ts'
import { eventually } from './helpers.ts'
import { readState } from '../../agent/node-state.ts'
import { metricValue } from '../helpers/metrics.ts'

async function withPods (w: World, n: number): Promise<void> {
  await w.kube.create(deployment('web', n))
  await w.kube.waitFor(() => readyPods(w.podsOn(NODE)).length === n || undefined, 5000, 'web pods ready')
  await w.kube.addNode({ name: 'on-demand-1', lifecycle: 'on-demand' })
}

t.test('a metadata mock whose notice time moves on every poll is one interruption: one Event, one taint, one drain, one notification', async t => {
  const w = await startWorld()
  t.teardown(() => w.close())
  await withPods(w, 3)
  const agent = await w.start()
  w.imds.postSpotInterruption({ moving: true })
  t.equal((await w.first(agent, 'outcome')).outcome, 'done')
  // The notice's time has a resolution of a second: poll across a few of them.
  const spotPolls = (): number => w.imds.requests.filter(r => r.path === '/latest/meta-data/spot/instance-action').length
  const polls = spotPolls()
  await eventually(() => spotPolls() > polls + 50, 15_000, 'fifty more polls, over more than two seconds')
  const events = w.kube.list('Event', { namespace: 'default' }).filter(e => e.reason === 'SpotInterruption')
  t.equal(events.length, 1, 'one Event')
  t.equal(w.receiver.received.length, 1, 'one notification')
  t.equal(w.kube.requests.filter(r => r.subresource === 'eviction').length, 3, 'one drain pass')
  const state = readState(w.node() as never)
  t.equal(state.events.length, 1, 'one event on the node')
  const taints = (w.node().spec?.taints ?? []).filter((x: { key: string }) => x.key === 'spot-handler.io/spot-itn')
  t.same(taints.map((x: { value: string }) => x.value), [state.events[0]!.id], 'one taint, never rewritten')
  t.equal(w.kube.requests.filter(r => r.verb === 'patch' && r.resource === 'nodes').length, 5, 'five patches (taint+cordon, evictions so far, result, notification intent, sent), none per poll')
})

t.test('an IMDS outage at start-up blocks nothing: polling starts at once and the metadata is filled in when IMDS answers', async t => {
  const w = await startWorld()
  t.teardown(() => w.close())
  w.imds.injectFault({ path: /^\/latest\/(dynamic|meta-data\/(instance-id|instance-type|placement|local|instance-life))/, kind: 'status', status: 503, count: 40 })
  const started = Date.now()
  const agent = await w.start({}, { metadataRetryMs: 50 })
  t.ok(Date.now() - started < 2000, 'the agent started without waiting for the metadata')
  t.equal(agent.metadata.instanceId, 'unknown')
  await eventually(() => w.imds.requests.some(r => r.path === '/latest/meta-data/spot/instance-action'), 2000, 'a spot poll right away')
  await eventually(() => agent.metadata.instanceId !== 'unknown' || undefined, 10_000, 'the instance id once IMDS answers')
  t.ok(w.imds.requests.filter(r => r.status === 503).length >= 20, 'the outage was seen')
  t.equal(agent.metadata.instanceId, 'i-0123456789abcdef0')
  t.equal(agent.metadata.availabilityZone, 'eu-west-1a')
  t.ok(w.logs.lines().some(l => l.msg === 'instance metadata read'))
  w.imds.postSpotInterruption()
  t.equal((await w.first(agent, 'outcome')).outcome, 'done')
  t.match(w.kube.list('Event', { namespace: 'default' }).find(e => e.reason === 'SpotInterruption')?.message, /instance i-0123456789abcdef0 \(m5.large, eu-west-1a\)/, 'the Event names the instance')
})

t.test('IMDS slower than METADATA_TIMEOUT: readiness names the monitor within a few intervals; a longer timeout sees the notice', async t => {
  const w = await startWorld()
  t.teardown(() => w.close())
  await withPods(w, 2)
  w.imds.injectFault({ path: '/latest/meta-data/spot/instance-action', kind: 'latency', ms: 800 })
  w.imds.postSpotInterruption()
  const slow = await w.start({ METADATA_TIMEOUT: '300ms', METADATA_TRIES: '1' })
  const notReady = await eventually(async () => {
    const r = await fetch(`${slow.opsUrls.probes}/readyz`)
    return r.status === 503 ? await r.text() : undefined
  }, 5000, 'not ready')
  t.match(notReady, /no successful IMDS poll (yet|for \d+s) \(spot-itn/)
  t.equal(w.node().spec?.unschedulable, undefined, 'the notice was not seen')
  await slow.stop()
  const patient = await w.start({ METADATA_TIMEOUT: '2s' })
  t.equal((await w.first(patient, 'outcome')).outcome, 'done', 'with a longer timeout the notice is seen and handled')
  t.equal((await fetch(`${patient.opsUrls.probes}/readyz`)).status, 200)
})

t.test('the probes and metrics servers bind to LISTEN_ADDRESS; a port in use stops start-up naming the setting', async t => {
  const w = await startWorld()
  t.teardown(() => w.close())
  const agent = await w.start()
  t.match(agent.opsUrls.probes, /^http:\/\/127\.0\.0\.1:\d+$/)
  const taken = Number(new URL(agent.opsUrls.metrics!).port)
  await t.rejects(w.start({ PROMETHEUS_SERVER_PORT: String(taken), PROBES_SERVER_PORT: '0' }), { name: 'ConfigError', message: `cannot listen on 127.0.0.1:${taken} (--prometheus-server-port (PROMETHEUS_SERVER_PORT)): the port is in use by another program (on the host network, another agent or the AWS Node Termination Handler?) (EADDRINUSE)` })
})

t.test('alternating unparseable bodies make one Warning Event, not one per poll', async t => {
  const w = await startWorld()
  t.teardown(() => w.close())
  const agent = await w.start()
  const seen: unknown[] = []
  agent.activity.on('unparseable', e => seen.push(e))
  w.imds.postSpotInterruption()
  for (let i = 0; i < 5; i++) {
    w.imds.injectFault({ path: '/latest/meta-data/spot/instance-action', kind: 'garbage', count: 1 })
    w.imds.injectFault({ path: '/latest/meta-data/spot/instance-action', kind: 'truncate', count: 1 })
  }
  w.imds.injectFault({ path: '/latest/meta-data/spot/instance-action', kind: 'garbage' })
  await eventually(() => seen.length >= 12, 10_000, 'a dozen unparseable bodies, two kinds of garbage taking turns')
  const events = w.kube.list('Event', { namespace: 'default' }).filter(e => e.reason === 'MonitorError')
  t.equal(events.length, 1, 'one Event in ten minutes')
  t.equal(w.node().spec?.unschedulable, undefined, 'and no drain')
})

t.test('a Kubernetes Event that fails with a server error is tried again; one the server refuses is not', async t => {
  const w = await startWorld()
  t.teardown(() => w.close())
  const failing = w.kube.injectFault({ verb: 'create', path: '/events$', status: 503, count: 2 })
  const agent = await w.start()
  w.imds.postSpotInterruption()
  t.equal((await w.first(agent, 'outcome')).outcome, 'done')
  t.equal(failing.hits, 2)
  t.equal(w.kube.list('Event', { namespace: 'default' }).filter(e => e.reason === 'SpotInterruption').length, 1, 'recorded on the third try')
  await agent.stop()
  w.kube.injectFault({ verb: 'create', path: '/events$', status: 403, message: 'events is forbidden' })
  w.kube.clearRequests()
  w.imds.clearSpotInterruption()
  w.imds.postSpotInterruption({ action: 'stop' })
  const second = await w.start()
  t.equal((await w.first(second, 'outcome')).outcome, 'done', 'a refused Event does not stop the drain')
  const refused = w.kube.requests.filter(r => r.resource === 'events' && r.verb === 'create' && r.status === 403)
  t.equal(refused.length, 2, 'the two Events of the event (the notice, the result), each tried once')
})

t.test('the notification carries the event id as Idempotency-Key and WEBHOOK_HEADERS replace ours whatever their case', async t => {
  const w = await startWorld()
  t.teardown(() => w.close())
  const agent = await w.start({ WEBHOOK_HEADERS: '{"Content-type":"application/json","X-Token":"abc"}' })
  w.imds.postSpotInterruption()
  await w.first(agent, 'outcome')
  const [sent] = w.receiver.received
  t.equal(sent?.headers['idempotency-key'], readState(w.node() as never).events[0]!.id)
  t.equal(sent?.headers['content-type'], 'application/json', 'one content-type, not two joined')
  t.equal(sent?.headers['x-token'], 'abc')
})

t.test('a notification whose sending was under way when the agent died is not sent again by the next agent', async t => {
  const w = await startWorld()
  t.teardown(() => w.close())
  const first = await w.start()
  w.imds.postSpotInterruption()
  await w.first(first, 'outcome')
  await first.stop()
  // As if the agent had died after recording the intent, before the receiver answered.
  const node = w.node()
  const state = readState(node as never)
  delete state.events[0]!.notified
  node.metadata.annotations = { ...node.metadata.annotations, 'spot-handler.io/state': JSON.stringify(state) }
  await w.kube.update(node)
  const received = w.receiver.received.length
  const second = await w.start()
  t.equal((await w.first(second, 'outcome')).outcome, 'already-done')
  t.equal(w.receiver.received.length, received, 'not sent a second time')
})

t.test('a restart while evicted pods are still terminating keeps the first run\'s evictions in the result, the Event and the notification', async t => {
  const w = await startWorld({ kube: { kubeletDelayMs: 2500 } })
  t.teardown(() => w.close())
  await withPods(w, 2)
  const first = await w.start()
  w.imds.postSpotInterruption()
  const checkpointed = await w.kube.waitFor(() => readState(w.node() as never).events[0]?.drain?.evicted.length === 2 || undefined, 10_000, 'the evictions recorded')
  t.ok(checkpointed)
  await first.stop()
  t.equal(readState(w.node() as never).events[0]?.drained, undefined, 'handed over before the pods were gone')
  const second = await w.start()
  t.equal((await w.first(second, 'outcome')).outcome, 'done')
  const record = readState(w.node() as never).events[0]!
  t.match(record.result, /^drain complete .*: 2 evicted/, 'the recorded result counts the first run\'s evictions')
  t.equal(record.drain?.evicted.length, 2)
  t.match(w.kube.list('Event', { namespace: 'default' }).find(e => e.reason === 'CordonAndDrain')?.message, /2 evicted/)
  const text = JSON.parse(w.receiver.received[0]!.body).text as string
  t.match(text, /Pods: web-[^,]+, web-/, 'the notification names both pods')
})

t.test('a template that fails on an event\'s data sends nothing, says why, and the event is not acted on again', async t => {
  const w = await startWorld()
  t.teardown(() => w.close())
  await withPods(w, 2)
  // Runs on empty data at start-up (no pods: the index is never reached), fails on the drain's two pods.
  const agent = await w.start({ WEBHOOK_TEMPLATE: '{"text":"{{ if .Pods }}{{ index .Pods 5 }}{{ end }}"}' })
  w.imds.postSpotInterruption()
  t.equal((await w.first(agent, 'outcome')).outcome, 'done')
  t.same(w.receiver.received, [], 'nothing posted')
  const failure = w.logs.lines().find(l => l.msg === 'the notification template failed on this event; nothing sent')
  t.match(failure?.err, { message: /^line 1, column 27: error calling index: index out of range: 5$/ })
  t.equal(await metricValue(agent.metrics.actions, { action: 'notify', result: 'error' }), 1)
  t.ok(readState(w.node() as never).events[0]?.notifying, 'the attempt is recorded, so a restart does not try again')
})
