import t, { type Test } from 'tap'
import * as k8s from '@kubernetes/client-node'
import { failure } from '../helpers/kube.ts'
import { startKubeSim, type KubeSim, type KubeSimOptions } from './k8s/sim.ts'

async function sim (t: Test, opts: KubeSimOptions = {}): Promise<KubeSim> {
  const s = await startKubeSim({ nodes: [{ name: 'spot-a' }, { name: 'spot-b' }, { name: 'od-a', lifecycle: 'on-demand' }], ...opts })
  t.teardown(() => s.close())
  return s
}

/** The HTTP code and parsed Status body of a rejected client call. */
const pod = (name: string, extra: Partial<k8s.V1Pod> = {}): k8s.V1Pod => ({
  metadata: { name, labels: { app: 'web' } },
  spec: { containers: [{ name: 'c', image: 'nginx' }] },
  ...extra
})

t.test('nodes are listed by label selector and read by name; a missing node is a NotFound Status', async t => {
  const s = await sim(t)
  const core = s.kubeConfig.makeApiClient(k8s.CoreV1Api)
  const spot = await core.listNode({ labelSelector: 'lifecycle=Ec2Spot' })
  t.same(spot.items.map(n => n.metadata?.name), ['spot-a', 'spot-b'])
  t.same((await core.listNode({ labelSelector: 'lifecycle notin (Ec2Spot)' })).items.map(n => n.metadata?.name), ['od-a'])
  t.same((await core.listNode({ fieldSelector: 'metadata.name=spot-b' })).items.map(n => n.metadata?.name), ['spot-b'])
  const node = await core.readNode({ name: 'spot-a' })
  t.equal(node.metadata?.labels?.['eks.amazonaws.com/capacityType'], 'SPOT')
  t.match(node.metadata?.resourceVersion, /^\d+$/)
  const missing = await failure(core.readNode({ name: 'nope' }))
  t.equal(missing.code, 404)
  t.same(missing.body, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'nodes "nope" not found', reason: 'NotFound', details: { name: 'nope', kind: 'nodes' }, code: 404 })
})

t.test('a stale resourceVersion on update is a 409 Conflict; the fresh one succeeds', async t => {
  const s = await sim(t)
  const core = s.kubeConfig.makeApiClient(k8s.CoreV1Api)
  const first = await core.readNode({ name: 'spot-a' })
  const second = await core.readNode({ name: 'spot-a' })
  first.metadata!.labels = { ...first.metadata!.labels, team: 'a' }
  const updated = await core.replaceNode({ name: 'spot-a', body: first })
  t.ok(Number(updated.metadata?.resourceVersion) > Number(first.metadata?.resourceVersion))
  second.metadata!.labels = { ...second.metadata!.labels, team: 'b' }
  const stale = await failure(core.replaceNode({ name: 'spot-a', body: second }))
  t.equal(stale.code, 409)
  t.equal(stale.body.reason, 'Conflict')
  t.equal(stale.body.message, 'Operation cannot be fulfilled on nodes "spot-a": the object has been modified; please apply your changes to the latest version and try again')
  t.equal((await core.readNode({ name: 'spot-a' })).metadata?.labels?.team, 'a', 'the stale write changed nothing')
})

t.test('creating an existing object is a 409 AlreadyExists; a missing namespace is a 404', async t => {
  const s = await sim(t)
  const core = s.kubeConfig.makeApiClient(k8s.CoreV1Api)
  await core.createNamespacedSecret({ namespace: 'default', body: { metadata: { name: 's' }, stringData: { a: 'b' } } })
  const dup = await failure(core.createNamespacedSecret({ namespace: 'default', body: { metadata: { name: 's' } } }))
  t.equal(dup.code, 409)
  t.same([dup.body.reason, dup.body.message, dup.body.details], ['AlreadyExists', 'secrets "s" already exists', { name: 's', kind: 'secrets' }])
  const noNs = await failure(core.createNamespacedPod({ namespace: 'ghost', body: pod('p') }))
  t.equal(noNs.code, 404)
  t.equal(noNs.body.message, 'namespaces "ghost" not found')
  const invalid = await failure(core.createNamespacedPod({ namespace: 'default', body: { metadata: { name: 'Bad_Name' }, spec: { containers: [] } } }))
  t.equal(invalid.code, 422)
  t.equal(invalid.body.reason, 'Invalid')
  t.match(invalid.body.message, /^Pod "Bad_Name" is invalid: metadata.name: Invalid value/)
})

t.test('node patches: strategic merge for taints, merge patch for unschedulable, JSON patch ops', async t => {
  const s = await sim(t)
  const core = s.kubeConfig.makeApiClient(k8s.CoreV1Api)
  const as = (strategy: k8s.PatchStrategy) => k8s.setHeaderOptions('Content-Type', strategy)
  await core.patchNode({ name: 'spot-a', body: { spec: { taints: [{ key: 'existing', effect: 'NoSchedule' }] } } }, as(k8s.PatchStrategy.MergePatch))
  const tainted = await core.patchNode({
    name: 'spot-a',
    body: { spec: { taints: [{ key: 'existing', effect: 'NoSchedule' }, { key: 'spot-handler.io/spot-itn', value: 'e1', effect: 'NoSchedule' }] } }
  }, as(k8s.PatchStrategy.StrategicMergePatch))
  t.same(tainted.spec?.taints?.map(x => x.key), ['existing', 'spot-handler.io/spot-itn'])
  const cordoned = await core.patchNode({ name: 'spot-a', body: { spec: { unschedulable: true } } }, as(k8s.PatchStrategy.MergePatch))
  t.equal(cordoned.spec?.unschedulable, true)
  t.equal(cordoned.spec?.taints?.length, 2, 'a merge patch leaves other fields alone')
  const labelled = await core.patchNode({
    name: 'spot-a',
    body: [{ op: 'add', path: '/metadata/labels/node.kubernetes.io~1exclude-from-external-load-balancers', value: 'true' }, { op: 'remove', path: '/spec/unschedulable' }]
  }, as(k8s.PatchStrategy.JsonPatch))
  t.equal(labelled.metadata?.labels?.['node.kubernetes.io/exclude-from-external-load-balancers'], 'true')
  t.equal(labelled.spec?.unschedulable, undefined)
  const failed = await failure(core.patchNode({ name: 'spot-a', body: [{ op: 'test', path: '/spec/unschedulable', value: true }] }, as(k8s.PatchStrategy.JsonPatch)))
  t.equal(failed.code, 422)
  const stale = await failure(core.patchNode({ name: 'spot-a', body: { metadata: { resourceVersion: '1' }, spec: { unschedulable: true } } }, as(k8s.PatchStrategy.MergePatch)))
  t.equal(stale.code, 409, 'a resourceVersion inside a patch is a precondition')
  const patches = s.requests.filter(r => r.verb === 'patch' && r.resource === 'nodes').map(r => r.contentType)
  t.same(patches, ['application/merge-patch+json', 'application/strategic-merge-patch+json', 'application/merge-patch+json', 'application/json-patch+json', 'application/json-patch+json', 'application/merge-patch+json'])
})

t.test('pods are listed across namespaces by spec.nodeName and labels; unknown fields are a 400', async t => {
  const s = await sim(t, { controllers: { kubelet: false } })
  const core = s.kubeConfig.makeApiClient(k8s.CoreV1Api)
  await core.createNamespace({ body: { metadata: { name: 'team' } } })
  await core.createNamespacedPod({ namespace: 'default', body: pod('a', { spec: { nodeName: 'spot-a', containers: [{ name: 'c', image: 'i' }] } }) })
  await core.createNamespacedPod({ namespace: 'team', body: pod('b', { spec: { nodeName: 'spot-a', containers: [{ name: 'c', image: 'i' }] } }) })
  await core.createNamespacedPod({ namespace: 'team', body: pod('c', { metadata: { name: 'c', labels: { app: 'db' } }, spec: { nodeName: 'spot-b', containers: [{ name: 'c', image: 'i' }] } }) })
  const onA = await core.listPodForAllNamespaces({ fieldSelector: 'spec.nodeName=spot-a' })
  t.same(onA.items.map(p => `${p.metadata?.namespace}/${p.metadata?.name}`), ['default/a', 'team/b'])
  t.same((await core.listNamespacedPod({ namespace: 'team', labelSelector: 'app in (web,db)', fieldSelector: 'status.phase=Pending' })).items.map(p => p.metadata?.name), ['b', 'c'])
  t.same((await core.listPodForAllNamespaces({ labelSelector: 'app!=web' })).items.map(p => p.metadata?.name), ['c'])
  const bad = await failure(core.listPodForAllNamespaces({ fieldSelector: 'spec.bogus=1' }))
  t.equal(bad.code, 400)
  t.equal(bad.body.message, 'field label not supported: spec.bogus')
  const list = await (await fetch(`${s.url}/api/v1/pods`)).json() as any
  t.equal(list.kind, 'PodList')
  t.match(list.metadata.resourceVersion, /^\d+$/)
})

t.test('graceful pod deletion sets deletionTimestamp; gracePeriodSeconds=0 removes at once', async t => {
  const s = await sim(t, { controllers: { kubelet: false } })
  const core = s.kubeConfig.makeApiClient(k8s.CoreV1Api)
  await core.createNamespacedPod({ namespace: 'default', body: pod('p', { spec: { nodeName: 'spot-a', terminationGracePeriodSeconds: 45, containers: [{ name: 'c', image: 'i' }] } }) })
  const deleting = await core.deleteNamespacedPod({ namespace: 'default', name: 'p' })
  t.ok(deleting.metadata?.deletionTimestamp, 'deletionTimestamp is set')
  t.equal(deleting.metadata?.deletionGracePeriodSeconds, 45, 'the pod\'s own grace period applies by default')
  t.ok(await core.readNamespacedPod({ namespace: 'default', name: 'p' }), 'the pod stays until the kubelet finishes it')
  const shorter = await core.deleteNamespacedPod({ namespace: 'default', name: 'p', gracePeriodSeconds: 5 })
  t.equal(shorter.metadata?.deletionGracePeriodSeconds, 5, 'a second delete may shorten the grace period')
  await core.deleteNamespacedPod({ namespace: 'default', name: 'p', gracePeriodSeconds: 0 })
  t.equal((await failure(core.readNamespacedPod({ namespace: 'default', name: 'p' }))).code, 404)
  await core.createNamespacedPod({ namespace: 'default', body: pod('unscheduled') })
  await core.deleteNamespacedPod({ namespace: 'default', name: 'unscheduled' })
  t.equal(s.get('Pod', 'default', 'unscheduled'), undefined, 'a pod never scheduled is deleted immediately')
})

t.test('the kubelet finishes terminating pods after the configured delay and starts scheduled ones', async t => {
  const s = await sim(t, { kubeletDelayMs: 20 })
  const core = s.kubeConfig.makeApiClient(k8s.CoreV1Api)
  await core.createNamespacedPod({ namespace: 'default', body: pod('p', { spec: { nodeName: 'spot-a', containers: [{ name: 'c', image: 'i' }] } }) })
  const running = await s.waitFor(x => { const p = x.get('Pod', 'default', 'p'); return p?.status?.phase === 'Running' ? p : undefined }, 2000, 'pod running')
  t.same(running.status.conditions.find((c: any) => c.type === 'Ready')?.status, 'True')
  t.equal(running.status.hostIP, s.get('Node', undefined, 'spot-a')?.status.addresses[0].address)
  await core.deleteNamespacedPod({ namespace: 'default', name: 'p' })
  await s.waitFor(x => x.get('Pod', 'default', 'p') === undefined, 2000, 'pod removed')
  t.pass('removed well before the 30 s grace period')
})

t.test('events can be created through core/v1 and events.k8s.io/v1', async t => {
  const s = await sim(t)
  const core = s.kubeConfig.makeApiClient(k8s.CoreV1Api)
  const events = s.kubeConfig.makeApiClient(k8s.EventsV1Api)
  const now = new Date()
  const legacy = await core.createNamespacedEvent({
    namespace: 'default',
    body: { metadata: { generateName: 'spot-a.' }, involvedObject: { kind: 'Node', name: 'spot-a' }, reason: 'SpotInterruption', message: 'notice', type: 'Warning', source: { component: 'spot-agent' } }
  })
  t.match(legacy.metadata?.name, /^spot-a\.[a-z0-9]{5}$/)
  const modern = await events.createNamespacedEvent({
    namespace: 'default',
    body: { metadata: { name: 'e2' }, eventTime: now as any, regarding: { kind: 'Node', name: 'spot-a' }, reason: 'Cordon', note: 'cordoned', type: 'Normal', action: 'Cordon', reportingController: 'spot-handler.io/agent', reportingInstance: 'spot-a' }
  })
  t.equal(modern.reason, 'Cordon')
  t.same((await core.listNamespacedEvent({ namespace: 'default', fieldSelector: 'involvedObject.name=spot-a,reason=SpotInterruption' })).items.length, 1)
  const asCore = await core.readNamespacedEvent({ namespace: 'default', name: 'e2' })
  t.match(asCore, { message: 'cordoned', involvedObject: { kind: 'Node', name: 'spot-a' }, reportingComponent: 'spot-handler.io/agent' }, 'both APIs share storage, converted field by field')
  const both = await events.listNamespacedEvent({ namespace: 'default', fieldSelector: 'regarding.name=spot-a' })
  t.same(both.items.map(e => e.note).sort(), ['cordoned', 'notice'])
  const incomplete = await failure(events.createNamespacedEvent({ namespace: 'default', body: { metadata: { name: 'e3' }, regarding: { kind: 'Node', name: 'spot-a' }, reason: 'X', type: 'Normal' } as any }))
  t.equal(incomplete.code, 422)
  t.match(incomplete.body.message, /eventTime: Required value.*reportingController: Required value/)
  const elsewhere = await failure(core.createNamespacedEvent({ namespace: 'kube-system', body: { metadata: { name: 'e4' }, involvedObject: { kind: 'Pod', name: 'p', namespace: 'default' }, reason: 'X' } }))
  t.match(elsewhere.body.message, /involvedObject.namespace: Invalid value: "default": does not match event.namespace/)
})

t.test('dryRun=All runs the create without storing it', async t => {
  const s = await sim(t)
  const core = s.kubeConfig.makeApiClient(k8s.CoreV1Api)
  const preview = await core.createNamespacedConfigMap({ namespace: 'default', dryRun: 'All', body: { metadata: { name: 'cm' }, data: { a: '1' } } })
  t.equal(preview.metadata?.name, 'cm')
  t.equal(s.get('ConfigMap', 'default', 'cm'), undefined)
})

t.test('discovery and version endpoints answer like an API server', async t => {
  const s = await sim(t)
  const version = await s.kubeConfig.makeApiClient(k8s.VersionApi).getCode()
  t.equal(version.major, '1')
  const api = await (await fetch(`${s.url}/api`)).json() as any
  t.same(api.versions, ['v1'])
  const apis = await (await fetch(`${s.url}/apis`)).json() as any
  t.ok(apis.groups.some((g: any) => g.name === 'policy' && g.preferredVersion.version === 'v1'))
  const core = await (await fetch(`${s.url}/api/v1`)).json() as any
  t.ok(core.resources.some((r: any) => r.name === 'pods/eviction' && r.kind === 'Eviction' && r.group === 'policy'))
  const missing = await fetch(`${s.url}/apis/example.com/v1/widgets`)
  t.equal(missing.status, 404)
  t.equal((await missing.json() as any).message, 'the server could not find the requested resource')
})

t.test('injected faults answer with real Status bodies for the chosen verb, path and count', async t => {
  const s = await sim(t)
  const core = s.kubeConfig.makeApiClient(k8s.CoreV1Api)
  const fault = s.injectFault({ verb: 'patch', path: /\/nodes\/spot-a$/, status: 500, count: 1 })
  const throttle = s.injectFault({ verb: 'create', path: 'eviction$', status: 429, retryAfterSeconds: 3, count: 2 })
  const body = { spec: { unschedulable: true } }
  const headers = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch)
  const first = await failure(core.patchNode({ name: 'spot-a', body }, headers))
  t.equal(first.code, 500)
  t.equal(first.body.reason, 'InternalError')
  t.equal((await core.patchNode({ name: 'spot-a', body }, headers)).spec?.unschedulable, true, 'count 1: the next call goes through')
  t.equal((await core.patchNode({ name: 'spot-b', body }, headers)).spec?.unschedulable, true, 'other paths are untouched')
  t.equal(fault.hits, 1)
  const res = await fetch(`${s.url}/api/v1/namespaces/default/pods/x/eviction`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } })
  t.equal(res.status, 429)
  t.equal(res.headers.get('retry-after'), '3')
  t.same((await res.json() as any).details, { retryAfterSeconds: 3 })
  t.equal(throttle.hits, 1)
  s.clearFaults()
  t.equal((await fetch(`${s.url}/api/v1/namespaces/default/pods/x/eviction`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } })).status, 404, 'cleared faults stop applying')
  s.injectFault({ verb: 'get', path: 'nodes/spot-a', drop: true, count: 1 })
  await t.rejects(core.readNode({ name: 'spot-a' }), 'a dropped connection surfaces as a client error')
})

t.test('the request log records verb, path, query, content type and status of every call', async t => {
  const s = await sim(t)
  const core = s.kubeConfig.makeApiClient(k8s.CoreV1Api)
  s.clearRequests()
  await core.listPodForAllNamespaces({ fieldSelector: 'spec.nodeName=spot-a' })
  await failure(core.readNamespacedPod({ namespace: 'default', name: 'ghost' }))
  t.match(s.requests, [
    { method: 'GET', verb: 'list', path: '/api/v1/pods', query: { fieldSelector: 'spec.nodeName=spot-a' }, resource: 'pods', status: 200 },
    { method: 'GET', verb: 'get', path: '/api/v1/namespaces/default/pods/ghost', resource: 'pods', namespace: 'default', name: 'ghost', status: 404 }
  ])
  t.equal(s.requests.length, 2)
  t.ok(s.requests.every(r => typeof r.time === 'string' && r.durationMs >= 0))
  await core.patchNode({ name: 'spot-a', body: { spec: { unschedulable: true } } }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch))
  t.match(s.requests[2], { verb: 'patch', resource: 'nodes', name: 'spot-a', contentType: 'application/merge-patch+json', body: { spec: { unschedulable: true } }, status: 200 }, 'write bodies are recorded')
})

t.test('a client-node informer lists, then follows changes from the list resourceVersion', async t => {
  const s = await sim(t, { controllers: { kubelet: false } })
  const core = s.kubeConfig.makeApiClient(k8s.CoreV1Api)
  await s.create({ apiVersion: 'v1', kind: 'Pod', ...pod('before'), metadata: { name: 'before', namespace: 'default' } })
  const informer = k8s.makeInformer(s.kubeConfig, '/api/v1/namespaces/default/pods', () => core.listNamespacedPod({ namespace: 'default' }))
  const seen: string[] = []
  let resolveDeleted!: () => void
  const deleted = new Promise<void>(resolve => { resolveDeleted = resolve })
  informer.on('add', (p: k8s.V1Pod) => seen.push(`add ${p.metadata?.name}`))
  informer.on('update', (p: k8s.V1Pod) => seen.push(`update ${p.metadata?.name}`))
  informer.on('delete', (p: k8s.V1Pod) => { seen.push(`delete ${p.metadata?.name}`); resolveDeleted() })
  await informer.start()
  t.teardown(() => informer.stop())
  await s.waitFor(x => x.requests.some(r => r.verb === 'watch' && r.query.resourceVersion !== undefined), 2000, 'watch from the list resourceVersion')
  await core.createNamespacedPod({ namespace: 'default', body: pod('after') })
  await core.patchNamespacedPod({ namespace: 'default', name: 'after', body: { metadata: { labels: { x: 'y' } } } }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch))
  await core.deleteNamespacedPod({ namespace: 'default', name: 'after' })
  await deleted
  t.same(seen, ['add before', 'add after', 'update after', 'delete after'])
})

t.test('watches stream changes as ADDED/MODIFIED/DELETED events', async t => {
  const s = await sim(t, { controllers: { kubelet: false } })
  const watch = new k8s.Watch(s.kubeConfig)
  const seen: string[] = []
  const done = new Promise<void>(resolve => {
    void watch.watch('/api/v1/namespaces/default/pods', { labelSelector: 'app=web' }, (type, obj: k8s.V1Pod) => {
      seen.push(`${type} ${obj.metadata?.name}`)
      if (type === 'DELETED') resolve()
    }, () => {}).then(req => t.teardown(() => req.abort()))
  })
  await s.waitFor(x => x.requests.some(r => r.verb === 'watch'), 2000, 'watch open')
  await s.create({ apiVersion: 'v1', kind: 'Pod', ...pod('w'), metadata: { name: 'w', namespace: 'default', labels: { app: 'web' } } })
  await s.create({ apiVersion: 'v1', kind: 'Pod', ...pod('other'), metadata: { name: 'other', namespace: 'default', labels: { app: 'db' } } })
  const current = s.get('Pod', 'default', 'w')!
  await s.update({ ...current, metadata: { ...current.metadata, annotations: { a: '1' } } })
  s.remove('Pod', 'default', 'w')
  await done
  t.same(seen, ['ADDED w', 'MODIFIED w', 'DELETED w'])
})

t.test('waitFor resolves with the predicate value and rejects on timeout naming the condition', async t => {
  const s = await sim(t)
  const later = s.waitFor(x => x.get('Namespace', undefined, 'late'), 2000, 'namespace late')
  await s.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'late' } })
  t.equal((await later).metadata.labels?.['kubernetes.io/metadata.name'], 'late')
  await t.rejects(s.waitFor(() => false, 30, 'never'), /waitFor: never not met within 30 ms/)
})

t.test('with tls the kubeconfig carries the CA and the client verifies the server', async t => {
  const started = performance.now()
  const s = await sim(t, { tls: true })
  t.comment(`TLS simulator started in ${Math.round(performance.now() - started)} ms`)
  t.match(s.url, /^https:\/\/127\.0\.0\.1:\d+$/)
  const document = JSON.parse(s.kubeconfigDocument())
  t.match(document.clusters[0].cluster['certificate-authority-data'], /^[A-Za-z0-9+/=]+$/)
  t.notOk(document.clusters[0].cluster['insecure-skip-tls-verify'])
  const nodes = await s.kubeConfig.makeApiClient(k8s.CoreV1Api).listNode({})
  t.equal(nodes.items.length, 3)
  await t.rejects(fetch(`${s.url}/version`), 'a client without the CA is refused')
})

t.test('invalid label values, annotation keys and taints are rejected with 422 Invalid', async t => {
  const s = await sim(t)
  const core = s.kubeConfig.makeApiClient(k8s.CoreV1Api)
  const merge = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch)
  const label = await failure(core.patchNode({ name: 'spot-a', body: { metadata: { labels: { 'spot-handler.io/noticed-at': '2026-11-21T06:46:40Z' } } } }, merge))
  t.equal(label.code, 422)
  t.match(label.body.message, /^Node "spot-a" is invalid: metadata.labels: Invalid value: "2026-11-21T06:46:40Z": a valid label must be an empty string/)
  const key = await failure(core.patchNode({ name: 'spot-a', body: { metadata: { annotations: { 'bad key': 'x' } } } }, merge))
  t.equal(key.code, 422)
  const effect = await failure(core.patchNode({ name: 'spot-a', body: { spec: { taints: [{ key: 'a', effect: 'NoWay' }] } } }, merge))
  t.match(effect.body.message, /spec.taints\[0\].effect: Unsupported value: "NoWay"/)
  const duplicate = await failure(core.patchNode({ name: 'spot-a', body: { spec: { taints: [{ key: 'a', value: '1', effect: 'NoSchedule' }, { key: 'a', value: '2', effect: 'NoSchedule' }] } } }, merge))
  t.match(duplicate.body.message, /taints must be unique by key and effect pair/)
  t.same(s.get('Node', undefined, 'spot-a')?.spec.taints, undefined, 'nothing was stored')
  const ok = await core.patchNode({ name: 'spot-a', body: { metadata: { annotations: { 'spot-handler.io/state': '{"at":"2026-11-21T06:46:40Z"}' } } } }, merge)
  t.equal(ok.metadata?.annotations?.['spot-handler.io/state'], '{"at":"2026-11-21T06:46:40Z"}', 'annotation values are free text')
})

t.test('a patch without resourceVersion is re-applied when a concurrent write wins; a stale conditional update is not', async t => {
  const s = await sim(t)
  const core = s.kubeConfig.makeApiClient(k8s.CoreV1Api)
  const admit = s.cluster.admission
  let raced = false
  s.cluster.admission = async request => {
    if (!raced && request.kind === 'Node') {
      raced = true
      const node = s.get('Node', undefined, 'spot-a')!
      await s.update({ ...node, metadata: { ...node.metadata, labels: { ...node.metadata.labels, concurrent: 'yes' } } })
    }
    return await admit(request)
  }
  const patched = await core.patchNode({ name: 'spot-a', body: { spec: { unschedulable: true } } }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch))
  t.equal(patched.spec?.unschedulable, true)
  t.equal(patched.metadata?.labels?.concurrent, 'yes', 'the concurrent change is kept')
  const before = await core.readNode({ name: 'spot-b' })
  raced = false
  s.cluster.admission = async request => {
    if (!raced) {
      raced = true
      const node = s.get('Node', undefined, 'spot-b')!
      await s.update({ ...node, metadata: { ...node.metadata, labels: { ...node.metadata.labels, concurrent: 'yes' } } })
    }
    return await admit(request)
  }
  before.spec = { ...before.spec, unschedulable: true }
  t.equal((await failure(core.replaceNode({ name: 'spot-b', body: before }))).code, 409)
})

t.test('pods bound to a deleted node are garbage-collected', async t => {
  const s = await sim(t)
  const core = s.kubeConfig.makeApiClient(k8s.CoreV1Api)
  await s.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'default' }, spec: { nodeName: 'spot-b', containers: [{ name: 'c', image: 'i' }] } })
  await core.deleteNode({ name: 'spot-b' })
  await s.waitFor(x => x.get('Pod', 'default', 'p') === undefined, 3000, 'orphaned pod collected')
  t.equal((await core.listNode({})).items.length, 2)
})

t.test('kubectl-style Table requests get server-side printed columns', async t => {
  const s = await sim(t)
  const accept = 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json'
  const node = s.get('Node', undefined, 'spot-a')!
  await s.update({ ...node, spec: { ...node.spec, unschedulable: true } })
  const res = await fetch(`${s.url}/api/v1/nodes?labelSelector=lifecycle%3DEc2Spot`, { headers: { accept } })
  const table = await res.json() as any
  t.equal(table.kind, 'Table')
  t.same(table.columnDefinitions.filter((c: any) => c.priority === 0).map((c: any) => c.name), ['Name', 'Status', 'Roles', 'Age', 'Version'])
  t.same(table.rows.map((r: any) => r.cells.slice(0, 2)), [['spot-a', 'Ready,SchedulingDisabled'], ['spot-b', 'Ready']])
  t.equal(table.rows[0].object.kind, 'PartialObjectMetadata')
  const plain = await (await fetch(`${s.url}/api/v1/nodes/spot-a`)).json() as any
  t.equal(plain.kind, 'Node', 'without the Accept header the object itself comes back')
})

t.test('a list asked for metadata only answers a PartialObjectMetadataList; a plain Accept the objects', async t => {
  const s = await sim(t)
  const accept = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json'
  const list = await (await fetch(`${s.url}/api/v1/nodes?labelSelector=lifecycle%3DEc2Spot`, { headers: { accept } })).json() as any
  t.equal(list.kind, 'PartialObjectMetadataList')
  t.equal(list.apiVersion, 'meta.k8s.io/v1')
  t.ok(list.metadata.resourceVersion, 'with the list\'s resourceVersion')
  t.same(list.items.map((i: any) => [i.kind, i.metadata.name, i.status]), [['PartialObjectMetadata', 'spot-a', undefined], ['PartialObjectMetadata', 'spot-b', undefined]], 'metadata, no status')
  t.equal(list.items[0].metadata.labels.lifecycle, 'Ec2Spot')
  const plain = await (await fetch(`${s.url}/api/v1/nodes?labelSelector=lifecycle%3DEc2Spot`, { headers: { accept: 'application/json' } })).json() as any
  t.equal(plain.kind, 'NodeList')
  t.ok(plain.items[0].status, 'whole objects')
  t.equal(s.requests.at(-2)?.accept, accept, 'the request log keeps the Accept header')
})

t.test('finalizers hold a deleted object until they are removed; Orphan keeps dependents', async t => {
  const s = await sim(t, { controllers: { replicaSets: false } })
  const core = s.kubeConfig.makeApiClient(k8s.CoreV1Api)
  await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'held', finalizers: ['example.com/hold'] } } })
  await core.deleteNamespacedConfigMap({ namespace: 'default', name: 'held' })
  const held = await core.readNamespacedConfigMap({ namespace: 'default', name: 'held' })
  t.ok(held.metadata?.deletionTimestamp, 'still there, marked for deletion')
  await core.patchNamespacedConfigMap({ namespace: 'default', name: 'held', body: [{ op: 'remove', path: '/metadata/finalizers' }] }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch))
  t.equal(s.get('ConfigMap', 'default', 'held'), undefined, 'gone once the last finalizer is removed')

  const rs = await s.create({ apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: { name: 'rs', namespace: 'default' }, spec: { replicas: 1, selector: { matchLabels: { a: 'b' } }, template: { metadata: { labels: { a: 'b' } }, spec: { containers: [{ name: 'c', image: 'i' }] } } } })
  const ref = { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'rs', uid: rs.metadata.uid!, controller: true }
  await s.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'kept', namespace: 'default', ownerReferences: [ref] }, spec: { containers: [{ name: 'c', image: 'i' }] } })
  await s.kubeConfig.makeApiClient(k8s.AppsV1Api).deleteNamespacedReplicaSet({ namespace: 'default', name: 'rs', propagationPolicy: 'Orphan' })
  t.same(s.get('Pod', 'default', 'kept')?.metadata.ownerReferences, [], 'the orphan loses its owner reference but stays')
})

t.test('deleting a namespace removes its contents; status updates only touch status', async t => {
  const s = await sim(t)
  const core = s.kubeConfig.makeApiClient(k8s.CoreV1Api)
  await core.createNamespace({ body: { metadata: { name: 'gone' } } })
  await core.createNamespacedSecret({ namespace: 'gone', body: { metadata: { name: 's' } } })
  const ns = await core.deleteNamespace({ name: 'gone' }) as unknown as k8s.V1Namespace
  t.equal(ns.status?.phase, 'Terminating')
  t.equal((await failure(core.readNamespacedSecret({ namespace: 'gone', name: 's' }))).code, 404)
  t.equal((await failure(core.readNamespace({ name: 'gone' }))).code, 404)

  const node = await core.readNode({ name: 'spot-a' })
  node.metadata!.labels = { ...node.metadata!.labels, ignored: 'yes' }
  node.status!.conditions = [{ type: 'Ready', status: 'False', reason: 'KubeletNotReady' }]
  const updated = await core.replaceNodeStatus({ name: 'spot-a', body: node })
  t.equal(updated.status?.conditions?.[0]?.status, 'False')
  t.equal(updated.metadata?.labels?.ignored, undefined, 'labels sent to /status are ignored')
  node.status!.conditions = []
  node.metadata!.resourceVersion = updated.metadata?.resourceVersion
  const main = await core.replaceNode({ name: 'spot-a', body: node })
  t.equal(main.status?.conditions?.[0]?.status, 'False', 'status sent to the main resource is ignored')
})

t.test('a watch from a resourceVersion older than the kept history ends with 410 Expired', async t => {
  const s = await sim(t, { controllers: { daemonSets: false, replicaSets: false, deployments: false, kubelet: false, disruption: false } })
  const start = s.get('Node', undefined, 'spot-a')!.metadata.resourceVersion
  for (let i = 0; i < 5001; i++) {
    const node = s.get('Node', undefined, 'spot-a')!
    await s.update({ ...node, metadata: { ...node.metadata, annotations: { i: String(i) } } })
  }
  const res = await fetch(`${s.url}/api/v1/nodes?watch=true&resourceVersion=${start}`)
  t.equal(res.status, 200)
  t.match(JSON.parse((await res.text()).trim()), { type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired' } })
  const abort = new AbortController()
  const recent = await fetch(`${s.url}/api/v1/nodes?watch=true&resourceVersion=${Number(s.cluster.store.resourceVersion) - 1}`, { signal: abort.signal })
  const first = await recent.body!.getReader().read()
  abort.abort()
  t.match(JSON.parse(new TextDecoder().decode(first.value).trim()), { type: 'MODIFIED', object: { metadata: { name: 'spot-a', annotations: { i: '5000' } } } }, 'a recent resourceVersion replays what followed it')
})

t.test('kubectl create namespace (a protobuf body) creates the namespace; unknown protobuf kinds are a 415', async t => {
  const s = await sim(t)
  // The body kubectl 1.32 sends for `kubectl create ns demo`.
  const body = Buffer.from('6b3873000a0f0a02763112094e616d657370616365121c0a140a0464656d6f12001a0022002a0032003800420012001a020a001a002200', 'hex')
  const res = await fetch(`${s.url}/api/v1/namespaces?fieldManager=kubectl-create`, { method: 'POST', body, headers: { 'content-type': 'application/vnd.kubernetes.protobuf', accept: 'application/vnd.kubernetes.protobuf,application/json' } })
  t.equal(res.status, 201)
  t.equal(res.headers.get('content-type'), 'application/json', 'answers in JSON, which the client accepts')
  t.match(await res.json(), { kind: 'Namespace', metadata: { name: 'demo', labels: { 'kubernetes.io/metadata.name': 'demo' } }, status: { phase: 'Active' } })
  const deployment = Buffer.concat([Buffer.from('6b3873000a', 'hex'), Buffer.from([21, 0x0a, 7, ...Buffer.from('apps/v1'), 0x12, 10, ...Buffer.from('Deployment')])])
  const unknown = await fetch(`${s.url}/apis/apps/v1/namespaces/demo/deployments`, { method: 'POST', body: deployment, headers: { 'content-type': 'application/vnd.kubernetes.protobuf' } })
  t.equal(unknown.status, 415)
  t.match((await unknown.json() as any).message, /does not decode protobuf bodies of apps\/v1 Deployment/)
})

t.test('as the API server: a JSON patch may add /spec/taints to a Node created without a spec; an unknown patch type is 415', async t => {
  const s = await sim(t)
  await s.create({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'bare' } })
  const patch = (contentType: string, body: string): Promise<Response> => fetch(`${s.url}/api/v1/nodes/bare`, { method: 'PATCH', headers: { 'content-type': contentType }, body })
  const added = await patch('application/json-patch+json', JSON.stringify([{ op: 'add', path: '/spec/taints', value: [{ key: 'k', value: 'v', effect: 'NoSchedule' }] }]))
  t.equal(added.status, 200)
  t.same((await added.json()).spec.taints, [{ key: 'k', value: 'v', effect: 'NoSchedule' }])
  const plain = await patch('text/plain', 'whatever')
  t.equal(plain.status, 415)
  t.match(await plain.json(), { reason: 'UnsupportedMediaType', code: 415 })
})
