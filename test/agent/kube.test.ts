/** The agent's Kubernetes calls against the API simulator: outcomes for the drain, errors with context. */
import t, { type Test } from 'tap'
import { startKubeSim } from '../sim/k8s/sim.ts'
import { blockingBudget, NodeClient } from '../../agent/kube.ts'
import { createApiGate } from '../../agent/rate-limit.ts'
import { deployment, budget, readyPods } from './world.ts'
import { LB_EXCLUSION_LABEL } from '../../agent/node-state.ts'
import { captureLogger } from './helpers.ts'

async function setup (t: Test) {
  const kube = await startKubeSim({ kubeletDelayMs: 20 })
  t.teardown(() => kube.close())
  await kube.addNode({ name: 'n1' })
  const client = new NodeClient({ kubeConfig: kube.kubeConfig, nodeName: 'n1', gate: createApiGate(100, 100, 4, Date.now, ms => new Promise(resolve => setTimeout(resolve, ms))), logger: captureLogger().logger })
  return { kube, client }
}

t.test('the budget name is read from the eviction refusal', async t => {
  t.equal(blockingBudget("Cannot evict pod as it would violate the pod's disruption budget. The disruption budget web-pdb needs 2 healthy pods and has 2 currently"), 'web-pdb')
  t.equal(blockingBudget('injected fault: TooManyRequests (429)'), undefined)
})

t.test('evictions: accepted, refused by a budget, already gone, replaced, failing', async t => {
  const { kube, client } = await setup(t)
  await kube.create(deployment('web', 2))
  await kube.create(budget('web-pdb', 'web', 2))
  await kube.waitFor(() => readyPods(kube.list('Pod', { fieldSelector: 'spec.nodeName=n1' })).length === 2 || undefined, 5000, 'pods ready')
  const [a, b] = (await client.listPods()).items
  const blocked = await client.evict(a!.metadata!.namespace!, a!.metadata!.name!, a!.metadata!.uid!, 5)
  t.match(blocked, { outcome: 'blocked', status: 429, pdb: 'web-pdb' })
  kube.remove('PodDisruptionBudget', 'default', 'web-pdb')
  t.same(await client.evict(a!.metadata!.namespace!, a!.metadata!.name!, a!.metadata!.uid!, 5), { outcome: 'accepted' })
  t.same(await client.evict('default', 'nope', 'x', 5), { outcome: 'gone' })
  await kube.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'solo', namespace: 'default' }, spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'x' }] } })
  t.same(await client.evict('default', 'solo', 'another-uid', 5), { outcome: 'gone' }, 'a uid precondition that fails means the pod was replaced')
  kube.injectFault({ verb: 'create', path: '/eviction$', status: 429, retryAfterSeconds: 3, count: 1 })
  t.match(await client.evict('default', b!.metadata!.name!, b!.metadata!.uid!, 5), { outcome: 'blocked', status: 429, retryAfterMs: 3000 }, 'the server\'s Retry-After comes along')
  kube.injectFault({ verb: 'create', path: '/eviction$', status: 500, count: 1 })
  t.match(await client.evict('default', b!.metadata!.name!, b!.metadata!.uid!, 5), { outcome: 'blocked', status: 500 })
  kube.injectFault({ verb: 'create', path: '/eviction$', status: 403, message: 'pods/eviction is forbidden', count: 1 })
  await t.rejects(client.evict('default', b!.metadata!.name!, b!.metadata!.uid!, 5), /evicting pod default\/web-[^ ]+ failed \(HTTP 403\): pods\/eviction is forbidden/)
})

t.test('deletions: done, gone, replaced, failing', async t => {
  const { kube, client } = await setup(t)
  await kube.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'default' }, spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'x' }] } })
  const [p] = (await client.listPods()).items
  t.equal(await client.deletePod('default', 'p', 'other-uid', 1), false)
  t.equal(await client.deletePod('default', 'missing', 'x', 1), false)
  kube.injectFault({ verb: 'delete', status: 403, count: 1 })
  await t.rejects(client.deletePod('default', 'p', p!.metadata!.uid!, 1), /deleting pod default\/p failed \(HTTP 403\)/)
  t.equal(await client.deletePod('default', 'p', p!.metadata!.uid!, 1), true)
})

t.test('node updates retry conflicts and give up with the operations they tried', async t => {
  const { kube, client } = await setup(t)
  const conflicts = kube.injectFault({ verb: 'patch', status: 409, count: 2 })
  const withLabel = (n: Parameters<Parameters<NodeClient['updateNode']>[0]>[0]) => ({ ...n, metadata: { ...n.metadata, labels: { ...n.metadata?.labels, [LB_EXCLUSION_LABEL]: 'true' } } })
  const updated = await client.updateNode(withLabel)
  t.equal(conflicts.hits, 2)
  t.equal(updated.metadata?.labels?.[LB_EXCLUSION_LABEL], 'true')
  const before = kube.requests.length
  t.equal((await client.updateNode(withLabel)).metadata?.resourceVersion, updated.metadata?.resourceVersion, 'nothing to change, nothing sent')
  t.same(kube.requests.slice(before).map(r => r.method), ['GET'])
  kube.injectFault({ verb: 'patch', status: 409 })
  await t.rejects(client.updateNode(n => ({ ...n, spec: { ...n.spec, unschedulable: true } }), { attempts: 3 }), /patching node n1 \(add \/spec\/unschedulable\) failed \(HTTP 409\)/)
})

t.test('reads, lists and events fail with what was attempted', async t => {
  const { kube, client } = await setup(t)
  kube.injectFault({ verb: 'get', status: 500, count: 1 })
  await t.rejects(client.getNode(), /reading node n1 failed \(HTTP 500\)/)
  kube.injectFault({ verb: 'list', status: 503, count: 1 })
  await t.rejects(client.listPods(), /listing pods on node n1 failed \(HTTP 503\)/)
  kube.injectFault({ verb: 'create', path: '/events$', status: 500, count: 1 })
  await t.rejects(client.createKubeEvent(undefined, { reason: 'R', message: 'm', type: 'Normal' }), /recording event R on node n1 failed/)
  await client.createKubeEvent(await client.getNode(), { reason: 'R', message: 'm', type: 'Normal' })
  const events = kube.list('Event', { namespace: 'default' })
  t.equal(events.length, 1)
  t.match(events[0], { reason: 'R', involvedObject: { kind: 'Node', name: 'n1' }, source: { component: 'spot-agent', host: 'n1' } })
  t.ok(events[0]?.involvedObject?.uid)
})
