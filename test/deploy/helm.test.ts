import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { AGENT_OPTIONS } from '../../agent/config.ts'
import { checkAgent, checkInstall, checkSecurityContexts, checkWebhookNetworkPolicy, DEFAULT_EXPECTATION, permissionsOf, type InstallExpectation } from './install-checks.ts'
import { CHART_DIR, helmTemplate, only, parseYaml, podSpecs, type KubeObject } from './render.ts'
import { ensureTool, run } from './tools.ts'

const helm = await ensureTool('helm')
const defaults = parseYaml(readFileSync(join(CHART_DIR, 'values.yaml'), 'utf8'))

/** The environment the chart should give the agent for `config` (values.yaml agent.config merged with overrides). */
function expectedAgentEnv (config: Record<string, unknown>): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [key, value] of Object.entries(config)) {
    const spec = (AGENT_OPTIONS as Record<string, { env: string }>)[key]
    if (spec === undefined) throw new Error(`values.yaml agent.config.${key} is not an agent option`)
    const text = Array.isArray(value) ? value.join(',') : value === null ? '' : String(value)
    if (text !== '') env[spec.env] = text
  }
  return env
}

/** The agent container's literal env values (downward API and Secret references left out). */
function literalEnv (objects: readonly KubeObject[], name = 'spot-agent'): Record<string, string> {
  const container = only(objects, 'DaemonSet', name).spec.template.spec.containers[0]
  return Object.fromEntries(container.env.filter((v: any) => v.value !== undefined).map((v: any) => [v.name, v.value]))
}

t.test('helm lint passes with default and non-default values', async t => {
  for (const args of [[], ['--set', 'certManager.enabled=true,prometheus.serviceMonitor.enabled=true,prometheus.podMonitor.enabled=true,webhook.failurePolicy=Fail']]) {
    const result = await run(helm, ['lint', '--strict', CHART_DIR, ...args])
    t.equal(result.code, 0, `helm lint ${args.join(' ')}: ${result.stderr}`)
    t.match(result.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/)
  }
})

t.test('values.yaml offers every agent setting except those the chart fills itself', async t => {
  const filledByChart = ['nodeName', 'podName', 'podNamespace', 'webhookUrl', 'webhookHeaders']
  t.same([...Object.keys(defaults.agent.config), ...filledByChart].sort(), Object.keys(AGENT_OPTIONS).sort())
})

t.test('helm template with default values renders a complete, least-privilege install', async t => {
  const objects = await helmTemplate()
  checkInstall(t, objects)
  t.same(literalEnv(objects), expectedAgentEnv(defaults.agent.config), 'the agent gets every setting of values.yaml under its own variable name')
  t.ok(only(objects, 'Job').metadata.name.startsWith('spot-certs-'), 'a certificate Job per release revision')
  t.equal(only(objects, 'CronJob').spec.schedule, defaults.certs.renewSchedule, 'a renewal CronJob')
})

t.test('spotNodeSelector reaches --node-selector; nodeSelector has the Node Termination Handler\'s meaning and pins the agent itself', async t => {
  const seed = await helmTemplate(['--set', 'nodeSelector.lifecycle=Ec2Spot'])
  t.same(only(seed, 'DaemonSet').spec.template.spec.nodeSelector, { 'kubernetes.io/os': 'linux', lifecycle: 'Ec2Spot' }, 'as in the NTH guide: the agent DaemonSet gets the selector')
  t.ok(only(seed, 'Deployment').spec.template.spec.containers[0].args.includes('--node-selector=lifecycle=Ec2Spot'), 'and the webhook keeps its default')
  const other = await helmTemplate(['--set', 'spotNodeSelector.lifecycle=Spot', '--set-string', 'spotNodeSelector.eks\\.amazonaws\\.com/capacityType=SPOT'])
  checkInstall(t, other, { ...DEFAULT_EXPECTATION, nodeSelector: { lifecycle: 'Spot', 'eks.amazonaws.com/capacityType': 'SPOT' } })
  const none = await run(helm, ['template', 'x', CHART_DIR, '--set', 'spotNodeSelector=null'])
  t.not(none.code, 0, 'an empty selector is refused')
  t.match(none.stderr, /spotNodeSelector must have at least one label/)
})

t.test('non-default values reach every object', async t => {
  const agentOverrides = { dryRun: true, pollInterval: '500ms', probesServerPort: 9200, enableRebalanceMonitoring: true, rebalanceUncordonAfter: '30m', deleteAtDeadline: ['spot-itn', 'rebalance-recommendation'], webhookTemplate: '{"text":"{{ .NodeName }}"}' }
  const objects = await helmTemplate([
    '--set', 'namespace.name=spot-system,webhook.name=spot-admission,agent.name=spot-node-agent,certs.secretName=admission-tls',
    '--set', 'webhook.configurationName=spot-admission,webhook.failurePolicy=Fail,webhook.timeoutSeconds=3,webhook.replicas=3',
    '--set', 'image.repository=registry.example.com/platform/spot-interrupt-handler,image.tag=1.2.3',
    '--set', 'webhook.handlers.names={custom-handler},webhook.handlers.images={example/handler}',
    '--set', 'agent.notifications.urlSecret.name=slack,agent.notifications.headersSecret.name=slack',
    '--set', 'commonLabels.team=platform,commonAnnotations.owner=sre',
    '--set-json', `agent.config=${JSON.stringify(agentOverrides)}`
  ])
  const e: InstallExpectation = { ...DEFAULT_EXPECTATION, namespace: 'spot-system', webhookName: 'spot-admission', agentName: 'spot-node-agent', secretName: 'admission-tls', configName: 'spot-admission', failurePolicy: 'Fail', timeoutSeconds: 3, webhookReplicas: 3 }
  checkInstall(t, objects, e)
  t.same(literalEnv(objects, 'spot-node-agent'), expectedAgentEnv({ ...defaults.agent.config, ...agentOverrides }), 'overridden agent settings reach the env')
  const agent = only(objects, 'DaemonSet').spec.template.spec.containers[0]
  for (const name of ['WEBHOOK_URL', 'WEBHOOK_HEADERS']) {
    t.same(agent.env.find((v: any) => v.name === name)?.valueFrom?.secretKeyRef?.name, 'slack', `${name} comes from the Secret`)
  }
  const webhookArgs = only(objects, 'Deployment').spec.template.spec.containers[0].args
  t.ok(webhookArgs.includes('--handler-names=custom-handler') && webhookArgs.includes('--handler-images=example/handler'), 'handler lists reach the webhook')
  for (const { owner, spec } of podSpecs(objects)) {
    t.equal(spec.containers[0].image, 'registry.example.com/platform/spot-interrupt-handler:1.2.3', `${owner} image`)
  }
  for (const o of objects) {
    t.equal(o.metadata.labels?.team, 'platform', `${o.kind}/${o.metadata.name} has the common label`)
    t.equal(o.metadata.annotations?.owner, 'sre', `${o.kind}/${o.metadata.name} has the common annotation`)
  }
})

t.test('cert-manager replaces the certificate job and injects the CA through the annotation', async t => {
  const objects = await helmTemplate(['--set', 'certManager.enabled=true'])
  t.notOk(objects.some(o => ['Job', 'CronJob', 'Role', 'RoleBinding'].includes(o.kind) || o.metadata.name === 'spot-certs'), 'no certificate job or its rights')
  t.same(permissionsOf(objects, 'spot-handler', 'spot-certs'), [])
  const certificate = only(objects, 'Certificate')
  const config = only(objects, 'MutatingWebhookConfiguration')
  t.equal(config.metadata.annotations?.['cert-manager.io/inject-ca-from'], `spot-handler/${certificate.metadata.name}`)
  t.equal(certificate.spec.secretName, DEFAULT_EXPECTATION.secretName, 'cert-manager writes the Secret the webhook mounts')
  t.ok(certificate.spec.dnsNames.includes('spot-webhook.spot-handler.svc'), 'the name the API server uses')
  t.equal(certificate.spec.issuerRef.name, only(objects, 'Issuer').metadata.name)
  checkSecurityContexts(t, objects)
})

t.test('optional monitors select the webhook Service and the agent pods by their metrics ports', async t => {
  const objects = await helmTemplate(['--set', 'prometheus.serviceMonitor.enabled=true,prometheus.podMonitor.enabled=true,certs.renewSchedule='])
  t.notOk(objects.some(o => o.kind === 'CronJob'), 'an empty renewSchedule disables the CronJob')
  const service = only(objects, 'Service')
  const serviceMonitor = only(objects, 'ServiceMonitor')
  for (const [key, value] of Object.entries(serviceMonitor.spec.selector.matchLabels)) t.equal(service.metadata.labels?.[key], value, `ServiceMonitor selects the Service (${key})`)
  t.ok(service.spec.ports.some((p: any) => p.name === serviceMonitor.spec.endpoints[0].port), 'the Service has the scraped port')
  const ds = only(objects, 'DaemonSet')
  const podMonitor = only(objects, 'PodMonitor')
  for (const [key, value] of Object.entries(podMonitor.spec.selector.matchLabels)) t.equal(ds.spec.template.metadata.labels[key], value, `PodMonitor selects the agent pods (${key})`)
  const metrics = ds.spec.template.spec.containers[0].ports.find((p: any) => p.name === podMonitor.spec.podMetricsEndpoints[0].port)
  t.equal(String(metrics?.containerPort), String(defaults.agent.config.prometheusServerPort), 'the agent exposes the scraped port')
  const defaultsOnly = await helmTemplate()
  t.notOk(defaultsOnly.some(o => o.kind === 'ServiceMonitor' || o.kind === 'PodMonitor'), 'monitors are off by default')
})

t.test('the agent can be left out and its probes follow a shared metrics port', async t => {
  const without = await helmTemplate(['--set', 'agent.enabled=false'])
  t.notOk(without.some(o => o.kind === 'DaemonSet' || o.metadata.name === 'spot-agent'))
  const shared = await helmTemplate(['--set', 'agent.config.probesServerPort=9470'])
  const ds = only(shared, 'DaemonSet')
  t.same(ds.spec.template.spec.containers[0].ports.map((p: any) => p.containerPort), [9470], 'one port when probes and metrics share it')
  checkAgent(t, shared, DEFAULT_EXPECTATION)
})

t.test('the webhook NetworkPolicy admits only the given API server addresses to the review port, and is refused without them', async t => {
  t.notOk((await helmTemplate()).some(o => o.kind === 'NetworkPolicy'), 'off by default')
  const scraper = { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }
  const objects = await helmTemplate(['--set', 'webhook.networkPolicy.enabled=true,webhook.networkPolicy.apiServerCIDRs={10.0.0.0/16,10.1.0.0/16}', '--set-json', `webhook.networkPolicy.metricsFrom=[${JSON.stringify(scraper)}]`])
  checkInstall(t, objects.filter(o => o.kind !== 'NetworkPolicy'))
  const policy = checkWebhookNetworkPolicy(t, objects, ['10.0.0.0/16', '10.1.0.0/16'])
  t.same(policy.spec.ingress[1].from, [scraper], 'metricsFrom limits who may scrape')
  const open = await helmTemplate(['--set', 'webhook.networkPolicy.enabled=true,webhook.networkPolicy.apiServerCIDRs={10.0.0.0/16}'])
  t.equal(only(open, 'NetworkPolicy').spec.ingress[1].from, undefined, 'without metricsFrom the metrics port is open to all')
  const missing = await run(helm, ['template', 'x', CHART_DIR, '--set', 'webhook.networkPolicy.enabled=true'])
  t.not(missing.code, 0, 'enabled without addresses is refused')
  t.match(missing.stderr, /webhook\.networkPolicy\.apiServerCIDRs must list the addresses the API server calls webhooks from/)
})
