/**
 * The pure cores without a server: codec edge cases, handler recognition,
 * patch construction (escaping, odd shapes) and the request filter.
 */
import t from 'tap'
import jsonpatch from 'fast-json-patch'
import { BadReview, parseReview, reviewResponse } from '../../webhook/review.ts'
import { DEFAULT_HANDLER_POLICY, handlerDecision, imageRepository } from '../../webhook/policy.ts'
import { nodeSelectorPatch } from '../../webhook/patch.ts'
import { mutate } from '../../webhook/mutate.ts'
import { describeRequestError, parseJsonBody } from '../../webhook/server.ts'

const daemonSet = (podSpec: Record<string, unknown>, metadata: Record<string, unknown> = {}) => ({ metadata, spec: { template: { metadata: {}, spec: podSpec } } })

t.test('parseReview keeps the fields the webhook uses and defaults the optional ones', async t => {
  const review = parseReview({ apiVersion: 'admission.k8s.io/v1beta1', kind: 'AdmissionReview', request: { uid: 'u', kind: { kind: 'Pod' }, operation: 'DELETE', name: '', dryRun: null } })
  t.same(review, {
    apiVersion: 'admission.k8s.io/v1beta1',
    request: { uid: 'u', kind: { group: '', version: '', kind: 'Pod' }, subResource: undefined, name: undefined, namespace: undefined, operation: 'DELETE', object: undefined, oldObject: undefined, dryRun: false }
  })
  t.throws(() => parseReview({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'u', kind: { kind: 'Pod', group: 5 }, operation: 'DELETE' } }),
    new BadReview('request.kind.group must be a string, got a number'))
  t.throws(() => parseReview({ kind: 'AdmissionReview' }), { message: /got nothing$/ })
})

t.test('reviewResponse leaves out empty warnings, audit annotations and patch', async t => {
  t.same(reviewResponse('admission.k8s.io/v1', 'u', { allowed: true, patch: [], warnings: [], auditAnnotations: {} }),
    { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: 'u', allowed: true } })
})

t.test('imageRepository drops registry, tag and digest', async t => {
  t.equal(imageRepository('amazon/aws-node-termination-handler:v1.0.0'), 'amazon/aws-node-termination-handler')
  t.equal(imageRepository('public.ecr.aws/aws-ec2/aws-node-termination-handler:v1.22.0@sha256:abc'), 'aws-ec2/aws-node-termination-handler')
  t.equal(imageRepository('localhost:5000/spot-interrupt-handler'), 'spot-interrupt-handler')
  t.equal(imageRepository('localhost/x/y:1'), 'x/y')
  t.equal(imageRepository('Busybox'), 'busybox')
})

t.test('handlerDecision follows annotation, then labels, then images', async t => {
  const policy = DEFAULT_HANDLER_POLICY
  t.match(handlerDecision(daemonSet({}, { annotations: { 'spot-handler.io/inject': ' TRUE ' } }), policy), { handler: true, reason: 'annotation spot-handler.io/inject=true' })
  t.match(handlerDecision(daemonSet({}, { labels: { 'k8s-app': 'spot-termination-handler' } }), policy), { handler: true, reason: 'label k8s-app=spot-termination-handler' })
  t.match(handlerDecision(daemonSet({}, { labels: { team: 'aws-node-termination-handler' } }), policy), { handler: false }, 'only the configured label keys count')
  t.match(handlerDecision(daemonSet({ containers: [{ image: 'madhuriperi/samplek8spotinterrupt:latest' }] }), policy), { handler: true, reason: 'image madhuriperi/samplek8spotinterrupt:latest' })
  t.match(handlerDecision(daemonSet({ containers: [{ image: 'other/samplek8spotinterrupt' }] }), policy), { handler: false }, 'an entry with "/" matches whole segments')
  t.match(handlerDecision(daemonSet({ containers: [{ image: 'acme/not-aws-node-termination-handler' }] }), policy), { handler: false }, 'no partial segment match')
  t.match(handlerDecision(daemonSet({ containers: 'nonsense' }), policy), { handler: false, reason: 'no handler annotation, label or image' })
  t.match(handlerDecision(daemonSet({ containers: [{ name: 'no-image' }, null] }), policy), { handler: false })
})

t.test('nodeSelectorPatch escapes "/" and "~" in keys and applies cleanly', async t => {
  const object = daemonSet({ nodeSelector: { a: 'b' } })
  const { ops, added, warnings } = nodeSelectorPatch(object, { 'example.com/x~y': 'v', a: 'b' })
  t.same(ops, [{ op: 'add', path: '/spec/template/spec/nodeSelector/example.com~1x~0y', value: 'v' }])
  t.same(added, { 'example.com/x~y': 'v' })
  t.same(warnings, [])
  const patched = jsonpatch.applyPatch(structuredClone(object), ops, true).newDocument
  t.same(patched.spec.template.spec.nodeSelector, { a: 'b', 'example.com/x~y': 'v' })
  t.same(nodeSelectorPatch(patched, { 'example.com/x~y': 'v' }).ops, [], 'idempotent')
})

t.test('nodeSelectorPatch replaces a null nodeSelector and refuses shapes it cannot patch', async t => {
  t.same(nodeSelectorPatch(daemonSet({ nodeSelector: null }), { lifecycle: 'Ec2Spot' }).ops, [{ op: 'add', path: '/spec/template/spec/nodeSelector', value: { lifecycle: 'Ec2Spot' } }])
  t.same(nodeSelectorPatch(daemonSet({ nodeSelector: 'x' }), { lifecycle: 'Ec2Spot' }), { ops: [], added: {}, warnings: ['spec.template.spec.nodeSelector is not a map, so no nodeSelector was injected'] })
  t.same(nodeSelectorPatch({ spec: {} }, { lifecycle: 'Ec2Spot' }), { ops: [], added: {}, warnings: ['spec.template.spec is missing, so no nodeSelector was injected'] })
  t.same(nodeSelectorPatch(daemonSet({}), {}).ops, [], 'nothing to inject, nothing to add')
})

t.test('mutate passes through what it does not handle, with a reason', async t => {
  const request = { uid: 'u', kind: { group: 'apps', version: 'v1', kind: 'DaemonSet' }, subResource: undefined, name: 'n', namespace: 'ns', operation: 'CREATE' as const, object: undefined, oldObject: undefined, dryRun: false }
  const config = { nodeSelector: { lifecycle: 'Ec2Spot' }, policy: DEFAULT_HANDLER_POLICY }
  t.match(mutate({ ...request, kind: { group: '', version: 'v1', kind: 'Pod' } }, config), { mutated: false, reason: 'not an apps DaemonSet (core/Pod)' })
  t.match(mutate(request, config), { mutated: false, reason: 'no object' })
  t.match(mutate({ ...request, object: { spec: {}, metadata: { annotations: { 'spot-handler.io/inject': 'true' } } } }, config),
    { mutated: false, warnings: ['spec.template.spec is missing, so no nodeSelector was injected'] })
})

t.test('request errors map to a status and a one-line message', async t => {
  t.same(describeRequestError(Object.assign(new Error('Route not found\nmore'), { statusCode: 405 }), undefined, 10), { status: 405, message: 'Route not found' })
  t.same(describeRequestError(new Error('boom\nstack'), undefined, 10), { status: 500, message: 'internal error: boom' })
  t.same(describeRequestError(Object.assign(new Error('x'), { code: 'FST_ERR_CTP_INVALID_CONTENT_LENGTH', statusCode: 400 }), undefined, 10), { status: 400, message: 'request body length does not match Content-Length' })
  t.same(describeRequestError(Object.assign(new Error('x'), { code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE', statusCode: 415 }), undefined, 10), { status: 415, message: 'unsupported content type ""; send application/json' })
  t.throws(() => parseJsonBody('  '), { message: 'request body is empty; expected an AdmissionReview' })
})

t.test('selector keys that are names of Object.prototype are ordinary keys: injected beside an existing selector, conflicts seen', async t => {
  const object = (nodeSelector: Record<string, unknown>) => ({ spec: { template: { spec: { nodeSelector } } } })
  for (const key of ['constructor', 'toString', 'valueOf', 'hasOwnProperty']) {
    const { ops, added } = nodeSelectorPatch(object({ lifecycle: 'Ec2Spot' }), { [key]: 'x' })
    t.same(ops, [{ op: 'add', path: `/spec/template/spec/nodeSelector/${key}`, value: 'x' }], key)
    t.same({ ...added }, { [key]: 'x' })
  }
  t.same(nodeSelectorPatch(object({ constructor: 'y' }), { constructor: 'x' }).warnings, ['nodeSelector already has constructor=y; left as it is instead of constructor=x'])
  t.same(nodeSelectorPatch(JSON.parse('{"spec":{"template":{"spec":{"nodeSelector":{"__proto__":{"lifecycle":"OnDemand"}}}}}}'), { lifecycle: 'Ec2Spot' }).ops, [{ op: 'add', path: '/spec/template/spec/nodeSelector/lifecycle', value: 'Ec2Spot' }], 'a __proto__ key in the request is not inherited')
})

t.test('handler labels are read as own keys only', async t => {
  const ds = { metadata: { labels: JSON.parse('{"__proto__":{"app":"aws-node-termination-handler"}}') }, spec: {} }
  t.equal(handlerDecision(ds, DEFAULT_HANDLER_POLICY).handler, false)
  t.equal(handlerDecision({ metadata: { labels: { constructor: 'aws-node-termination-handler' } }, spec: {} }, { ...DEFAULT_HANDLER_POLICY, labelKeys: ['constructor'] }).handler, true, 'a configured key named like a prototype member works')
})
