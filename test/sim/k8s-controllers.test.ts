import t, { type Test } from 'tap'
import * as k8s from '@kubernetes/client-node'
import { startKubeSim, type KubeSim, type KubeSimOptions } from './k8s/sim.ts'

async function sim (t: Test, opts: KubeSimOptions = {}): Promise<KubeSim> {
  const s = await startKubeSim({ nodes: [{ name: 'spot-a' }, { name: 'spot-b' }, { name: 'od-a', lifecycle: 'on-demand' }], kubeletDelayMs: 20, ...opts })
  t.teardown(() => s.close())
  return s
}

const handlerDaemonSet = (nodeSelector?: Record<string, string>): k8s.V1DaemonSet => ({
  metadata: { name: 'handler', namespace: 'default' },
  spec: {
    selector: { matchLabels: { app: 'handler' } },
    template: { metadata: { labels: { app: 'handler' } }, spec: { ...(nodeSelector === undefined ? {} : { nodeSelector }), containers: [{ name: 'h', image: 'handler:1' }] } }
  }
})

function nodesOf (s: KubeSim, selector: string): string[] {
  return s.list('Pod', { labelSelector: selector }).filter(p => p.metadata.deletionTimestamp === undefined).map(p => p.spec.nodeName).sort()
}

t.test('the DaemonSet controller runs one pod on each node matching the nodeSelector', async t => {
  const s = await sim(t)
  const apps = s.kubeConfig.makeApiClient(k8s.AppsV1Api)
  const ds = await apps.createNamespacedDaemonSet({ namespace: 'default', body: handlerDaemonSet({ lifecycle: 'Ec2Spot' }) })
  await s.waitFor(x => nodesOf(x, 'app=handler').length === 2, 3000, 'two daemon pods')
  t.same(nodesOf(s, 'app=handler'), ['spot-a', 'spot-b'])
  const pod = s.list('Pod', { labelSelector: 'app=handler' })[0]!
  t.match(pod.metadata.ownerReferences, [{ apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'handler', uid: ds.metadata?.uid, controller: true }])
  t.ok(pod.spec.tolerations.some((x: any) => x.key === 'node.kubernetes.io/unschedulable'), 'daemon pods tolerate cordoned nodes')
  const status = await s.waitFor(x => { const st = x.get('DaemonSet', 'default', 'handler')?.status; return st?.numberReady === 2 ? st : undefined }, 3000, 'ds status')
  t.match(status, { desiredNumberScheduled: 2, currentNumberScheduled: 2, numberMisscheduled: 0, numberReady: 2 })

  await s.addNode({ name: 'spot-c' })
  await s.waitFor(x => nodesOf(x, 'app=handler').includes('spot-c'), 3000, 'pod on the new spot node')
  const node = s.get('Node', undefined, 'spot-a')!
  await s.update({ ...node, metadata: { ...node.metadata, labels: { ...node.metadata.labels, lifecycle: 'OnDemand' } } })
  await s.waitFor(x => !nodesOf(x, 'app=handler').includes('spot-a'), 3000, 'pod leaves the relabelled node')
  t.same(nodesOf(s, 'app=handler'), ['spot-b', 'spot-c'])
})

t.test('daemon pods skip nodes with untolerated taints but stay when a NoSchedule taint is added later', async t => {
  const s = await sim(t, { nodes: [{ name: 'spot-a' }, { name: 'spot-b', taints: [{ key: 'dedicated', value: 'x', effect: 'NoSchedule' }] }] })
  const apps = s.kubeConfig.makeApiClient(k8s.AppsV1Api)
  await apps.createNamespacedDaemonSet({ namespace: 'default', body: handlerDaemonSet() })
  await s.waitFor(x => nodesOf(x, 'app=handler').length === 1, 3000, 'one daemon pod')
  t.same(nodesOf(s, 'app=handler'), ['spot-a'])
  const node = s.get('Node', undefined, 'spot-a')!
  await s.update({ ...node, spec: { ...node.spec, taints: [{ key: 'spot-handler.io/spot-itn', value: 'e1', effect: 'NoSchedule' }], unschedulable: true } })
  await s.waitFor(x => x.get('DaemonSet', 'default', 'handler')?.status?.numberMisscheduled === 1, 3000, 'status sees the taint')
  t.same(nodesOf(s, 'app=handler'), ['spot-a'], 'the pod keeps running on the tainted, cordoned node')
})

t.test('an evicted ReplicaSet pod is recreated on another node with a new name and UID', async t => {
  const s = await sim(t)
  const apps = s.kubeConfig.makeApiClient(k8s.AppsV1Api)
  const core = s.kubeConfig.makeApiClient(k8s.CoreV1Api)
  await apps.createNamespacedReplicaSet({
    namespace: 'default',
    body: { metadata: { name: 'web' }, spec: { replicas: 1, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } } } }
  })
  const original = await s.waitFor(x => x.list('Pod', { labelSelector: 'app=web' }).find(p => p.status?.phase === 'Running'), 3000, 'web pod running')
  await core.patchNode({ name: original.spec.nodeName, body: { spec: { unschedulable: true } } }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch))
  await core.createNamespacedPodEviction({ name: original.metadata.name, namespace: 'default', body: { metadata: { name: original.metadata.name, namespace: 'default' } } })
  const replacement = await s.waitFor(x => x.list('Pod', { labelSelector: 'app=web' }).find(p => p.metadata.uid !== original.metadata.uid && p.status?.phase === 'Running'), 3000, 'replacement running')
  t.not(replacement.metadata.name, original.metadata.name)
  t.not(replacement.spec.nodeName, original.spec.nodeName, 'the cordoned node gets no new pods')
  t.match(replacement.metadata.ownerReferences, [{ kind: 'ReplicaSet', name: 'web', controller: true }])
  await s.waitFor(x => x.get('Pod', 'default', original.metadata.name) === undefined, 3000, 'evicted pod finished by the kubelet')
  const rs = await s.waitFor(x => { const st = x.get('ReplicaSet', 'default', 'web')?.status; return st?.readyReplicas === 1 ? st : undefined }, 3000, 'rs status')
  t.match(rs, { replicas: 1, readyReplicas: 1, availableReplicas: 1 })
})

t.test('ReplicaSet pods wait unscheduled when no node fits and are bound when one appears', async t => {
  const s = await sim(t, { nodes: [{ name: 'od-a', lifecycle: 'on-demand' }] })
  await s.create({
    apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: { name: 'spot-only', namespace: 'default' },
    spec: { replicas: 1, selector: { matchLabels: { app: 's' } }, template: { metadata: { labels: { app: 's' } }, spec: { nodeSelector: { lifecycle: 'Ec2Spot' }, containers: [{ name: 'c', image: 'i' }] } } }
  })
  const pending = await s.waitFor(x => x.list('Pod', { labelSelector: 'app=s' })[0], 3000, 'pod created')
  t.equal(pending.spec.nodeName, undefined)
  await s.addNode({ name: 'spot-new' })
  const bound = await s.waitFor(x => x.list('Pod', { labelSelector: 'app=s' }).find(p => p.status?.phase === 'Running'), 3000, 'pod bound and running')
  t.equal(bound.spec.nodeName, 'spot-new')
  t.equal(bound.metadata.uid, pending.metadata.uid, 'the same pod was bound')
})

t.test('a Deployment gets a ReplicaSet and pods; deleting it collects them', async t => {
  const s = await sim(t)
  const apps = s.kubeConfig.makeApiClient(k8s.AppsV1Api)
  await apps.createNamespacedDeployment({
    namespace: 'default',
    body: { metadata: { name: 'webhook' }, spec: { replicas: 2, selector: { matchLabels: { app: 'webhook' } }, template: { metadata: { labels: { app: 'webhook' } }, spec: { containers: [{ name: 'w', image: 'w:1' }] } } } }
  })
  await s.waitFor(x => x.get('Deployment', 'default', 'webhook')?.status?.readyReplicas === 2, 3000, 'deployment ready')
  const [rs] = s.list('ReplicaSet', { namespace: 'default' })
  t.match(rs?.metadata.name, /^webhook-[0-9a-f]{10}$/)
  await apps.deleteNamespacedDeployment({ name: 'webhook', namespace: 'default' })
  await s.waitFor(x => x.list('ReplicaSet').length === 0 && x.list('Pod', { labelSelector: 'app=webhook' }).length === 0, 3000, 'dependents collected')
  t.pass('ReplicaSet and pods are garbage-collected')
})

t.test('pods not tolerating a NoExecute taint are deleted; switched-off controllers do nothing', async t => {
  const s = await sim(t)
  await s.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'default' }, spec: { nodeName: 'spot-a', containers: [{ name: 'c', image: 'i' }] } })
  await s.waitFor(x => x.get('Pod', 'default', 'p')?.status?.phase === 'Running', 3000, 'pod running')
  const node = s.get('Node', undefined, 'spot-a')!
  await s.update({ ...node, spec: { ...node.spec, taints: [{ key: 'spot-handler.io/spot-itn', effect: 'NoExecute' }] } })
  await s.waitFor(x => x.get('Pod', 'default', 'p') === undefined, 3000, 'pod evicted by the taint')

  const idle = await startKubeSim({ nodes: [{ name: 'spot-a' }], controllers: { daemonSets: false, kubelet: false } })
  t.teardown(() => idle.close())
  await idle.create({ apiVersion: 'apps/v1', kind: 'DaemonSet', ...handlerDaemonSet() })
  await idle.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'q', namespace: 'default' }, spec: { nodeName: 'spot-a', containers: [{ name: 'c', image: 'i' }] } })
  // A ReplicaSet is still reconciled; once its pod exists, the DaemonSet controller had the same chances to act.
  await idle.create({ apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: { name: 'r', namespace: 'default' }, spec: { replicas: 1, selector: { matchLabels: { app: 'r' } }, template: { metadata: { labels: { app: 'r' } }, spec: { containers: [{ name: 'c', image: 'i' }] } } } })
  await idle.waitFor(x => x.list('Pod', { labelSelector: 'app=r' }).length === 1, 3000, 'rs pod')
  t.same(idle.list('Pod', { labelSelector: 'app=handler' }), [], 'no daemon pods without the DaemonSet controller')
  t.equal(idle.get('Pod', 'default', 'q')?.status?.phase, 'Pending', 'no kubelet: the pod never starts')
})
