import t from 'tap'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { deployment, readyPods, startWorld, NODE, type World } from './world.ts'
import { eventually } from './helpers.ts'
import { LB_EXCLUSION_LABEL, readState, REHEARSE_ANNOTATION } from '../../agent/node-state.ts'
import type { OutcomeReport } from '../../agent/agent.ts'
import { metricValue } from '../helpers/metrics.ts'

const taintOf = (w: World, kind: string): { value: string, effect: string } | undefined =>
  (w.node().spec?.taints ?? []).find((x: { key: string }) => x.key === `spot-handler.io/${kind}`)

async function withPods (w: World, n = 2): Promise<void> {
  await w.kube.create(deployment('web', n))
  await w.kube.waitFor(() => readyPods(w.podsOn(NODE)).length === n || undefined, 5000, 'web pods ready')
}

t.test('a rebalance recommendation taints and cordons only, and is undone when no interruption follows', async t => {
  const w = await startWorld()
  t.teardown(() => w.close())
  await withPods(w)
  const agent = await w.start({ ENABLE_REBALANCE_MONITORING: 'true', REBALANCE_UNCORDON_AFTER: '400ms' })
  const undone = new Promise(resolve => agent.activity.once('undo', resolve))
  w.imds.postRebalanceRecommendation()
  await w.kube.waitFor(() => taintOf(w, 'rebalance-recommendation'), 5000, 'rebalance taint')
  t.equal(w.node().spec?.unschedulable, true)
  await w.kube.waitFor(() => w.receiver.received.length > 0 || undefined, 5000, 'notification')
  t.match(JSON.parse(w.receiver.received[0]!.body).text, /REBALANCE_RECOMMENDATION on node .*Pods: none\. Result: cordoned \(no drain for this kind/)
  t.equal(w.podsOn(NODE).length, 2, 'no pod was evicted')
  t.equal(w.kube.requests.filter(r => r.path.endsWith('/eviction')).length, 0)
  t.match(await undone, { kind: 'rebalance-recommendation', why: /no interruption followed within 0.4s/ })
  const node = w.node()
  t.notOk(node.spec?.unschedulable, 'uncordoned again')
  t.equal(taintOf(w, 'rebalance-recommendation'), undefined)
  t.equal(node.metadata.labels?.[LB_EXCLUSION_LABEL], undefined, 'our label removed')
  t.ok(w.kube.list('Event', { namespace: 'default' }).some(e => e.reason === 'Cordon'), 'NTH\'s Cordon Event for a cordon without a drain')
  t.ok(w.kube.list('Event', { namespace: 'default' }).some(e => e.reason === 'Uncordon'))
  t.equal(await metricValue(agent.metrics.nthActions, { node_action: 'cordon', node_status: 'success' }), 1)
  t.equal(await metricValue(agent.metrics.nthActions, { node_action: 'uncordon', node_status: 'success' }), 1)
  const polls = w.imds.requests.length
  await eventually(() => w.imds.requests.length > polls + 8, 5000, 'more polls while the recommendation stays posted')
  t.notOk(w.node().spec?.unschedulable, 'the same recommendation does not cordon again')
})

t.test('with rebalance draining on, a rebalance recommendation drains within NODE_TERMINATION_GRACE_PERIOD', async t => {
  const w = await startWorld()
  t.teardown(() => w.close())
  await withPods(w)
  await w.kube.addNode({ name: 'on-demand-1', lifecycle: 'on-demand' })
  await w.start({ ENABLE_REBALANCE_DRAINING: 'true' })
  w.imds.postRebalanceRecommendation()
  await w.kube.waitFor(() => w.receiver.received.length > 0 || undefined, 10_000, 'notification')
  t.same(w.podsOn(NODE), [])
  t.match(readState(w.node() as never).events[0]?.result, /^drain complete/)
})

t.test('a scheduled reboot drains the node; its cancellation uncordons it and removes our taint', async t => {
  const w = await startWorld()
  t.teardown(() => w.close())
  await withPods(w)
  await w.kube.addNode({ name: 'on-demand-1', lifecycle: 'on-demand' })
  const event = { code: 'system-reboot', state: 'active' as const, eventId: 'instance-event-0d59937288b749b32', notBefore: new Date(Date.now() + 3_600_000), description: 'scheduled reboot' }
  w.imds.setScheduledEvents([{ ...event, code: 'system-maintenance', eventId: 'instance-event-other' }])
  const agent = await w.start({ SCHEDULED_EVENT_CODES: 'instance-stop,instance-retirement,instance-reboot,system-reboot' })
  const polls = w.imds.requests.length
  await eventually(() => w.imds.requests.length > polls + 4, 5000, 'a few polls')
  t.equal(taintOf(w, 'scheduled-maintenance'), undefined, 'a code left out of SCHEDULED_EVENT_CODES is ignored')
  w.imds.setScheduledEvents([event])
  await w.kube.waitFor(() => w.receiver.received.length > 0 || undefined, 10_000, 'notification')
  t.same(taintOf(w, 'scheduled-maintenance'), { key: 'spot-handler.io/scheduled-maintenance', value: event.eventId, effect: 'NoSchedule' })
  t.same(w.podsOn(NODE), [])
  const undone = new Promise(resolve => agent.activity.once('undo', resolve))
  w.imds.setScheduledEvents([{ ...event, state: 'canceled' }])
  t.match(await undone, { eventId: event.eventId, why: 'canceled' })
  t.notOk(w.node().spec?.unschedulable)
  t.equal(taintOf(w, 'scheduled-maintenance'), undefined)
  t.ok(readState(w.node() as never).events[0]?.undone)
})

t.test('after the reboot a restarted agent uncordons the node it cordoned, and does not act on the same event again', async t => {
  const w = await startWorld()
  t.teardown(() => w.close())
  const dir = await mkdtemp(join(tmpdir(), 'agent-uptime-'))
  const uptime = join(dir, 'uptime')
  await writeFile(uptime, '86400.00 170000.00\n')
  const event = { code: 'instance-reboot', state: 'active' as const, eventId: 'instance-event-1234', notBefore: new Date(Date.now() + 600_000), description: 'reboot' }
  w.imds.setScheduledEvents([event])
  const first = await w.start({ UPTIME_FROM_FILE: uptime })
  await w.kube.waitFor(() => w.receiver.received.length > 0 || undefined, 10_000, 'notification')
  t.equal(w.node().spec?.unschedulable, true)
  await first.stop()
  // Booted half-way between the event's start and now: the reboot came after the event.
  const since = Date.parse(readState(w.node() as never).events[0]!.since)
  await writeFile(uptime, `${((Date.now() - since) / 2000).toFixed(3)} 0.90\n`)
  const second = await w.start({ UPTIME_FROM_FILE: uptime })
  const undone = await w.first(second, 'undo')
  t.match(undone, { eventId: event.eventId, why: 'instance rebooted since' })
  t.notOk(w.node().spec?.unschedulable, 'uncordoned after the reboot')
  t.equal(taintOf(w, 'scheduled-maintenance'), undefined)
  const polls = w.imds.requests.length
  await eventually(() => w.imds.requests.length > polls + 6, 5000, 'more polls with the event still listed')
  t.notOk(w.node().spec?.unschedulable, 'the event still listed as active is not acted on again')
  t.equal(w.receiver.received.length, 1)
})

t.test('an unreadable uptime file is reported once and reboots are simply not noticed', async t => {
  const w = await startWorld()
  t.teardown(() => w.close())
  await w.start({ UPTIME_FROM_FILE: '/nonexistent/uptime' })
  const polls = w.imds.requests.length
  await eventually(() => w.imds.requests.length > polls + 6, 5000, 'more polls')
  t.equal(w.logs.lines().filter(l => /cannot read the uptime/.test(String(l.msg))).length, 1)
})

t.test('an ASG target lifecycle state of Terminated drains the node; InService does nothing', async t => {
  const w = await startWorld()
  t.teardown(() => w.close())
  await withPods(w)
  await w.kube.addNode({ name: 'on-demand-1', lifecycle: 'on-demand' })
  w.imds.setTargetLifecycleState('InService')
  await w.start({ ENABLE_ASG_LIFECYCLE_DRAINING: 'true' })
  const polls = w.imds.requests.length
  await eventually(() => w.imds.requests.length > polls + 4, 5000, 'a few polls')
  t.notOk(w.node().spec?.unschedulable)
  w.imds.setTargetLifecycleState('Terminated')
  await w.kube.waitFor(() => w.receiver.received.length > 0 || undefined, 10_000, 'notification')
  t.match(taintOf(w, 'asg-lifecycle-termination')?.value, /^asg-[0-9a-f]{16}$/)
  t.same(w.podsOn(NODE), [])
  t.ok(w.kube.list('Event', { namespace: 'default' }).some(e => e.reason === 'ASGLifecycle'))
})

t.test('the rehearsal annotation drains as if a spot notice came now, then puts the node back and removes the annotation', async t => {
  const w = await startWorld()
  t.teardown(() => w.close())
  await withPods(w)
  await w.kube.addNode({ name: 'on-demand-1', lifecycle: 'on-demand' })
  const agent = await w.start({ ENABLE_REHEARSAL: 'true' })
  const outcome = new Promise<OutcomeReport>(resolve => agent.activity.on('outcome', (e: OutcomeReport) => { if (e.notice.rehearsal === true) resolve(e) }))
  const node = w.node()
  node.metadata.annotations = { ...node.metadata.annotations, [REHEARSE_ANNOTATION]: 'spot-itn' }
  const before = Date.now()
  await w.kube.update(node)
  const done = await outcome
  t.equal(done.outcome, 'done')
  t.ok(done.notice.deadline! >= before + 119_000 && done.notice.deadline! <= Date.now() + 120_000, 'deadline two minutes ahead')
  t.same(w.podsOn(NODE), [], 'workloads moved')
  const after = w.node()
  t.equal(after.metadata.annotations?.[REHEARSE_ANNOTATION], undefined, 'annotation removed')
  t.notOk(after.spec?.unschedulable, 'node back in service')
  t.equal(taintOf(w, 'spot-itn'), undefined)
  t.match(JSON.parse(w.receiver.received[0]!.body).text, /SPOT_ITN on node spot-node-1 .*event rehearsal-[0-9a-f]{16}/)
  t.ok(w.kube.list('Event', { namespace: 'default' }).some(e => e.reason === 'SpotInterruption' && /^Rehearsal: /.test(e.message)))
})

t.test('rehearsals are ignored by default (off) and when naming an unknown kind', async t => {
  const w = await startWorld()
  t.teardown(() => w.close())
  await w.start()
  const node = w.node()
  node.metadata.annotations = { ...node.metadata.annotations, [REHEARSE_ANNOTATION]: 'spot-itn' }
  await w.kube.update(node)
  const polls = w.imds.requests.length
  await eventually(() => w.imds.requests.length > polls + 6, 5000, 'more polls')
  t.notOk(w.node().spec?.unschedulable)
  t.equal(w.node().metadata.annotations?.[REHEARSE_ANNOTATION], 'spot-itn', 'left for the user to remove')

  const w2 = await startWorld()
  t.teardown(() => w2.close())
  await w2.start({ ENABLE_REHEARSAL: 'true' })
  const n2 = w2.node()
  n2.metadata.annotations = { ...n2.metadata.annotations, [REHEARSE_ANNOTATION]: 'meteor-strike' }
  await w2.kube.update(n2)
  await eventually(() => w2.logs.lines().some(l => /unknown notice kind/.test(String(l.msg))), 5000, 'warning')
  t.notOk(w2.node().spec?.unschedulable)
})

t.test('with CORDON_ONLY and the optional actions off, a spot notice only cordons; an unreachable webhook is reported, not fatal', async t => {
  const w = await startWorld()
  t.teardown(() => w.close())
  await withPods(w)
  const agent = await w.start({ CORDON_ONLY: 'true', TAINT_NODE: 'false', EXCLUDE_FROM_LOAD_BALANCERS: 'false', EMIT_KUBERNETES_EVENTS: 'false', WEBHOOK_URL: 'http://127.0.0.1:9/unreachable' })
  const outcome = new Promise<OutcomeReport>(resolve => agent.activity.once('outcome', resolve))
  w.imds.postSpotInterruption()
  t.equal((await outcome).outcome, 'done')
  const node = w.node()
  t.equal(node.spec?.unschedulable, true)
  t.equal(taintOf(w, 'spot-itn'), undefined)
  t.equal(node.metadata.labels?.[LB_EXCLUSION_LABEL], undefined)
  t.equal(w.podsOn(NODE).length, 2, 'no drain')
  t.same(w.kube.list('Event', { namespace: 'default' }), [])
  t.match(readState(node as never).events[0]?.result, 'CORDON_ONLY')
  t.equal(await metricValue(agent.metrics.actions, { action: 'notify', result: 'error' }), 1)
  t.ok(w.logs.lines().some(l => l.msg === 'notification could not be delivered'))
})

t.test('with IMDS unreachable the agent still starts, stays healthy, reports not ready and keeps polling', async t => {
  const w = await startWorld()
  t.teardown(() => w.close())
  const agent = await w.start({ INSTANCE_METADATA_URL: 'http://127.0.0.1:9' })
  t.equal(agent.metadata.instanceId, 'unknown')
  const ready = await fetch(`${agent.opsUrls.probes}/readyz`)
  t.equal(ready.status, 503)
  t.match(await ready.text(), 'no successful IMDS poll yet')
  t.equal((await fetch(`${agent.opsUrls.probes}/healthz`)).status, 200)
  await eventually(async () => await metricValue(agent.metrics.imdsErrors, { path: '/latest/meta-data/spot/instance-action', reason: 'transport' }) >= 4, 5000, 'repeated failed polls')
  t.notOk(w.node().spec?.unschedulable)
})
