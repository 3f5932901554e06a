/**
 * The project's own webhook (issue 1) exercised through the Kubernetes API
 * simulator: a handler DaemonSet created in a namespace labelled
 * spot-handler.io/inject=enabled comes back with lifecycle=Ec2Spot in its
 * nodeSelector; in an unlabelled namespace it does not.
 */
import t from 'tap'
import * as k8s from '@kubernetes/client-node'
import { caBundle } from '../../certs/generate.ts'
import { makeCertDir, TEST_SERVICE } from '../helpers/certs.ts'
import { startTestWebhook } from '../helpers/webhook.ts'
import { startKubeSim } from './k8s/sim.ts'

t.test('the real webhook pins handler DaemonSets in labelled namespaces only', async t => {
  const { dir, set } = await makeCertDir(t)
  const webhook = await startTestWebhook(t, dir)
  const sim = await startKubeSim({
    nodes: [{ name: 'spot-a' }, { name: 'od-a', lifecycle: 'on-demand' }],
    webhookServiceUrl: svc => `https://127.0.0.1:${webhook.port}${svc.path ?? '/'}`
  })
  t.teardown(() => sim.close())
  const admission = sim.kubeConfig.makeApiClient(k8s.AdmissionregistrationV1Api)
  await admission.createMutatingWebhookConfiguration({
    body: {
      metadata: { name: 'spot-webhook' },
      webhooks: [{
        name: 'inject.spot-handler.io',
        clientConfig: { service: { name: TEST_SERVICE.service, namespace: TEST_SERVICE.namespace, path: '/mutate', port: 443 }, caBundle: caBundle(set.ca.cert) },
        rules: [{ operations: ['CREATE', 'UPDATE'], apiGroups: ['apps'], apiVersions: ['v1'], resources: ['daemonsets'], scope: 'Namespaced' }],
        namespaceSelector: { matchLabels: { 'spot-handler.io/inject': 'enabled' } },
        failurePolicy: 'Fail',
        sideEffects: 'None',
        admissionReviewVersions: ['v1', 'v1beta1'],
        timeoutSeconds: 5
      }]
    }
  })
  const core = sim.kubeConfig.makeApiClient(k8s.CoreV1Api)
  await core.createNamespace({ body: { metadata: { name: 'handlers', labels: { 'spot-handler.io/inject': 'enabled' } } } })
  await core.createNamespace({ body: { metadata: { name: 'elsewhere' } } })
  const handler = (namespace: string): k8s.V1DaemonSet => ({
    metadata: { name: 'aws-node-termination-handler', namespace, labels: { 'app.kubernetes.io/name': 'aws-node-termination-handler' } },
    spec: {
      selector: { matchLabels: { app: 'nth' } },
      template: { metadata: { labels: { app: 'nth' } }, spec: { nodeSelector: { 'kubernetes.io/os': 'linux' }, containers: [{ name: 'nth', image: 'public.ecr.aws/aws-ec2/aws-node-termination-handler:v1.22.0' }] } }
    }
  })
  const apps = sim.kubeConfig.makeApiClient(k8s.AppsV1Api)
  const pinned = await apps.createNamespacedDaemonSet({ namespace: 'handlers', body: handler('handlers') })
  t.same(pinned.spec?.template.spec?.nodeSelector, { 'kubernetes.io/os': 'linux', lifecycle: 'Ec2Spot' })
  const untouched = await apps.createNamespacedDaemonSet({ namespace: 'elsewhere', body: handler('elsewhere') })
  t.same(untouched.spec?.template.spec?.nodeSelector, { 'kubernetes.io/os': 'linux' })
  await sim.waitFor(x => x.list('Pod', { namespace: 'handlers' }).length === 1 && x.list('Pod', { namespace: 'elsewhere' }).length === 2, 3000, 'daemon pods placed')
  t.same(sim.list('Pod', { namespace: 'handlers' }).map(p => p.spec.nodeName), ['spot-a'], 'the pinned handler runs on the Spot node only')
  t.equal(sim.requests.filter(r => r.verb === 'create' && r.resource === 'daemonsets').every(r => r.status === 201), true)
})
