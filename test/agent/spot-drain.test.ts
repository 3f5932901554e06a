import t, { type Test } from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { budget, deployment, readyPods, startWorld, NODE, type World } from './world.ts'
import { eventually } from './helpers.ts'
import type { OutcomeReport } from '../../agent/agent.ts'
import { INTERRUPTED_LABEL, LB_EXCLUSION_LABEL, readState, recordNotice } from '../../agent/node-state.ts'
import { METADATA_LIST_ACCEPT } from '../../agent/kube.ts'

t.test('a spot notice ends with the node tainted, labelled, cordoned, drained, an event and one notification', async t => {
  const w = await startWorld()
  t.teardown(() => w.close())
  await w.kube.create(deployment('web', 3))
  await w.kube.waitFor(s => readyPods(w.podsOn(NODE)).length === 3 || undefined, 5000, 'web pods running on the spot node')
  await w.kube.addNode({ name: 'on-demand-1', lifecycle: 'on-demand' })
  const agent = await w.start({ KUBERNETES_EVENTS_EXTRA_ANNOTATIONS: 'team=platform,example.com/cost-center=42' })
  t.ok(agent.opsUrls.probes !== undefined && agent.opsUrls.metrics !== undefined)

  const finished = new Promise<OutcomeReport>(resolve => agent.activity.once('outcome', resolve))
  const posted = Date.now()
  w.imds.postSpotInterruption()
  const tainted = await w.kube.waitFor(() => (w.node().spec?.taints ?? []).find((x: { key: string }) => x.key === 'spot-handler.io/spot-itn'), 5000, 'spot taint')
  const detectionMs = Date.now() - posted
  t.equal(tainted.effect, 'NoSchedule')
  t.match(tainted.value, /^itn-[0-9a-f]{16}$/)
  await w.kube.waitFor(() => w.receiver.received.length > 0 || undefined, 10_000, 'notification')
  const drainMs = Date.now() - posted
  t.equal((await finished).outcome, 'done')
  const node = w.node()
  t.equal(node.spec?.unschedulable, true)
  t.equal(node.metadata.labels?.[LB_EXCLUSION_LABEL], 'true')
  t.same(w.podsOn(NODE), [], 'every pod left the spot node')
  t.equal(readyPods(w.podsOn('on-demand-1')).length + w.podsOn('on-demand-1').length > 0, true, 'replacements were scheduled elsewhere')
  const state = readState(node as never)
  t.equal(state.events.length, 1)
  t.equal(state.events[0]!.id, tainted.value)
  t.match(state.events[0]!.result, /^drain complete .*3 evicted/)
  t.equal(state.events[0]!.notified, true)

  const evictions = w.kube.requests.filter(r => r.path.endsWith('/eviction'))
  t.equal(evictions.length, 3)
  const events = w.kube.list('Event', { namespace: 'default' }).filter(e => e.involvedObject?.name === NODE)
  t.same(events.map(e => e.reason).sort(), ['CordonAndDrain', 'SpotInterruption'])
  t.match(events.find(e => e.reason === 'SpotInterruption')?.message, new RegExp(`instance ${w.imds.instance.instanceId}.*deadline 20`))
  for (const e of events) {
    t.match(e.metadata.annotations, { 'instance-id': w.imds.instance.instanceId, 'instance-type': w.imds.instance.instanceType, 'availability-zone': w.imds.instance.availabilityZone, region: w.imds.instance.region, 'account-id': w.imds.instance.accountId, team: 'platform', 'example.com/cost-center': '42' }, `${e.reason}: the instance's annotations under NTH's keys, and the extra ones`)
  }
  await w.kube.waitFor(() => w.kube.list('Event', { namespace: 'default' }).filter(e => e.reason === 'PodEviction').length === 3 || undefined, 5000, 'pod eviction events')
  t.match(await (await fetch(`${agent.opsUrls.metrics}/metrics`)).text(), /\nactions_total\{node_action="cordon-and-drain",node_status="success"\} 1\n/, 'NTH\'s actions_total, as its dashboards read it')
  const podEvents = w.kube.list('Event', { namespace: 'default' }).filter(e => e.reason === 'PodEviction')
  t.same(podEvents.map(e => e.involvedObject?.kind), ['Pod', 'Pod', 'Pod'], 'one PodEviction Event per evicted pod, on the pod')
  t.equal(podEvents[0]!.message, `Pod evicted due to node drain (node ${NODE})`)

  const body = JSON.parse(w.receiver.received[0]!.body) as { text: string }
  t.match(body.text, `SPOT_ITN on node ${NODE} (instance ${w.imds.instance.instanceId}`)
  t.match(body.text, /Pods: web-[^,]+, web-[^,]+, web-[^,]+\. Result: drain complete/)

  // Further polls of the same notice repeat nothing.
  const requestsBefore = w.kube.requests.length
  const pollsBefore = w.imds.requests.length
  await eventually(() => w.imds.requests.length >= pollsBefore + 6, 5000, 'more IMDS polls')
  t.equal(w.receiver.received.length, 1, 'one notification')
  t.equal(w.kube.requests.slice(requestsBefore).filter(r => r.method !== 'GET').length, 0, 'no more writes')

  const metrics = await (await fetch(`${agent.opsUrls.metrics}/metrics`)).text()
  t.match(metrics, 'spot_agent_notices_total{kind="spot-itn"} 1')
  t.match(metrics, 'spot_agent_evictions_total{outcome="evicted"} 3')
  t.match(metrics, /spot_agent_drain_duration_seconds_count\{kind="spot-itn"\} 1/)
  t.equal((await fetch(`${agent.opsUrls.probes}/healthz`)).status, 200)
  t.equal((await fetch(`${agent.opsUrls.probes}/readyz`)).status, 200)
  const lines = w.logs.lines().filter(l => l.eventId === tainted.value)
  t.ok(lines.length >= 5, 'event lines carry the event id')
  t.ok(lines.every(l => l.node === NODE && l.kind === 'spot-itn'))
  t.comment(`spot notice to taint: ${detectionMs} ms; notice to drained and notified: ${drainMs} ms`)
})

/** Our node with 3 api pods behind a budget of minAvailable 2, replacements Ready 150 ms after they start, and a node to take them. */
async function apiBehindBudget (t: Test): Promise<World> {
  const w = await startWorld({ kube: { readyDelayMs: 150 } })
  t.teardown(() => w.close())
  await w.kube.create(deployment('api', 3))
  await w.kube.create(budget('api-pdb', 'api', 2))
  await w.kube.waitFor(() => readyPods(w.podsOn(NODE)).length === 3 || undefined, 5000, 'api pods ready')
  await w.kube.addNode({ name: 'on-demand-1', lifecycle: 'on-demand' })
  return w
}

t.test('a budget that blocks at first lets the drain finish once replacements are ready', async t => {
  const w = await apiBehindBudget(t)
  await w.start()
  const posted = Date.now()
  w.imds.postSpotInterruption()
  await w.kube.waitFor(() => w.receiver.received.length > 0 || undefined, 15_000, 'notification')
  const drainMs = Date.now() - posted
  t.same(w.podsOn(NODE), [])
  const state = readState(w.node() as never)
  t.match(state.events[0]!.result, /^drain complete .*3 evicted; 0 deleted at the deadline/)
  const evictions = w.kube.requests.filter(r => r.path.endsWith('/eviction'))
  const answers = evictions.map(r => r.status)
  t.ok(answers.filter(s => s === 429).length <= 1, 'paced on the watched budget: at most a refusal from a race, no blind retries')
  t.equal(answers.filter(s => s === 201).length, 3)
  const accepted = evictions.filter(r => r.status === 201).map(r => Date.parse(r.time))
  t.ok(accepted[2]! - accepted[0]! >= 150, 'the budget held the evictions apart until replacements were Ready')
  t.equal(w.kube.requests.filter(r => r.method === 'DELETE').length, 0, 'nothing deleted past the budget')
  t.comment(`drain through a budget: ${drainMs} ms, ${answers.filter(s => s === 429).length} refusals`)
})

t.test('a budget that still blocks near the deadline: the pod is deleted with the grace left and the budget is reported', async t => {
  const w = await startWorld()
  t.teardown(() => w.close())
  await w.kube.create(deployment('db', 1, { grace: 2 }))
  await w.kube.create(budget('db-pdb', 'db', 1))
  await w.kube.waitFor(() => readyPods(w.podsOn(NODE)).length === 1 || undefined, 5000, 'db pod ready')
  await w.start({ DEADLINE_SAFETY_MARGIN: '1s' })
  w.imds.postSpotInterruption({ time: new Date(Date.now() + 5000) })
  await w.kube.waitFor(() => w.receiver.received.length > 0 || undefined, 15_000, 'notification')
  t.same(w.podsOn(NODE), [])
  const deletes = w.kube.requests.filter(r => r.method === 'DELETE' && r.resource === 'pods')
  t.equal(deletes.length, 1)
  const grace = Number(deletes[0]!.query.gracePeriodSeconds)
  t.ok(grace >= 1 && grace <= 2, `deleted with the grace left (${grace}s), never more than the pod's own`)
  t.ok(w.kube.requests.filter(r => r.path.endsWith('/eviction')).every(r => r.status === 429), 'every eviction was refused')
  const result = JSON.parse(w.receiver.received[0]!.body).text as string
  t.match(result, /1 deleted at the deadline \(default\/db-[^ ]+ blocked by PDB db-pdb\)/)
  const summary = w.kube.list('Event', { namespace: 'default' }).find(e => e.reason === 'CordonAndDrain')
  t.match(summary?.message, 'blocked by PDB db-pdb')
})

t.test('DaemonSet, mirror and the agent\'s own pods are left alone', async t => {
  const w = await startWorld()
  t.teardown(() => w.close())
  await w.kube.create({ apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'logs', namespace: 'kube-system' }, spec: { selector: { matchLabels: { app: 'logs' } }, template: { metadata: { labels: { app: 'logs' } }, spec: { containers: [{ name: 'c', image: 'logs:1' }] } } } })
  await w.kube.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: `static-${NODE}`, namespace: 'kube-system', annotations: { 'kubernetes.io/config.mirror': 'hash' } }, spec: { nodeName: NODE, containers: [{ name: 'c', image: 'etcd:1' }] } })
  await w.kube.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'spot-agent-abcde', namespace: 'spot-handler' }, spec: { nodeName: NODE, containers: [{ name: 'agent', image: 'agent:1' }] } }).catch(async () => {
    await w.kube.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'spot-handler' } })
    await w.kube.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'spot-agent-abcde', namespace: 'spot-handler' }, spec: { nodeName: NODE, containers: [{ name: 'agent', image: 'agent:1' }] } })
  })
  await w.kube.create(deployment('web', 1))
  await w.kube.waitFor(() => w.podsOn(NODE).length === 4 || undefined, 5000, 'four pods on the node')
  await w.start({ POD_NAME: 'spot-agent-abcde', POD_NAMESPACE: 'spot-handler' })
  w.imds.postSpotInterruption()
  await w.kube.waitFor(() => w.receiver.received.length > 0 || undefined, 10_000, 'notification')
  const left = w.podsOn(NODE).map(p => `${p.metadata.namespace}/${p.metadata.name.replace(/-[a-z0-9]{5}$/, '')}`).sort()
  t.same(left, ['kube-system/logs', `kube-system/static-${NODE}`, 'spot-handler/spot-agent'])
  const evicted = w.kube.requests.filter(r => r.path.endsWith('/eviction')).map(r => r.name)
  t.equal(evicted.length, 1)
  t.match(evicted[0], /^web-/)
  t.match(JSON.parse(w.receiver.received[0]!.body).text, /Result: drain complete .*1 evicted; 0 deleted at the deadline; 3 left alone/)
})

t.test('while pods take their time to go, the drain watches them: one pod list and one pod watch, no polling', async t => {
  const w = await startWorld({ kube: { kubeletDelayMs: 1500 } })
  t.teardown(() => w.close())
  await w.kube.create(deployment('web', 4))
  await w.kube.waitFor(() => readyPods(w.podsOn(NODE)).length === 4 || undefined, 5000, 'web pods ready')
  await w.kube.addNode({ name: 'on-demand-1', lifecycle: 'on-demand' })
  const agent = await w.start()
  w.kube.clearRequests()
  w.imds.postSpotInterruption()
  const outcome = await w.first(agent, 'outcome')
  t.equal(outcome.outcome, 'done')
  t.same(w.podsOn(NODE), [])
  const podReads = w.kube.requests.filter(r => r.resource === 'pods' && r.subresource === undefined && ['get', 'list', 'watch'].includes(r.verb))
  t.same(podReads.map(r => `${r.verb} ${r.query.fieldSelector}`), ['list spec.nodeName=spot-node-1', 'watch spec.nodeName=spot-node-1'])
  t.match(readState(w.node() as never).events[0]?.result, /^drain complete in 1\.\ds: 4 evicted/, 'it waited the kubelet\'s 1.5 s for the pods, on the watch')
})

t.test('without read access to budgets the drain still goes through them, retrying refusals on the backoff', async t => {
  const w = await apiBehindBudget(t)
  w.kube.injectFault({ verb: 'list', path: '/poddisruptionbudgets$', status: 403, message: 'poddisruptionbudgets is forbidden' })
  const agent = await w.start()
  w.imds.postSpotInterruption()
  t.equal((await w.first(agent, 'outcome')).outcome, 'done')
  t.same(w.podsOn(NODE), [])
  t.ok(w.kube.requests.some(r => r.path.endsWith('/eviction') && r.status === 429), 'refusals, retried')
  t.ok(w.logs.lines().some(l => /PodDisruptionBudgets cannot be watched/.test(String(l.msg))), 'and said why')
})

t.test('with NTH_COMPATIBLE_NAMES and ENABLE_OUT_OF_SERVICE_TAINT the node carries NTH\'s taint and label, then out of service after a complete drain only', async t => {
  for (const blocked of [false, true]) {
    const w = await startWorld()
    t.teardown(() => w.close())
    await w.kube.create(deployment('web', 2, { emptyDir: blocked }))
    await w.kube.waitFor(() => readyPods(w.podsOn(NODE)).length === 2 || undefined, 5000, 'web pods running')
    await w.kube.addNode({ name: 'on-demand-1', lifecycle: 'on-demand' })
    const agent = await w.start({ NTH_COMPATIBLE_NAMES: 'true', ENABLE_OUT_OF_SERVICE_TAINT: 'true', DELETE_LOCAL_DATA: 'false' })
    const finished = w.first(agent, 'outcome')
    w.imds.postSpotInterruption()
    await finished
    const node = w.node()
    const keys = (node.spec?.taints ?? []).map((x: { key: string }) => x.key)
    t.ok(keys.includes('aws-node-termination-handler/spot-itn'), `NTH's taint key (${blocked ? 'blocked' : 'complete'} drain)`)
    t.notOk(keys.includes('spot-handler.io/spot-itn'))
    t.equal(node.metadata.labels?.[LB_EXCLUSION_LABEL], 'aws-node-termination-handler')
    if (blocked) t.notOk(keys.includes('node.kubernetes.io/out-of-service'), 'not out of service after an incomplete drain')
    else t.same((node.spec?.taints ?? []).find((x: { key: string }) => x.key === 'node.kubernetes.io/out-of-service'), { key: 'node.kubernetes.io/out-of-service', value: 'nodeshutdown', effect: 'NoExecute' }, 'out of service after the complete drain')
  }
})

/** Time from the cordon patch to the first eviction request, from the simulator's request log (asserting both were sent). */
function cordonToFirstEvictionMs (t: Test, w: World): number {
  const cordon = w.kube.requests.find(r => r.verb === 'patch' && r.resource === 'nodes' && JSON.stringify(r.body).includes('/spec/unschedulable'))
  const firstEviction = w.kube.requests.find(r => r.subresource === 'eviction')
  t.ok(cordon !== undefined && firstEviction !== undefined, 'a cordon, then evictions')
  return Date.parse(firstEviction?.time ?? '') - Date.parse(cordon?.time ?? '')
}

t.test('with DRAIN_SETTLE_TIME the first eviction waits that long after the cordon, so the rest of a wave is tainted first', async t => {
  const w = await startWorld()
  t.teardown(() => w.close())
  await w.kube.create(deployment('web', 2))
  await w.kube.waitFor(() => readyPods(w.podsOn(NODE)).length === 2 || undefined, 5000, 'web pods running on the spot node')
  await w.kube.addNode({ name: 'on-demand-1', lifecycle: 'on-demand' })
  const agent = await w.start({ DRAIN_SETTLE_TIME: '600ms', WEBHOOK_URL: '' })
  w.imds.postSpotInterruption()
  t.equal((await w.first(agent, 'outcome')).outcome, 'done')
  const waitedMs = cordonToFirstEvictionMs(t, w)
  t.ok(waitedMs >= 600, `the first eviction came ${waitedMs} ms after the cordon`)
  t.ok(w.logs.lines().some(l => l.msg === 'cordoned; letting the wave settle before the first eviction' && l.settleMs === 600), 'and the agent said why it waited')
})

t.test('while the reclaim reaches more nodes during the settle time, the drain settles another round', async t => {
  const w = await startWorld()
  t.teardown(() => w.close())
  await w.kube.create(deployment('web', 2))
  await w.kube.waitFor(() => readyPods(w.podsOn(NODE)).length === 2 || undefined, 5000, 'web pods running on the spot node')
  const other = await w.kube.addNode({ name: 'spot-node-2', lifecycle: 'spot' })
  const agent = await w.start({ DRAIN_SETTLE_TIME: '500ms', WEBHOOK_URL: '' })
  w.imds.postSpotInterruption()
  const isWaveList = (r: { verb: string, resource?: string, query: Record<string, string> }): boolean => r.verb === 'list' && r.resource === 'nodes' && r.query.labelSelector === INTERRUPTED_LABEL
  await w.kube.waitFor(() => w.node().spec?.unschedulable === true || undefined, 5000, 'the cordon')
  await sleep(100)
  // Another agent's node joins the reclaim while this one settles: labelled, with its notice recorded now.
  const joined = recordNotice(w.kube.get('Node', undefined, other.metadata.name) as never, { kind: 'spot-itn', eventId: 'itn-other', deadline: Date.now() + 120_000, state: 'active', detail: 'another node of the pool' }, Date.now())
  await w.kube.update(joined as never)
  t.equal((await w.first(agent, 'outcome')).outcome, 'done')
  const waitedMs = cordonToFirstEvictionMs(t, w)
  t.ok(waitedMs >= 1000, `two rounds of 500 ms before the first eviction (${waitedMs} ms)`)
  const lists = w.kube.requests.filter(isWaveList)
  t.equal(lists.length, 2, 'one label-selected list after each round, none at the cordon')
  t.same(lists.map(r => r.query.resourceVersion), ['0', '0'], 'served from the watch cache')
  t.same(lists.map(r => r.accept), [METADATA_LIST_ACCEPT, METADATA_LIST_ACCEPT], 'metadata only: the notice times are in the state annotation')
  t.ok(w.logs.lines().some(l => l.msg === 'the reclaim reached more nodes meanwhile; settling another round' && l.joinedMeanwhile === 1 && l.interruptedNodes === 2))
})
