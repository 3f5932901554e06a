/**
 * The agent watches its Node instead of polling it: an idle agent sends the
 * API server nothing after start-up; a watch the server ends is resumed from
 * the last resourceVersion (a 410 Gone re-lists) without missing the
 * rehearsal annotation; a watch that cannot be had makes the agent not ready.
 */
import t from 'tap'
import { startWorld, type World } from './world.ts'
import { eventually } from './helpers.ts'
import { REHEARSE_ANNOTATION } from '../../agent/node-state.ts'
import type { RequestRecord } from '../sim/k8s/sim.ts'

const isNodeRequest = (r: RequestRecord): boolean => r.resource === 'nodes'
const nodeWatches = (w: World): RequestRecord[] => w.kube.requests.filter(r => isNodeRequest(r) && r.verb === 'watch')
const nodeLists = (w: World): RequestRecord[] => w.kube.requests.filter(r => isNodeRequest(r) && r.verb === 'list')

async function annotate (w: World, value: string): Promise<void> {
  const node = w.node()
  node.metadata.annotations = { ...node.metadata.annotations, [REHEARSE_ANNOTATION]: value }
  await w.kube.update(node)
}

/** Ends the open watches and runs `change` while reconnecting fails, so no watch sees it live. */
async function whileNoWatch (w: World, change: () => Promise<void>): Promise<void> {
  const refused = w.kube.injectFault({ verb: 'watch', path: '/api/v1/nodes', status: 503 })
  w.kube.endWatches()
  await eventually(() => refused.hits >= 1, 5000, 'a refused reconnect')
  await change()
  w.kube.clearFaults()
}

t.test('an idle agent sends no request to the API server in the 60 s after start-up', async t => {
  const w = await startWorld()
  t.teardown(() => w.close())
  await w.start({ ENABLE_REHEARSAL: 'true' })
  await eventually(() => nodeWatches(w).length === 1, 5000, 'the Node watch open')
  const atStart = w.kube.requests.map(r => `${r.verb} ${r.path}`)
  t.same(atStart, ['list /api/v1/nodes', 'watch /api/v1/nodes'], 'one list and one watch of the Node, nothing else')
  t.match(nodeWatches(w)[0]!.query, { fieldSelector: 'metadata.name=spot-node-1', allowWatchBookmarks: 'true', resourceVersion: /^\d+$/ })
  const imdsPolls = w.imds.requests.length
  await new Promise(resolve => setTimeout(resolve, 60_000))
  t.same(w.kube.requests.map(r => `${r.verb} ${r.path}`), atStart, 'no request in 60 s')
  t.ok(w.imds.requests.length > imdsPolls + 100, 'while IMDS was polled all along')
})

t.test('a watch the server ends is resumed from the last resourceVersion and the annotation set meanwhile is acted on', async t => {
  const w = await startWorld()
  t.teardown(() => w.close())
  const agent = await w.start({ ENABLE_REHEARSAL: 'true' })
  await eventually(() => nodeWatches(w).length === 1, 5000, 'the Node watch open')
  await whileNoWatch(w, () => annotate(w, 'spot-itn'))
  const outcome = await w.first(agent, 'outcome')
  t.equal(outcome.notice.rehearsal, true)
  t.equal(outcome.outcome, 'done')
  t.equal(nodeLists(w).length, 1, 'no second list: the watch resumed')
  const [first, ...again] = nodeWatches(w)
  t.ok(again.every(r => r.query.resourceVersion === first!.query.resourceVersion), 'resumed from the resourceVersion it had reached (nothing changed before)')
})

t.test('after 410 Gone the agent lists the Node again and still sees the annotation', async t => {
  const w = await startWorld()
  t.teardown(() => w.close())
  const agent = await w.start({ ENABLE_REHEARSAL: 'true' })
  await eventually(() => nodeWatches(w).length === 1, 5000, 'the Node watch open')
  await whileNoWatch(w, async () => {
    await annotate(w, 'spot-itn')
    w.kube.compact()
  })
  const outcome = await w.first(agent, 'outcome')
  t.equal(outcome.notice.rehearsal, true)
  t.ok(nodeLists(w).length >= 2, 'listed again')
  t.ok(w.logs.lines().some(l => /410 Gone/.test(String(l.msg))), 'the expiry was logged')
})

t.test('a Node watch that cannot be had is retried with backoff, and readiness says so after a while', async t => {
  const w = await startWorld()
  t.teardown(() => w.close())
  const broken = w.kube.injectFault({ verb: 'watch', path: '/api/v1/nodes', status: 503 })
  const agent = await w.start({ ENABLE_REHEARSAL: 'true' }, { nodeWatchStaleAfterMs: 300 })
  await eventually(() => broken.hits >= 5, 5000, 'watch retried')
  const at = nodeWatches(w).slice(0, 5).map(r => Date.parse(r.time))
  t.ok(at[4]! - at[3]! > at[1]! - at[0]!, 'the delays grow (the 4th is 4 to 16 times the 1st)')
  const notReady = await eventually(async () => {
    const r = await fetch(`${agent.opsUrls.probes}/readyz`)
    return r.status === 503 ? await r.text() : undefined
  }, 5000, 'not ready')
  t.match(notReady, /no watch on the Node for \d+s/)
  w.kube.clearFaults()
  await eventually(async () => (await fetch(`${agent.opsUrls.probes}/readyz`)).status === 200, 10_000, 'ready again')
  await annotate(w, 'spot-itn')
  t.equal((await w.first(agent, 'outcome')).outcome, 'done', 'and the watch works')
})

t.test('bookmarks move the resourceVersion forward, so a resumed watch skips what it never needed', async t => {
  const w = await startWorld({ kube: { bookmarkIntervalMs: 50 } })
  t.teardown(() => w.close())
  await w.start({ ENABLE_REHEARSAL: 'true' })
  await eventually(() => nodeWatches(w).length === 1, 5000, 'the Node watch open')
  await w.kube.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'unrelated', namespace: 'default' }, data: {} })
  const changedAt = Number(w.kube.cluster.store.resourceVersion)
  await new Promise(resolve => setTimeout(resolve, 200))
  w.kube.endWatches()
  await eventually(() => nodeWatches(w).length === 2, 5000, 'the watch resumed')
  const [first, second] = nodeWatches(w)
  t.ok(Number(first!.query.resourceVersion) < changedAt, 'the first watch started before the unrelated change')
  t.equal(Number(second!.query.resourceVersion), changedAt, 'the resumed watch starts from the bookmark')
  t.equal(nodeLists(w).length, 1)
})

t.test('a failing Node list is retried with backoff, then the watch follows it', async t => {
  const w = await startWorld()
  t.teardown(() => w.close())
  const failing = w.kube.injectFault({ verb: 'list', path: '/api/v1/nodes', status: 500, count: 2 })
  const agent = await w.start({ ENABLE_REHEARSAL: 'true' })
  await eventually(() => nodeWatches(w).length === 1, 5000, 'the Node watch open after the list succeeded')
  t.equal(failing.hits, 2)
  t.equal(nodeLists(w).length, 3)
  t.ok(w.logs.lines().some(l => l.msg === 'listing failed; retrying'))
  await annotate(w, 'spot-itn')
  t.equal((await w.first(agent, 'outcome')).outcome, 'done')
})
