import t from 'tap'
import { join } from 'node:path'
import { checkInstall, checkAgent, checkSecurityContexts, checkWebhookNetworkPolicy, DEFAULT_EXPECTATION } from './install-checks.ts'
import { KUSTOMIZE_DIR, kustomizeBuild, only } from './render.ts'

const base = await kustomizeBuild()

t.test('kubectl kustomize deploy/ renders a complete, least-privilege install', async t => {
  checkInstall(t, base)
})

t.test('the base sets only the agent settings a deployment needs, on ports clear of the host', async t => {
  const env = checkAgent(t, base, DEFAULT_EXPECTATION)
  t.same(Object.keys(env).sort(), ['ENABLE_ASG_LIFECYCLE_DRAINING', 'ENABLE_PROBES_SERVER', 'ENABLE_PROMETHEUS_SERVER', 'JSON_LOGGING', 'LOG_LEVEL', 'NODE_NAME', 'POD_NAME', 'POD_NAMESPACE', 'PROBES_SERVER_PORT', 'PROMETHEUS_SERVER_PORT', 'UPTIME_FROM_FILE'])
  t.not(env.PROBES_SERVER_PORT, '8080', 'not the agent default 8080, which hostNetwork makes clash with other node daemons')
})

t.test('the base images are all the one project image, set in one place', async t => {
  const images = new Set(base.flatMap(o => [o.spec?.template?.spec, o.spec?.jobTemplate?.spec?.template?.spec])
    .flatMap(spec => spec?.containers ?? []).map((c: any) => c.image))
  t.same([...images], ['spot-interrupt-handler:0.1.0'])
})

t.test('the spot-only overlay drops the webhook and its certificates and keeps a hardened agent', async t => {
  const objects = await kustomizeBuild(join(KUSTOMIZE_DIR, 'overlays', 'spot-only'))
  t.same(objects.map(o => `${o.kind}/${o.metadata.name}`).sort(),
    ['ClusterRole/spot-agent', 'ClusterRoleBinding/spot-agent', 'DaemonSet/spot-agent', 'Namespace/spot-handler', 'ServiceAccount/spot-agent'])
  t.notOk(only(objects, 'Namespace').metadata.labels?.['spot-handler.io/inject'], 'nothing to opt in to')
  checkSecurityContexts(t, objects)
  checkAgent(t, objects, DEFAULT_EXPECTATION)
})

t.test('the EKS overlay injects the managed node group capacity label instead', async t => {
  const objects = await kustomizeBuild(join(KUSTOMIZE_DIR, 'overlays', 'eks-capacity-type'))
  checkInstall(t, objects, { ...DEFAULT_EXPECTATION, nodeSelector: { 'eks.amazonaws.com/capacityType': 'SPOT' } })
})

t.test('the network-policy overlay adds a policy that admits only the API server to the review port', async t => {
  const objects = await kustomizeBuild(join(KUSTOMIZE_DIR, 'overlays', 'network-policy'))
  checkInstall(t, objects.filter(o => o.kind !== 'NetworkPolicy'))
  checkWebhookNetworkPolicy(t, objects, ['192.168.0.0/16'])
})
