import t from 'tap'
import { matchesLabelSelector, matchesRequirements, parseFieldSelector, parseLabelSelector, matchesFields } from './k8s/selectors.ts'
import { applyPatch, mergePatch, strategicMerge } from './k8s/patch.ts'
import { computePdbNumbers, scaledValue, type PdbPod } from './k8s/pdb.ts'
import { ruleMatches, webhookMatches, type AdmissionAttributes, type MutatingWebhook } from './k8s/admission-rules.ts'
import { canSchedule, matchesNodeSelection, tolerates, untoleratedTaints } from './k8s/scheduling.ts'
import { chooseNode, daemonSetPlan, replicaSetPlan } from './k8s/controller-plans.ts'
import { makeNode, parseNodePlan } from './k8s/nodes.ts'
import { parsePath } from './k8s/resources.ts'
import { ApiError, conflict, notFound } from './k8s/status.ts'
import { ObjectStore } from './k8s/store.ts'
import { findResource } from './k8s/resources.ts'

t.test('label selectors support =, ==, !=, in, notin, exists and !exists', async t => {
  const labels = { app: 'web', tier: 'front', lifecycle: 'Ec2Spot' }
  const yes = ['app=web', 'app==web', 'app!=db', 'tier in (front, back)', 'tier notin (back)', 'lifecycle', '!missing', 'app=web,tier in (front)', 'missing!=x']
  const no = ['app=db', 'app!=web', 'tier in (back)', 'tier notin (front,back)', 'missing', '!app', 'app=web,tier=back']
  for (const s of yes) t.ok(matchesRequirements(parseLabelSelector(s), labels), `${s} matches`)
  for (const s of no) t.notOk(matchesRequirements(parseLabelSelector(s), labels), `${s} does not match`)
  t.ok(matchesRequirements(parseLabelSelector(''), labels), 'the empty selector matches everything')
  t.throws(() => parseLabelSelector('app in x'), ApiError, 'malformed selectors are a 400')
})

t.test('LabelSelector objects combine matchLabels and matchExpressions', async t => {
  const selector = { matchLabels: { app: 'web' }, matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['db'] }, { key: 'env', operator: 'Exists' }] }
  t.ok(matchesLabelSelector(selector, { app: 'web', tier: 'front', env: 'prod' }))
  t.notOk(matchesLabelSelector(selector, { app: 'web', tier: 'db', env: 'prod' }))
  t.notOk(matchesLabelSelector(selector, { app: 'web' }))
  t.ok(matchesLabelSelector({}, undefined), 'an empty selector matches objects without labels')
})

t.test('LabelSelector objects refuse operators other than In, NotIn, Exists and DoesNotExist', async t => {
  t.notOk(matchesLabelSelector({ matchExpressions: [{ key: 'gpu', operator: 'DoesNotExist' }] }, { gpu: 'yes' }))
  t.throws(() => matchesLabelSelector({ matchExpressions: [{ key: 'cpus', operator: 'Gt', values: ['2'] }] }, { cpus: '4' }), { message: '"Gt" is not a valid label selector operator' })
})

t.test('required node affinity adds Gt and Lt to the set operators, and an unknown operator matches no node', async t => {
  const node = { metadata: { name: 'spot-a', labels: { cpus: '4', lifecycle: 'Ec2Spot' } } }
  const affinity = (matchExpressions: Array<{ key: string, operator: string, values?: string[] }>) => ({ affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions }] } } } })
  t.ok(matchesNodeSelection(affinity([{ key: 'cpus', operator: 'Gt', values: ['2'] }, { key: 'lifecycle', operator: 'In', values: ['Ec2Spot'] }]), node))
  t.notOk(matchesNodeSelection(affinity([{ key: 'cpus', operator: 'Lt', values: ['4'] }]), node))
  t.ok(matchesNodeSelection(affinity([{ key: 'gpu', operator: 'DoesNotExist' }]), node))
  t.notOk(matchesNodeSelection(affinity([{ key: 'cpus', operator: 'Between', values: ['2', '8'] }]), node))
})

t.test('field selectors accept the supported fields only', async t => {
  const pod = { metadata: { name: 'p', namespace: 'ns' }, spec: { nodeName: 'n1' }, status: { phase: 'Running' } }
  const fields = ['metadata.name', 'metadata.namespace', 'spec.nodeName', 'status.phase']
  t.ok(matchesFields(parseFieldSelector('spec.nodeName=n1,status.phase!=Failed', fields, 'Pod'), pod))
  t.notOk(matchesFields(parseFieldSelector('spec.nodeName==n2', fields, 'Pod'), pod))
  t.notOk(matchesFields(parseFieldSelector('metadata.namespace!=ns', fields, 'Pod'), pod))
  const err = t.throws(() => parseFieldSelector('spec.bogus=1', fields, 'Pod')) as ApiError
  t.equal(err.status.code, 400)
  t.equal(err.status.message, 'field label not supported: spec.bogus')
})

t.test('merge patch merges maps, deletes with null and replaces lists', async t => {
  const node = { metadata: { labels: { a: '1', b: '2' } }, spec: { taints: [{ key: 'x', effect: 'NoSchedule' }] } }
  t.same(mergePatch(node, { metadata: { labels: { a: null, c: '3' } }, spec: { unschedulable: true, taints: [] } }),
    { metadata: { labels: { b: '2', c: '3' } }, spec: { taints: [], unschedulable: true } })
  t.same(node.metadata.labels, { a: '1', b: '2' }, 'the input is not modified')
})

t.test('strategic merge replaces atomic lists such as taints but merges containers by name', async t => {
  const node = { spec: { taints: [{ key: 'old', effect: 'NoSchedule' }] } }
  t.same(strategicMerge(node, { spec: { taints: [{ key: 'new', effect: 'NoExecute' }] } }), { spec: { taints: [{ key: 'new', effect: 'NoExecute' }] } })
  const pod = { spec: { containers: [{ name: 'a', image: 'a:1' }, { name: 'b', image: 'b:1' }] }, metadata: { finalizers: ['x'] } }
  t.same(strategicMerge(pod, { spec: { containers: [{ name: 'b', image: 'b:2' }, { name: 'c', image: 'c:1' }] }, metadata: { finalizers: ['y', 'x'] } }), {
    spec: { containers: [{ name: 'a', image: 'a:1' }, { name: 'b', image: 'b:2' }, { name: 'c', image: 'c:1' }] },
    metadata: { finalizers: ['x', 'y'] }
  })
  t.same(strategicMerge(pod, { spec: { containers: [{ name: 'a', $patch: 'delete' }], '$setElementOrder/containers': [{ name: 'b' }] } }), { spec: { containers: [{ name: 'b', image: 'b:1' }] }, metadata: { finalizers: ['x'] } })
  t.same(strategicMerge(pod, { metadata: { '$deleteFromPrimitiveList/finalizers': ['x'] } }), { spec: pod.spec, metadata: { finalizers: [] } })
  t.same(strategicMerge({ spec: { nodeSelector: { a: '1' } } }, { spec: { nodeSelector: { $patch: 'replace', b: '2' } } }), { spec: { nodeSelector: { b: '2' } } })
})

t.test('JSON patch applies RFC 6902 operations and a failing test is a 422', async t => {
  const node = { metadata: { labels: { a: '1' } }, spec: {} }
  t.same(applyPatch('application/json-patch+json', node, [{ op: 'add', path: '/spec/unschedulable', value: true }, { op: 'remove', path: '/metadata/labels/a' }]),
    { metadata: { labels: {} }, spec: { unschedulable: true } })
  const err = t.throws(() => applyPatch('application/json-patch+json', node, [{ op: 'test', path: '/metadata/labels/a', value: '2' }])) as ApiError
  t.equal(err.status.code, 422)
  const media = t.throws(() => applyPatch('application/apply-patch+yaml', node, {})) as ApiError
  t.equal(media.status.code, 415)
})

t.test('PDB arithmetic follows the disruption controller for ints, percentages and maxUnavailable', async t => {
  const owner = { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'rs', uid: 'u1', controller: true }
  const pod = (ready: boolean, deleting = false): PdbPod => ({
    metadata: { ownerReferences: [owner], ...(deleting ? { deletionTimestamp: '2026-01-01T00:00:00Z' } : {}) },
    status: { phase: 'Running', conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] }
  })
  const pods = [pod(true), pod(true), pod(false), pod(true, true)]
  const scale = (): number => 4
  t.same(computePdbNumbers({ minAvailable: 2 }, pods, scale), { currentHealthy: 2, desiredHealthy: 2, disruptionsAllowed: 0, expectedPods: 4 })
  t.same(computePdbNumbers({ minAvailable: 1 }, pods, scale), { currentHealthy: 2, desiredHealthy: 1, disruptionsAllowed: 1, expectedPods: 4 })
  t.same(computePdbNumbers({ minAvailable: '30%' }, pods, scale), { currentHealthy: 2, desiredHealthy: 2, disruptionsAllowed: 0, expectedPods: 4 }, '30% of 4 rounds up to 2')
  t.same(computePdbNumbers({ maxUnavailable: 1 }, pods, scale), { currentHealthy: 2, desiredHealthy: 3, disruptionsAllowed: 0, expectedPods: 4 })
  t.same(computePdbNumbers({ maxUnavailable: '50%' }, pods, scale), { currentHealthy: 2, desiredHealthy: 2, disruptionsAllowed: 0, expectedPods: 4 })
  t.same(computePdbNumbers({ maxUnavailable: '75%' }, pods, scale), { currentHealthy: 2, desiredHealthy: 1, disruptionsAllowed: 1, expectedPods: 4 })
  const orphan: PdbPod = { metadata: {}, status: { conditions: [{ type: 'Ready', status: 'True' }] } }
  t.equal(computePdbNumbers({ maxUnavailable: 1 }, [orphan], scale).disruptionsAllowed, 0, 'pods without a controller fail closed')
  t.equal(scaledValue('10%', 5), 1)
})

const attrs = (over: Partial<AdmissionAttributes> = {}): AdmissionAttributes => ({
  operation: 'CREATE', group: 'apps', version: 'v1', resource: 'daemonsets', subresource: '', namespaced: true, isNamespace: false,
  objectLabels: { app: 'x' }, namespaceLabels: { 'spot-handler.io/inject': 'enabled' }, ...over
})

t.test('webhook rules match operations, groups, versions, resources and scope', async t => {
  const rule = { operations: ['CREATE', 'UPDATE'], apiGroups: ['apps'], apiVersions: ['v1'], resources: ['daemonsets'] }
  t.ok(ruleMatches(rule, attrs(), false))
  t.notOk(ruleMatches(rule, attrs({ operation: 'DELETE' }), false))
  t.notOk(ruleMatches(rule, attrs({ resource: 'deployments' }), false))
  t.notOk(ruleMatches(rule, attrs({ subresource: 'status' }), false), 'a bare resource does not match its subresources')
  t.ok(ruleMatches({ ...rule, resources: ['daemonsets/*'] }, attrs({ subresource: 'status' }), false))
  t.notOk(ruleMatches({ ...rule, apiVersions: ['v1beta2'] }, attrs(), false), 'Exact needs the served version')
  t.ok(ruleMatches({ ...rule, apiVersions: ['v1beta2'] }, attrs(), true), 'Equivalent accepts another version')
  t.notOk(ruleMatches({ ...rule, scope: 'Cluster' }, attrs(), false))
  t.ok(ruleMatches({ ...rule, resources: ['*'], apiGroups: ['*'], scope: 'Namespaced' }, attrs(), false))
})

t.test('webhooks honour namespaceSelector and objectSelector', async t => {
  const hook: MutatingWebhook = {
    name: 'h', clientConfig: { url: 'https://x' },
    rules: [{ operations: ['*'], apiGroups: ['apps'], apiVersions: ['v1'], resources: ['daemonsets'] }],
    namespaceSelector: { matchLabels: { 'spot-handler.io/inject': 'enabled' } }
  }
  t.ok(webhookMatches(hook, attrs()))
  t.notOk(webhookMatches(hook, attrs({ namespaceLabels: {} })))
  t.notOk(webhookMatches({ ...hook, objectSelector: { matchLabels: { app: 'y' } } }, attrs()))
  t.ok(webhookMatches({ ...hook, objectSelector: { matchLabels: { app: 'y' } } }, attrs({ operation: 'UPDATE', oldObjectLabels: { app: 'y' } })), 'the old object counts too')
})

t.test('tolerations follow Equal/Exists semantics and scheduling respects cordons and taints', async t => {
  const taint = { key: 'spot-handler.io/spot-itn', value: 'e1', effect: 'NoSchedule' }
  t.ok(tolerates({ key: taint.key, operator: 'Exists' }, taint))
  t.ok(tolerates({ operator: 'Exists' }, taint), 'an empty key with Exists tolerates everything')
  t.ok(tolerates({ key: taint.key, value: 'e1', effect: 'NoSchedule' }, taint))
  t.notOk(tolerates({ key: taint.key, value: 'e2' }, taint))
  t.notOk(tolerates({ key: taint.key, operator: 'Exists', effect: 'NoExecute' }, taint))
  const node = makeNode({ name: 'n', taints: [taint] }, 1)
  t.same(untoleratedTaints(node as any, [], ['NoSchedule']).map(x => x.key), [taint.key])
  t.notOk(canSchedule({}, node as any))
  t.ok(canSchedule({ tolerations: [{ operator: 'Exists' }] }, node as any))
  t.notOk(canSchedule({ tolerations: [{ operator: 'Exists' }] }, makeNode({ unschedulable: true }, 2) as any), 'a cordoned node takes no new pods')
  t.notOk(canSchedule({ nodeSelector: { lifecycle: 'Ec2Spot' } }, makeNode({ lifecycle: 'on-demand' }, 3) as any))
})

t.test('the DaemonSet plan places one pod per matching node and keeps it on NoSchedule taints', async t => {
  const ds = { metadata: { name: 'ds', namespace: 'd', uid: 'ds-uid', generation: 1 }, spec: { template: { spec: { nodeSelector: { lifecycle: 'Ec2Spot' } } } } }
  const spot1 = makeNode({ name: 'spot-1' }, 1) as any
  const spot2 = makeNode({ name: 'spot-2', taints: [{ key: 'k', effect: 'NoSchedule' }] }, 2) as any
  const od = makeNode({ name: 'od', lifecycle: 'on-demand' }, 3) as any
  const plan = daemonSetPlan(ds, [spot1, spot2, od], [])
  t.same(plan.create, ['spot-1'])
  t.equal(plan.status.desiredNumberScheduled, 1)
  const pod = { metadata: { name: 'p', uid: 'p', ownerReferences: [{ apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'ds', uid: 'ds-uid', controller: true }], labels: { 'pod-template-generation': '1' } }, spec: { nodeName: 'spot-2' } }
  const again = daemonSetPlan(ds, [spot1, spot2, od], [pod])
  t.same(again.remove, [], 'a NoSchedule taint added later does not evict the daemon pod')
  t.equal(again.status.numberMisscheduled, 1)
  const noExec = makeNode({ name: 'spot-2', taints: [{ key: 'k', effect: 'NoExecute' }] }, 2) as any
  t.same(daemonSetPlan(ds, [spot1, noExec, od], [pod]).remove.map(p => p.metadata.name), ['p'], 'an untolerated NoExecute taint does')
})

t.test('the ReplicaSet plan spreads replacements away from busy nodes', async t => {
  const rs = { metadata: { name: 'rs', uid: 'rs-uid' }, spec: { replicas: 2 } }
  const owned = (name: string, node: string, deleting = false): any => ({ metadata: { name, ownerReferences: [{ uid: 'rs-uid', controller: true }], ...(deleting ? { deletionTimestamp: 'x' } : {}) }, spec: { nodeName: node } })
  const plan = replicaSetPlan(rs, [owned('a', 'n1'), owned('b', 'n2', true)])
  t.equal(plan.create, 1, 'a terminating pod is not an active replica')
  const nodes = ['n1', 'n2', 'n3'].map((name, i) => makeNode({ name }, i + 1) as any)
  t.equal(chooseNode({}, nodes, plan.load)?.metadata.name, 'n3', 'the node without pods of the set wins')
  t.same(replicaSetPlan({ ...rs, spec: { replicas: 1 } }, [owned('a', 'n1'), owned('c', 'n2')]).remove.length, 1)
})

t.test('paths parse into resource, namespace, name and subresource', async t => {
  const p = parsePath('/api/v1/namespaces/demo/pods/web-1/eviction')
  t.equal(p.kind, 'resource')
  if (p.kind === 'resource') t.same([p.path.type.plural, p.path.namespace, p.path.name, p.path.subresource], ['pods', 'demo', 'web-1', 'eviction'])
  const ns = parsePath('/api/v1/namespaces/demo/status')
  if (ns.kind === 'resource') t.same([ns.path.type.plural, ns.path.name, ns.path.subresource], ['namespaces', 'demo', 'status'])
  else t.fail('namespace status path')
  const all = parsePath('/apis/apps/v1/daemonsets')
  if (all.kind === 'resource') t.same([all.path.type.plural, all.path.namespace], ['daemonsets', undefined])
  else t.fail('all-namespaces path')
  t.equal(parsePath('/apis/apps/v1beta1/daemonsets').kind, 'unknown')
  t.equal(parsePath('/api/v1/namespaces/demo/pods/x/exec').kind, 'unknown')
  t.equal(parsePath('/apis/apps/v1').kind, 'discovery')
})

t.test('Status bodies name the qualified resource like the API server', async t => {
  const ds = findResource('apps', 'daemonsets')!
  t.same(notFound(ds, 'x').status, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'daemonsets.apps "x" not found', reason: 'NotFound', details: { name: 'x', group: 'apps', kind: 'daemonsets' }, code: 404 })
  t.equal(conflict(findResource('', 'nodes')!, 'n').status.message, 'Operation cannot be fulfilled on nodes "n": the object has been modified; please apply your changes to the latest version and try again')
})

t.test('the store stamps resourceVersions, bumps generation on spec changes and detects conflicts', async t => {
  const store = new ObjectStore(() => new Date('2026-01-01T00:00:00.123Z'))
  const ds = findResource('apps', 'daemonsets')!
  const created = store.insert(ds, { metadata: { name: 'a', namespace: 'n' }, spec: { x: 1 } })
  t.equal(created.metadata.generation, 1)
  t.equal(created.metadata.creationTimestamp, '2026-01-01T00:00:00Z')
  t.match(created.metadata.uid, /^[0-9a-f-]{36}$/)
  const labelled = store.replace(ds, { ...created, metadata: { ...created.metadata, labels: { l: '1' } } })
  t.equal(labelled.metadata.generation, 1, 'metadata changes keep the generation')
  t.ok(Number(labelled.metadata.resourceVersion) > Number(created.metadata.resourceVersion))
  const respec = store.replace(ds, { ...labelled, spec: { x: 2 } })
  t.equal(respec.metadata.generation, 2)
  const err = t.throws(() => store.replace(ds, created)) as ApiError
  t.equal(err.status.code, 409)
  t.equal(store.replace(ds, respec).metadata.resourceVersion, respec.metadata.resourceVersion, 'a no-op write keeps the resourceVersion')
  const events = store.eventsSince(Number(created.metadata.resourceVersion))
  t.same(events?.map(e => e.type), ['MODIFIED', 'MODIFIED'])
})

t.test('node plans and simulated nodes carry the Spot workshop labels', async t => {
  t.same(parseNodePlan('spot:2,on-demand:1').map(n => n.lifecycle), ['spot', 'spot', 'on-demand'])
  t.throws(() => parseNodePlan('reserved:1'))
  const spot = makeNode({ lifecycle: 'spot' }, 1)
  t.equal(spot.metadata.labels?.lifecycle, 'Ec2Spot')
  t.equal(spot.metadata.labels?.['eks.amazonaws.com/capacityType'], 'SPOT')
  t.equal(makeNode({ lifecycle: 'on-demand' }, 2).metadata.labels?.lifecycle, 'OnDemand')
  t.ok(spot.metadata.labels?.['node.kubernetes.io/instance-type'])
  t.ok(spot.metadata.labels?.['topology.kubernetes.io/zone'])
})

t.test('ages print like kubectl and Table requests are recognised', async t => {
  const { humanAge, wantsTable } = await import('./k8s/tables.ts')
  const now = Date.parse('2026-01-02T00:00:00Z')
  const ago = (seconds: number): string => new Date(now - seconds * 1000).toISOString()
  t.same([ago(5), ago(150), ago(600), ago(7320), ago(14700), ago(3 * 86400)].map(x => humanAge(x, now)), ['5s', '2m30s', '10m', '122m', '4h5m', '3d'])
  t.ok(wantsTable('application/json;as=Table;v=v1;g=meta.k8s.io,application/json'))
  t.notOk(wantsTable('application/json'))
  t.notOk(wantsTable(undefined))
})

t.test('events convert between core/v1 and events.k8s.io/v1 field names', async t => {
  const { toCoreEvent, fromCoreEvent, eventCauses } = await import('./k8s/events.ts')
  const modern = { apiVersion: 'events.k8s.io/v1', kind: 'Event', metadata: { name: 'e', namespace: 'default' }, regarding: { kind: 'Node', name: 'n' }, note: 'hi', reportingController: 'c', reportingInstance: 'i', action: 'A', reason: 'R', type: 'Normal', eventTime: '2026-01-01T00:00:00.000000Z' }
  const core = toCoreEvent(modern)
  t.match(core, { apiVersion: 'v1', involvedObject: { kind: 'Node', name: 'n' }, message: 'hi', reportingComponent: 'c' })
  t.notOk('regarding' in core)
  t.same(fromCoreEvent(core), modern, 'the round trip is lossless')
  t.same(eventCauses(modern, 'events.k8s.io'), [])
  t.same(eventCauses({ ...modern, metadata: { name: 'e', namespace: 'team' } }, 'events.k8s.io').map(c => c.field), ['regarding.namespace'], 'node events belong in default')
  t.same(eventCauses({ metadata: { name: 'e', namespace: 'default' }, regarding: {} }, 'events.k8s.io').map(c => c.field), ['eventTime', 'reportingController', 'reportingInstance', 'action', 'reason', 'type'])
})

/** Bodies captured from `kubectl create secret generic s1 -n demo --from-literal=k=v` and `kubectl create ns demo` (kubectl 1.32). */
const KUBECTL_PROTOBUF = {
  secret: '6b3873000a0c0a027631120653656372657412220a160a02733112001a0464656d6f22002a0032003800420012060a016b1201761a001a002200',
  namespace: '6b3873000a0f0a02763112094e616d657370616365121c0a140a0464656d6f12001a0022002a0032003800420012001a020a001a002200'
}

t.test('protobuf bodies from kubectl decode into the JSON objects they stand for', async t => {
  const { decodeProtobufObject } = await import('./k8s/protobuf.ts')
  t.same(decodeProtobufObject(Buffer.from(KUBECTL_PROTOBUF.secret, 'hex')), { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's1', namespace: 'demo' }, data: { k: Buffer.from('v').toString('base64') } })
  t.same(decodeProtobufObject(Buffer.from(KUBECTL_PROTOBUF.namespace, 'hex')), { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'demo' }, spec: {} })
  const err = t.throws(() => decodeProtobufObject(Buffer.from('6b387300', 'hex'))) as ApiError
  t.equal(err.status.code, 415, 'an envelope without a known kind is unsupported')
  t.equal((t.throws(() => decodeProtobufObject(Buffer.from('{}'))) as ApiError).status.code, 415)
  t.equal((t.throws(() => decodeProtobufObject(Buffer.from('6b3873000aff', 'hex'))) as ApiError).status.code, 400, 'a truncated body is a 400')
})
