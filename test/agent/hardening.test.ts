/** The agent under the faults and inputs the hardening review found (issue 11). */
import t from 'tap'
import { deployment, readyPods, startWorld, NODE, type World } from './world.ts'
import { eventually } from './helpers.ts'
import { readState } from '../../agent/node-state.ts'

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
  t.ok(w.kube.requests.filter(r => r.verb === 'patch' && r.resource === 'nodes').length <= 4, 'no patch per poll')
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
