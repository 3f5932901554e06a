import t, { type Test } from 'tap'
import * as k8s from '@kubernetes/client-node'
import { failure } from '../helpers/kube.ts'
import { startKubeSim, type KubeSim, type KubeSimOptions } from './k8s/sim.ts'

async function sim (t: Test, opts: KubeSimOptions = {}): Promise<KubeSim> {
  const s = await startKubeSim({ nodes: [{ name: 'spot-a' }, { name: 'spot-b' }, { name: 'od-a', lifecycle: 'on-demand' }], ...opts })
  t.teardown(() => s.close())
  return s
}

/** Plays the kubelet by hand: marks a pod Running and Ready. */
async function markReady (s: KubeSim, name: string): Promise<void> {
  const pod = s.get('Pod', 'default', name)!
  await s.update({ ...pod, status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] } }, { subresource: 'status' })
}

const eviction = (name: string, namespace = 'default'): k8s.V1Eviction => ({ apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name, namespace } })

/** A ReplicaSet `web` with `replicas` pods labelled app=web, all Running and Ready (`start` readies each when the kubelet is off). */
async function webReplicas (s: KubeSim, replicas: number, start?: (name: string) => Promise<void>): Promise<string[]> {
  const apps = s.kubeConfig.makeApiClient(k8s.AppsV1Api)
  await apps.createNamespacedReplicaSet({
    namespace: 'default',
    body: { metadata: { name: 'web' }, spec: { replicas, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } } } }
  })
  if (start !== undefined) {
    const created = await s.waitFor(x => { const pods = x.list('Pod', { labelSelector: 'app=web' }); return pods.length === replicas ? pods : undefined }, 3000, 'web pods created')
    for (const pod of created) await start(pod.metadata.name)
  }
  const ready = await s.waitFor(x => {
    const pods = x.list('Pod', { labelSelector: 'app=web' }).filter(p => p.status?.phase === 'Running')
    return pods.length === replicas ? pods.map(p => p.metadata.name) : undefined
  }, 3000, `${replicas} web pods running`)
  return ready
}

t.test('an eviction blocked by a PDB is a 429 TooManyRequests; it is allowed once a replacement is Ready', async t => {
  // The kubelet is off so the test decides when the replacement becomes Ready.
  const s = await sim(t, { controllers: { kubelet: false } })
  const core = s.kubeConfig.makeApiClient(k8s.CoreV1Api)
  const policy = s.kubeConfig.makeApiClient(k8s.PolicyV1Api)
  const [first, second] = await webReplicas(s, 2, name => markReady(s, name))
  await policy.createNamespacedPodDisruptionBudget({ namespace: 'default', body: { metadata: { name: 'web' }, spec: { maxUnavailable: 1, selector: { matchLabels: { app: 'web' } } } } })
  const res = await core.createNamespacedPodEvictionWithHttpInfo({ name: first!, namespace: 'default', body: eviction(first!) })
  t.equal(res.httpStatusCode, 201, 'the first eviction is allowed')
  t.ok(s.get('Pod', 'default', first!)?.metadata.deletionTimestamp, 'the evicted pod is terminating')

  const blocked = await failure(core.createNamespacedPodEviction({ name: second!, namespace: 'default', body: eviction(second!) }))
  t.equal(blocked.code, 429)
  t.same(blocked.body, {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: "Cannot evict pod as it would violate the pod's disruption budget.",
    reason: 'TooManyRequests',
    details: { causes: [{ reason: 'DisruptionBudget', message: 'The disruption budget web needs 1 healthy pods and has 1 currently' }] },
    code: 429
  })
  t.notOk(s.get('Pod', 'default', second!)?.metadata.deletionTimestamp, 'the blocked pod is untouched')

  const replacement = await s.waitFor(x => x.list('Pod', { labelSelector: 'app=web' }).find(p => ![first, second].includes(p.metadata.name)), 3000, 'replacement created')
  t.equal(replacement.status.phase, 'Pending')
  const stillBlocked = await failure(core.createNamespacedPodEviction({ name: second!, namespace: 'default', body: eviction(second!) }))
  t.equal(stillBlocked.code, 429, 'a replacement that is not Ready does not count')
  await markReady(s, replacement.metadata.name)
  const pdb = await policy.readNamespacedPodDisruptionBudget({ name: 'web', namespace: 'default' })
  await s.waitFor(x => x.get('PodDisruptionBudget', 'default', 'web')?.status?.disruptionsAllowed === 1, 3000, 'budget recomputed')
  t.equal(pdb.status?.expectedPods, 2)
  const allowed = await fetch(`${s.url}/api/v1/namespaces/default/pods/${second}/eviction`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(eviction(second!)) })
  t.equal(allowed.status, 201)
  t.same(await allowed.json(), { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 })
})

t.test('PDB status reports currentHealthy, desiredHealthy, disruptionsAllowed and expectedPods', async t => {
  const s = await sim(t, { readyDelayMs: 0 })
  const policy = s.kubeConfig.makeApiClient(k8s.PolicyV1Api)
  await webReplicas(s, 3)
  await policy.createNamespacedPodDisruptionBudget({ namespace: 'default', body: { metadata: { name: 'min' }, spec: { minAvailable: '50%', selector: { matchLabels: { app: 'web' } } } } })
  const status = await s.waitFor(x => { const st = x.get('PodDisruptionBudget', 'default', 'min')?.status; return st?.expectedPods === 3 ? st : undefined }, 3000, 'pdb status')
  t.match(status, { currentHealthy: 3, desiredHealthy: 2, disruptionsAllowed: 1, expectedPods: 3, observedGeneration: 1 })
  t.match(status.conditions, [{ type: 'DisruptionAllowed', status: 'True', reason: 'SufficientPods' }])
  const read = await policy.readNamespacedPodDisruptionBudget({ name: 'min', namespace: 'default' })
  t.equal(read.status?.disruptionsAllowed, 1, 'the client reads the same numbers')
})

t.test('evicting a missing pod is a 404; two matching budgets are a 500', async t => {
  const s = await sim(t)
  const core = s.kubeConfig.makeApiClient(k8s.CoreV1Api)
  const missing = await failure(core.createNamespacedPodEviction({ name: 'ghost', namespace: 'default', body: eviction('ghost') }))
  t.equal(missing.code, 404)
  t.equal(missing.body.message, 'pods "ghost" not found')
  const [pod] = await webReplicas(s, 1)
  for (const name of ['a', 'b']) {
    await s.create({ apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name, namespace: 'default' }, spec: { minAvailable: 0, selector: { matchLabels: { app: 'web' } } } })
  }
  const two = await failure(core.createNamespacedPodEviction({ name: pod!, namespace: 'default', body: eviction(pod!) }))
  t.equal(two.code, 500)
  t.match(two.body.message, /more than one PodDisruptionBudget/)
})

t.test('pods that are not running yet are evicted without consulting budgets', async t => {
  const s = await sim(t, { controllers: { kubelet: false } })
  const core = s.kubeConfig.makeApiClient(k8s.CoreV1Api)
  await s.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'default', labels: { app: 'web' } }, spec: { nodeName: 'spot-a', containers: [{ name: 'c', image: 'i' }] } })
  await s.create({ apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: 'all', namespace: 'default' }, spec: { maxUnavailable: 0, selector: { matchLabels: { app: 'web' } } } })
  const res = await core.createNamespacedPodEvictionWithHttpInfo({ name: 'p', namespace: 'default', body: eviction('p') })
  t.equal(res.httpStatusCode, 201)
  t.ok(s.get('Pod', 'default', 'p')?.metadata.deletionTimestamp, 'the Pending pod is deleted gracefully')
})

t.test('an eviction with deleteOptions.gracePeriodSeconds=0 removes the pod at once', async t => {
  const s = await sim(t)
  const core = s.kubeConfig.makeApiClient(k8s.CoreV1Api)
  const [pod] = await webReplicas(s, 1)
  await core.createNamespacedPodEviction({ name: pod!, namespace: 'default', body: { ...eviction(pod!), deleteOptions: { gracePeriodSeconds: 0 } } })
  t.equal(s.get('Pod', 'default', pod!), undefined)
})

t.test('an eviction naming another uid is a 409 Conflict, checked before the budget', async t => {
  const s = await sim(t, { controllers: { kubelet: false } })
  const core = s.kubeConfig.makeApiClient(k8s.CoreV1Api)
  const [pod] = await webReplicas(s, 1, name => markReady(s, name))
  await s.create({ apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: 'none', namespace: 'default' }, spec: { maxUnavailable: 0, selector: { matchLabels: { app: 'web' } } } })
  const stale = await failure(core.createNamespacedPodEviction({ name: pod!, namespace: 'default', body: { ...eviction(pod!), deleteOptions: { preconditions: { uid: 'an-older-pod' } } } }))
  t.equal(stale.code, 409)
  t.match(stale.body.message, /Precondition failed: UID in precondition: an-older-pod/)
  const uid = s.get('Pod', 'default', pod!)!.metadata.uid
  const blocked = await failure(core.createNamespacedPodEviction({ name: pod!, namespace: 'default', body: { ...eviction(pod!), deleteOptions: { preconditions: { uid } } } }))
  t.equal(blocked.code, 429, 'with the right uid the budget decides')
})
