import t, { type Test } from 'tap'
import { createServer, type Server } from 'node:https'
import type { AddressInfo } from 'node:net'
import * as k8s from '@kubernetes/client-node'
import { failure } from '../helpers/kube.ts'
import { generateCertificates, caBundle, type CertificateSet } from '../../certs/generate.ts'
import { startKubeSim, type KubeSim, type KubeSimOptions } from './k8s/sim.ts'

/** One CA + serving certificate for the stub (valid for 127.0.0.1 and stub.hooks.svc), shared by the tests. */
const certs: Promise<CertificateSet> = generateCertificates({ service: 'stub', namespace: 'hooks', hosts: ['127.0.0.1'], days: 1, keyType: 'ecdsa' })

interface Review { request: { uid: string, kind: { kind: string }, operation: string, namespace?: string, name: string, object: any, oldObject: any, dryRun: boolean, options: any } }

/** A tiny HTTPS admission webhook: `answer` builds the response for each review; `reviews` records them. */
async function stubWebhook (t: Test, answer: (review: Review) => Record<string, unknown> | Promise<Record<string, unknown>>): Promise<{ url: string, reviews: Review[], paths: string[] }> {
  const set = await certs
  const reviews: Review[] = []
  const paths: string[] = []
  const server: Server = createServer({ cert: set.serving.cert, key: set.serving.key }, (req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const review = JSON.parse(Buffer.concat(chunks).toString()) as Review
      reviews.push(review)
      paths.push(req.url ?? '')
      Promise.resolve(answer(review)).then(response => {
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: review.request.uid, ...response } }))
      }, () => res.destroy())
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>(resolve => { server.close(() => resolve()); server.closeAllConnections() }))
  return { url: `https://127.0.0.1:${(server.address() as AddressInfo).port}/mutate`, reviews, paths }
}

const patchOf = (ops: unknown[]): Record<string, unknown> => ({ allowed: true, patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(ops)).toString('base64') })

/** Adds `lifecycle: Ec2Spot` to the pod template's nodeSelector, as the project's webhook does. */
const injectSpot = (review: Review): Record<string, unknown> => ({
  ...patchOf(review.request.object.spec.template.spec.nodeSelector === undefined
    ? [{ op: 'add', path: '/spec/template/spec/nodeSelector', value: { lifecycle: 'Ec2Spot' } }]
    : [{ op: 'add', path: '/spec/template/spec/nodeSelector/lifecycle', value: 'Ec2Spot' }]),
  warnings: ['injected nodeSelector lifecycle=Ec2Spot']
})

async function webhookConfig (s: KubeSim, name: string, url: string, extra: Record<string, unknown> = {}): Promise<void> {
  await s.create({
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name },
    webhooks: [{
      name: `${name}.spot-handler.io`,
      clientConfig: { url, caBundle: caBundle((await certs).ca.cert) },
      rules: [{ operations: ['CREATE', 'UPDATE'], apiGroups: ['apps'], apiVersions: ['v1'], resources: ['daemonsets'] }],
      namespaceSelector: { matchLabels: { 'spot-handler.io/inject': 'enabled' } },
      sideEffects: 'None',
      admissionReviewVersions: ['v1'],
      timeoutSeconds: 2,
      ...extra
    }]
  })
}

async function sim (t: Test, opts: KubeSimOptions = {}): Promise<KubeSim> {
  const s = await startKubeSim({ nodes: [{ name: 'spot-a' }, { name: 'od-a', lifecycle: 'on-demand' }], kubeletDelayMs: 20, ...opts })
  t.teardown(() => s.close())
  for (const [name, labels] of [['labelled', { 'spot-handler.io/inject': 'enabled' }], ['plain', {}]] as const) {
    await s.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } })
  }
  return s
}

const daemonSet = (namespace: string, name = 'nth'): k8s.V1DaemonSet => ({
  metadata: { name, namespace, labels: { app: 'aws-node-termination-handler' } },
  spec: {
    selector: { matchLabels: { app: name } },
    template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'h', image: 'public.ecr.aws/aws-ec2/aws-node-termination-handler:v1.22.0' }] } }
  }
})

t.test('a DaemonSet in a labelled namespace is patched over verified HTTPS; in an unlabelled one it is not', async t => {
  const s = await sim(t)
  const hook = await stubWebhook(t, injectSpot)
  await webhookConfig(s, 'spot', hook.url)
  const apps = s.kubeConfig.makeApiClient(k8s.AppsV1Api)
  const res = await apps.createNamespacedDaemonSetWithHttpInfo({ namespace: 'labelled', body: daemonSet('labelled') })
  t.same(res.data.spec?.template.spec?.nodeSelector, { lifecycle: 'Ec2Spot' })
  t.equal(res.headers.warning, '299 - "injected nodeSelector lifecycle=Ec2Spot"', 'the client sees the webhook warning')
  t.same(s.get('DaemonSet', 'labelled', 'nth')?.spec.template.spec.nodeSelector, { lifecycle: 'Ec2Spot' }, 'the stored object is patched')
  t.equal(hook.reviews.length, 1)
  t.match(hook.reviews[0]!.request, { kind: { group: 'apps', version: 'v1', kind: 'DaemonSet' }, resource: { group: 'apps', version: 'v1', resource: 'daemonsets' }, operation: 'CREATE', namespace: 'labelled', name: 'nth', dryRun: false, oldObject: null })
  t.equal(hook.paths[0], '/mutate?timeout=2s', 'the API server adds the timeout query parameter')
  await s.waitFor(x => x.list('Pod', { namespace: 'labelled' }).length === 1, 3000, 'daemon pod')
  t.same(s.list('Pod', { namespace: 'labelled' }).map(p => p.spec.nodeName), ['spot-a'], 'the patched DaemonSet runs on Spot nodes only')

  const plain = await apps.createNamespacedDaemonSetWithHttpInfo({ namespace: 'plain', body: daemonSet('plain') })
  t.equal(plain.data.spec?.template.spec?.nodeSelector, undefined)
  t.equal(plain.headers.warning, undefined)
  t.equal(hook.reviews.length, 1, 'the webhook is not called for an unlabelled namespace')
})

t.test('updates go through the webhook with the old object', async t => {
  const s = await sim(t)
  const hook = await stubWebhook(t, injectSpot)
  await webhookConfig(s, 'spot', hook.url)
  const apps = s.kubeConfig.makeApiClient(k8s.AppsV1Api)
  await s.create({ apiVersion: 'apps/v1', kind: 'DaemonSet', ...daemonSet('labelled') })
  // The DaemonSet controller writes status as its pods start; read after that, or the update would (rightly) conflict.
  await s.waitFor(x => x.get('DaemonSet', 'labelled', 'nth')?.status?.numberReady === 2, 3000, 'daemon pods ready')
  const current = await apps.readNamespacedDaemonSet({ name: 'nth', namespace: 'labelled' })
  t.equal(current.spec?.template.spec?.nodeSelector, undefined, 'seeded without admission')
  current.spec!.template.spec!.nodeSelector = { 'kubernetes.io/os': 'linux' }
  const updated = await apps.replaceNamespacedDaemonSet({ name: 'nth', namespace: 'labelled', body: current })
  t.same(updated.spec?.template.spec?.nodeSelector, { 'kubernetes.io/os': 'linux', lifecycle: 'Ec2Spot' })
  t.equal(hook.reviews[0]?.request.operation, 'UPDATE')
  t.same(hook.reviews[0]?.request.oldObject.spec.template.spec.nodeSelector, undefined)
  t.equal(updated.metadata?.generation, 2)
})

t.test('failurePolicy Fail with the webhook down rejects the create with a 500 InternalError', async t => {
  const s = await sim(t)
  const hook = await stubWebhook(t, injectSpot)
  const down = hook.url.replace(/:\d+\//, ':1/')
  await webhookConfig(s, 'spot', down, { failurePolicy: 'Fail' })
  const apps = s.kubeConfig.makeApiClient(k8s.AppsV1Api)
  const err = await failure(apps.createNamespacedDaemonSet({ namespace: 'labelled', body: daemonSet('labelled') }))
  t.equal(err.code, 500)
  t.equal(err.body.reason, 'InternalError')
  t.equal(err.body.message, 'Internal error occurred: failed calling webhook "spot.spot-handler.io": failed to call webhook: Post "https://127.0.0.1:1/mutate?timeout=2s": dial tcp 127.0.0.1:1: connect: connection refused')
  t.equal(s.get('DaemonSet', 'labelled', 'nth'), undefined, 'nothing is stored')
})

t.test('failurePolicy Ignore with the webhook down admits the object unpatched', async t => {
  const s = await sim(t)
  await webhookConfig(s, 'spot', 'https://127.0.0.1:1/mutate', { failurePolicy: 'Ignore' })
  const apps = s.kubeConfig.makeApiClient(k8s.AppsV1Api)
  const created = await apps.createNamespacedDaemonSet({ namespace: 'labelled', body: daemonSet('labelled') })
  t.equal(created.spec?.template.spec?.nodeSelector, undefined)
  t.ok(s.get('DaemonSet', 'labelled', 'nth'))
})

t.test('the server certificate is verified against caBundle', async t => {
  const s = await sim(t)
  const hook = await stubWebhook(t, injectSpot)
  const other = await generateCertificates({ service: 'x', namespace: 'y', hosts: ['127.0.0.1'], days: 1, keyType: 'ecdsa' })
  await webhookConfig(s, 'spot', hook.url, { clientConfig: { url: hook.url, caBundle: caBundle(other.ca.cert) } })
  const apps = s.kubeConfig.makeApiClient(k8s.AppsV1Api)
  const err = await failure(apps.createNamespacedDaemonSet({ namespace: 'labelled', body: daemonSet('labelled') }))
  t.equal(err.code, 500)
  t.match(err.body.message, /x509: certificate signed by unknown authority/)
  t.equal(hook.reviews.length, 0, 'no review reaches an unverified server')
})

t.test('a webhook slower than timeoutSeconds fails the call', async t => {
  const s = await sim(t)
  const hook = await stubWebhook(t, review => new Promise(resolve => setTimeout(() => resolve(injectSpot(review)), 1500)))
  await webhookConfig(s, 'spot', hook.url, { timeoutSeconds: 1 })
  const apps = s.kubeConfig.makeApiClient(k8s.AppsV1Api)
  const err = await failure(apps.createNamespacedDaemonSet({ namespace: 'labelled', body: daemonSet('labelled') }))
  t.equal(err.code, 500)
  t.match(err.body.message, /failed calling webhook "spot.spot-handler.io": failed to call webhook: Post ".*\?timeout=1s": context deadline exceeded$/)
})

t.test('a denial carries the webhook\'s message and code', async t => {
  const s = await sim(t)
  const hook = await stubWebhook(t, () => ({ allowed: false, status: { code: 403, reason: 'Forbidden', message: 'handlers must run on Spot' } }))
  await webhookConfig(s, 'spot', hook.url)
  const apps = s.kubeConfig.makeApiClient(k8s.AppsV1Api)
  const err = await failure(apps.createNamespacedDaemonSet({ namespace: 'labelled', body: daemonSet('labelled') }))
  t.equal(err.code, 403)
  t.equal(err.body.message, 'admission webhook "spot.spot-handler.io" denied the request: handlers must run on Spot')
})

t.test('a malformed response (wrong uid) is a call failure subject to failurePolicy', async t => {
  const s = await sim(t)
  const hook = await stubWebhook(t, () => ({ uid: 'not-the-request', allowed: true }))
  await webhookConfig(s, 'spot', hook.url)
  const err = await failure(s.kubeConfig.makeApiClient(k8s.AppsV1Api).createNamespacedDaemonSet({ namespace: 'labelled', body: daemonSet('labelled') }))
  t.equal(err.code, 500)
  t.match(err.body.message, /expected response.uid=".+", got "not-the-request"/)
})

t.test('objectSelector limits the webhook to matching objects', async t => {
  const s = await sim(t)
  const hook = await stubWebhook(t, injectSpot)
  await webhookConfig(s, 'spot', hook.url, { objectSelector: { matchExpressions: [{ key: 'app', operator: 'In', values: ['aws-node-termination-handler'] }] } })
  const apps = s.kubeConfig.makeApiClient(k8s.AppsV1Api)
  const other = daemonSet('labelled', 'other')
  other.metadata!.labels = { app: 'fluentd' }
  t.equal((await apps.createNamespacedDaemonSet({ namespace: 'labelled', body: other })).spec?.template.spec?.nodeSelector, undefined)
  t.same((await apps.createNamespacedDaemonSet({ namespace: 'labelled', body: daemonSet('labelled') })).spec?.template.spec?.nodeSelector, { lifecycle: 'Ec2Spot' })
  t.equal(hook.reviews.length, 1)
})

t.test('reinvocationPolicy IfNeeded calls a webhook again after a later webhook changed the object', async t => {
  const s = await sim(t)
  const first = await stubWebhook(t, review => review.request.object.metadata.labels?.second === 'yes'
    ? patchOf([{ op: 'add', path: '/metadata/labels/first-saw-second', value: 'yes' }])
    : patchOf([{ op: 'add', path: '/metadata/labels/first', value: 'yes' }]))
  const second = await stubWebhook(t, () => patchOf([{ op: 'add', path: '/metadata/labels/second', value: 'yes' }]))
  await webhookConfig(s, 'a-first', first.url, { reinvocationPolicy: 'IfNeeded' })
  await webhookConfig(s, 'b-second', second.url)
  const created = await s.kubeConfig.makeApiClient(k8s.AppsV1Api).createNamespacedDaemonSet({ namespace: 'labelled', body: daemonSet('labelled') })
  t.match(created.metadata?.labels, { first: 'yes', second: 'yes', 'first-saw-second': 'yes' })
  t.equal(first.reviews.length, 2, 'the first webhook ran twice')
  t.equal(second.reviews.length, 1)
})

t.test('dryRun=All calls webhooks without side effects and stores nothing; others refuse dry runs', async t => {
  const s = await sim(t)
  const hook = await stubWebhook(t, injectSpot)
  await webhookConfig(s, 'spot', hook.url)
  const apps = s.kubeConfig.makeApiClient(k8s.AppsV1Api)
  const preview = await apps.createNamespacedDaemonSet({ namespace: 'labelled', body: daemonSet('labelled'), dryRun: 'All' })
  t.same(preview.spec?.template.spec?.nodeSelector, { lifecycle: 'Ec2Spot' })
  t.equal(hook.reviews[0]?.request.dryRun, true)
  t.equal(s.get('DaemonSet', 'labelled', 'nth'), undefined)
  await webhookConfig(s, 'z-effects', hook.url, { sideEffects: 'Some' })
  const err = await failure(apps.createNamespacedDaemonSet({ namespace: 'labelled', body: daemonSet('labelled'), dryRun: 'All' }))
  t.equal(err.code, 400)
  t.equal(err.body.message, 'admission webhook "z-effects.spot-handler.io" does not support dry run')
})

t.test('service references resolve through webhookServiceUrl and verify <service>.<namespace>.svc', async t => {
  const hook = await stubWebhook(t, injectSpot)
  const calls: unknown[] = []
  const s = await sim(t, { webhookServiceUrl: svc => { calls.push(svc); return hook.url } })
  await webhookConfig(s, 'spot', '', { clientConfig: { service: { namespace: 'hooks', name: 'stub', path: '/mutate', port: 443 }, caBundle: caBundle((await certs).ca.cert) } })
  const created = await s.kubeConfig.makeApiClient(k8s.AppsV1Api).createNamespacedDaemonSet({ namespace: 'labelled', body: daemonSet('labelled') })
  t.same(created.spec?.template.spec?.nodeSelector, { lifecycle: 'Ec2Spot' })
  t.same(calls, [{ namespace: 'hooks', name: 'stub', path: '/mutate', port: 443 }])
  await s.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'other', labels: { 'spot-handler.io/inject': 'enabled' } } })
  await webhookConfig(s, 'wrong-name', '', { clientConfig: { service: { namespace: 'hooks', name: 'not-stub', path: '/mutate' }, caBundle: caBundle((await certs).ca.cert) } })
  const err = await failure(s.kubeConfig.makeApiClient(k8s.AppsV1Api).createNamespacedDaemonSet({ namespace: 'other', body: daemonSet('other') }))
  t.equal(err.code, 500)
  t.match(err.body.message, /failed calling webhook "wrong-name.spot-handler.io".*x509: certificate is not valid for not-stub.hooks.svc/, 'the certificate must name the service')
})

t.test('webhook configurations with a plain-http url are rejected as invalid', async t => {
  const s = await sim(t)
  const api = s.kubeConfig.makeApiClient(k8s.AdmissionregistrationV1Api)
  const err = await failure(api.createMutatingWebhookConfiguration({
    body: { metadata: { name: 'bad' }, webhooks: [{ name: 'bad.example.com', clientConfig: { url: 'http://127.0.0.1/mutate' }, sideEffects: 'None', admissionReviewVersions: ['v1'] }] }
  }))
  t.equal(err.code, 422)
  t.match(err.body.message, /'https' is the only allowed URL scheme/)
  const good = await api.createMutatingWebhookConfiguration({
    body: { metadata: { name: 'good' }, webhooks: [{ name: 'good.example.com', clientConfig: { url: 'https://127.0.0.1/mutate' }, sideEffects: 'None', admissionReviewVersions: ['v1'] }] }
  })
  t.match(good.webhooks?.[0], { failurePolicy: 'Fail', matchPolicy: 'Equivalent', timeoutSeconds: 10, reinvocationPolicy: 'Never', namespaceSelector: {}, objectSelector: {} }, 'defaults are filled in')
})
