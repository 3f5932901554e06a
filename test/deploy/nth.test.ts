/**
 * Switching from the AWS Node Termination Handler by changing the image.
 * - NTH's own chart (test/fixtures/nth/chart, 0.27.6) rendered with our
 *   image: the DaemonSet sets no command, so the image's entry point runs;
 *   its environment goes to our built agent unchanged, under NTH's RBAC
 *   (every request our ClusterRole allows and NTH's does not is answered
 *   403), and a Spot notice is handled with NTH's meaning.
 * - An NTH values file through our chart keeps NTH's meaning, DRY_RUN=true
 *   reaches the agent, and the schema refuses what the chart cannot honour.
 */
import t, { type Test } from 'tap'
import { once } from 'node:events'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { createInterface } from 'node:readline'
import { AGENT_OPTIONS, checkAgentConfig } from '../../agent/config.ts'
import { buildPrograms } from '../../deploy/build.ts'
import { parseOptions } from '#common/options.ts'
import { deployment, startReceiver } from '../agent/world.ts'
import { eventually } from '../agent/helpers.ts'
import { spawnProgram } from '../helpers/spawn.ts'
import { freePort } from '../bench/programs.ts'
import { startImdsSim, type ImdsSim } from '../sim/imds/server.ts'
import { startKubeSim, type KubeSim } from '../sim/k8s/sim.ts'
import type { Verb } from '../sim/k8s/faults.ts'
import { argsOf, parseDockerfile, stage } from './dockerfile.ts'
import { localPaths, mountVolumes, resolveEnv, type PodSources } from './kubelet.ts'
import { CHART_DIR, helmTemplate, only, parseManifests, parseYaml, type KubeObject } from './render.ts'
import { ensureTool, REPO_ROOT, run, runOk } from './tools.ts'

const helm = await ensureTool('helm')
const NTH_DIR = join(REPO_ROOT, 'test', 'fixtures', 'nth')
const NTH_CHART = join(NTH_DIR, 'chart')
const MIGRATION_VALUES = join(NTH_DIR, 'values-migration.yaml')
const NODE = 'spot-node-1'

const built = await mkdtemp(join(tmpdir(), 'spot-nth-'))
t.teardown(() => rm(built, { recursive: true, force: true }))
await buildPrograms(built)
const entrypoint: string[] = JSON.parse(argsOf(stage(parseDockerfile(await readFile(join(REPO_ROOT, 'deploy', 'Dockerfile'), 'utf8')), 'runtime'), 'ENTRYPOINT')[0]!)

/** `helm template nth <NTH's chart>` in kube-system, parsed. */
async function renderNth (args: readonly string[]): Promise<KubeObject[]> {
  return parseManifests(await runOk(helm, ['template', 'nth', NTH_CHART, '--namespace', 'kube-system', ...args]))
}

/** A cluster with our Spot node running `web` (3 pods), then an On-Demand node for the replacements, and an IMDS. */
async function startCluster (t: Test): Promise<{ kube: KubeSim, imds: ImdsSim, kubeconfig: string }> {
  const imds = await startImdsSim()
  const kube = await startKubeSim({ kubeletDelayMs: 50 })
  t.teardown(async () => { await imds.close(); await kube.close() })
  await kube.addNode({ name: NODE })
  await kube.create(deployment('web', 3))
  await kube.waitFor(() => kube.list('Pod', { fieldSelector: `spec.nodeName=${NODE}` }).filter(p => p.status?.phase === 'Running').length === 3 || undefined, 10_000, 'web running on the Spot node')
  await kube.addNode({ name: 'on-demand-1', lifecycle: 'on-demand' })
  const kubeconfig = join(built, `kubeconfig-${Date.now()}`)
  await kube.writeKubeconfig(kubeconfig)
  return { kube, imds, kubeconfig }
}

/** A log line: JSON when the agent logs JSON, else the text line itself. */
type LogLine = Record<string, any> & { text: string }

/**
 * Runs the DaemonSet's container as a node would: its command, or the image's
 * entry point when it sets none (with the built programs in place of /app),
 * its environment and mounts as the kubelet resolves them, plus KUBECONFIG in
 * place of the in-cluster service account.
 */
async function runDaemonSet (t: Test, objects: readonly KubeObject[], sources: PodSources, kubeconfig: string): Promise<{ lines: LogLine[], stop: () => Promise<number | null> }> {
  const spec = only(objects, 'DaemonSet').spec.template.spec
  const container = spec.containers[0]
  const argv: string[] = [...(container.command ?? entrypoint), ...(container.args ?? [])]
  const script = argv.findIndex(a => a.startsWith('/app/'))
  t.equal(argv[0], 'node', 'the container runs node')
  const env = localPaths(resolveEnv(container, sources), await mountVolumes(spec, container, sources, built))
  const child = spawnProgram(join(built, basename(argv[script]!)), argv.slice(script + 1), { ...env, KUBECONFIG: kubeconfig }, argv.slice(1, script))
  t.teardown(() => { child.kill('SIGKILL') })
  const lines: LogLine[] = []
  for (const stream of [child.stdout!, child.stderr!]) {
    createInterface({ input: stream }).on('line', text => {
      try { lines.push({ ...JSON.parse(text), text }) } catch { lines.push({ text }) }
    })
  }
  return {
    lines,
    stop: async () => {
      child.kill('SIGTERM')
      const [code] = await once(child, 'exit')
      return code as number | null
    }
  }
}

/** A path regex for requests on `resource` ("pods", "pods/eviction") of API `group`, in any namespace. */
function resourcePath (group: string, resource: string): RegExp {
  const [name, sub] = resource.split('/')
  const prefix = group === '' ? '/api/v1' : `/apis/${group}/v1`
  return new RegExp(`^${prefix}/(namespaces/[^/]+/)?${name}${sub === undefined ? '(/[^/]+)?' : `/[^/]+/${sub}`}$`)
}

/** What `rules` allow, as "group resource verb" strings. */
function granted (role: KubeObject): Set<string> {
  return new Set(role.rules.flatMap((r: any) => r.apiGroups.flatMap((g: string) => r.resources.flatMap((res: string) => r.verbs.map((v: string) => `${g} ${res} ${v}`)))))
}

t.test('NTH\'s own chart with our image runs our agent with NTH\'s environment and RBAC, and a Spot notice is handled as NTH would', async t => {
  const { kube, imds, kubeconfig } = await startCluster(t)
  const objects = await renderNth(['--set', `image.repository=spot-interrupt-handler,image.tag=test,instanceMetadataURL=${imds.url}`])
  const ds = only(objects, 'DaemonSet')
  t.equal(ds.spec.template.spec.containers[0].command, undefined, 'NTH\'s DaemonSet sets no command: the image\'s entry point runs')

  const theirs = granted(only(objects, 'ClusterRole'))
  const ours = [...granted(only(await helmTemplate(), 'ClusterRole', 'spot-agent'))]
  const refused = ours.filter(rule => !theirs.has(rule)).map(rule => {
    const [group, resource, verb] = rule.split(' ') as [string, string, Verb]
    return { rule, fault: kube.injectFault({ verb, path: resourcePath(group, resource), status: 403, message: `forbidden by the test: NTH's ClusterRole does not grant ${rule}` }) }
  })
  t.same(refused.map(r => r.rule).sort(), [' events create', ' nodes watch', ' pods delete', ' pods watch', 'policy poddisruptionbudgets list', 'policy poddisruptionbudgets watch'], 'what NTH\'s ClusterRole lacks (events only with emitKubernetesEvents)')

  const agent = await runDaemonSet(t, objects, { fields: { 'spec.nodeName': NODE, 'metadata.name': 'nth-aws-node-termination-handler-x1', 'metadata.namespace': 'kube-system' } }, kubeconfig)
  await eventually(() => agent.lines.some(l => / INF agent started/.test(l.text)), 20_000, 'the agent started, logging text (NTH\'s jsonLogging: false)')
  imds.postSpotInterruption()
  await kube.waitFor(() => kube.get('Node', undefined, NODE)?.spec?.unschedulable === true || undefined, 20_000, 'the node cordoned')
  await kube.waitFor(() => kube.list('Pod', { fieldSelector: `spec.nodeName=${NODE}` }).length === 0 || undefined, 30_000, 'the node drained')
  const node = kube.get('Node', undefined, NODE)!
  t.same(node.spec?.taints ?? [], [], 'no taint: NTH\'s taintNode defaults to false')
  t.notOk(node.metadata.labels?.['node.kubernetes.io/exclude-from-external-load-balancers'], 'no load-balancer label: NTH\'s excludeFromLoadBalancers defaults to false')
  t.equal(kube.list('Event', {}).length, 0, 'no Events: NTH\'s emitKubernetesEvents defaults to false')
  const hit = (rule: string): number => refused.find(r => r.rule === rule)!.fault.hits
  t.ok(hit(' nodes watch') >= 1 && hit(' pods watch') >= 1, 'the agent met NTH\'s RBAC: its watches were refused')
  t.ok(agent.lines.some(l => / WRN not allowed to watch \(403\); listing at an interval instead/.test(l.text)), 'and said so, then listed instead')
  t.ok(agent.lines.every(l => l.text === '' || /^\S+ (DBG|INF|WRN|ERR) /.test(l.text)), 'every line is a text log line')
  t.equal(await agent.stop(), 0, 'and it stops cleanly')
})

t.test('an NTH values file through our chart keeps NTH\'s meaning for every value it sets', async t => {
  const values = parseYaml(await readFile(MIGRATION_VALUES, 'utf8'))
  const objects = await helmTemplate(['-f', MIGRATION_VALUES, '--set', 'image.repository=spot-interrupt-handler'])
  const ds = only(objects, 'DaemonSet', 'spot-agent')
  const pod = ds.spec.template.spec
  const container = pod.containers[0]
  const env = resolveEnv(container, { fields: { 'spec.nodeName': NODE, 'metadata.name': 'p', 'metadata.namespace': 'spot-handler' }, secrets: { 'nth-slack': { webhookurl: 'https://hooks.slack.com/x' } } })
  const parsed = parseOptions(AGENT_OPTIONS, [], env)
  if (parsed.help) throw new Error('--help')
  const config = checkAgentConfig(parsed.values)
  t.match(config, {
    dryRun: true, logLevel: 'debug', jsonLogging: true, enableSpotInterruptionDraining: true, enableScheduledEventDraining: true, enableAsgLifecycleDraining: false,
    enableRebalanceMonitoring: true, enableRebalanceDraining: false, taintNode: true, cordonOnly: false, excludeFromLoadBalancers: true, deleteLocalData: true,
    ignoreDaemonSets: true, podTerminationGracePeriod: 30, nodeTerminationGracePeriod: 110, emitKubernetesEvents: true, enablePrometheusServer: true,
    prometheusServerPort: 9092, enableProbesServer: true, probesServerPort: 8080, probesServerEndpoint: '/healthz', metadataTries: 5, kubeApiQps: 20,
    webhookUrl: 'https://hooks.slack.com/x', webhookTemplateFile: '/config/slack.tmpl'
  }, 'the agent settings')
  t.same(config.kubernetesEventsExtraAnnotations, { team: 'platform', tier: 'spot' })
  t.equal(container.env.filter((e: any) => e.name === 'KUBE_API_QPS').length, 1, 'extraEnv replaces the chart\'s own variable instead of repeating it')
  t.same(container.env.find((e: any) => e.name === 'WEBHOOK_URL').valueFrom.secretKeyRef, { name: 'nth-slack', key: 'webhookurl' }, 'webhookURLSecretName, with NTH\'s key')
  t.same(container.volumeMounts.find((m: any) => m.mountPath === '/config/')?.name, 'webhook-template', 'the template ConfigMap at /config/')
  t.same(pod.volumes.find((v: any) => v.name === 'webhook-template').configMap, { name: 'nth-templates' })
  t.same(container.livenessProbe, values.probes, 'probes is the liveness probe')
  t.same(container.resources, values.resources)
  t.same(pod.nodeSelector, { 'kubernetes.io/os': 'linux', ...values.daemonsetNodeSelector })
  t.same(pod.tolerations, values.daemonsetTolerations)
  t.same(pod.dnsConfig, values.dnsConfig)
  t.same(pod.imagePullSecrets, values.image.pullSecrets)
  t.equal(pod.priorityClassName, values.daemonsetPriorityClassName)
  t.same(ds.spec.updateStrategy, values.updateStrategy)
  t.match(ds.spec.template.metadata, { labels: values.podLabels, annotations: values.podAnnotations })
  t.equal(pod.serviceAccountName, 'nth')
  t.same(only(objects, 'ServiceAccount', 'nth').metadata.annotations, values.serviceAccount.annotations, 'the IRSA annotation on the ServiceAccount')
  t.same(only(objects, 'ClusterRoleBinding', 'spot-agent').subjects, [{ kind: 'ServiceAccount', name: 'nth', namespace: 'spot-handler' }])
  for (const o of objects) t.equal(o.metadata.labels?.owner, 'sre', `${o.kind}/${o.metadata.name} has customLabels`)
  const monitor = only(objects, 'PodMonitor')
  t.match(monitor, { metadata: { labels: values.podMonitor.labels }, spec: { podMetricsEndpoints: [{ port: 'metrics', interval: '15s' }] } }, 'podMonitor.create makes the PodMonitor')
})

t.test('NTH values our chart cannot honour stop helm with a message, and so does a key nobody knows', async t => {
  const cases: Array<[string[], RegExp]> = [
    [['--set', 'enableSqsTerminationDraining=true'], /enableSqsTerminationDraining: the queue processor \(SQS\) mode .* is not something spot-interrupt-handler does/],
    [['--set', 'targetNodeOs=linux windows'], /targetNodeOs "linux windows": only linux is supported/],
    [['--set', 'dryrun=true'], /Additional property dryrun is not allowed/],
    [['--set', 'agent.config.dryrun=true'], /Additional property dryrun is not allowed/],
    [['--set', 'agent.replicas=2'], /Additional property replicas is not allowed/]
  ]
  for (const [args, message] of cases) {
    const result = await run(helm, ['template', 'x', CHART_DIR, ...args])
    t.not(result.code, 0, `${args.join(' ')} is refused`)
    t.match(result.stderr, message)
  }
  const queueOnly = await run(helm, ['template', 'x', CHART_DIR, '--set', 'queueURL=https://sqs.example,workers=5,windowsTolerations=null,targetNodeOs=Linux'])
  t.equal(queueOnly.code, 0, `NTH's queue-mode values are accepted and unused: ${queueOnly.stderr}`)
})

t.test('every top-level value of NTH\'s chart is known to our schema', async t => {
  const nth = parseYaml(await readFile(join(NTH_CHART, 'values.yaml'), 'utf8'))
  const schema = JSON.parse(await readFile(join(CHART_DIR, 'values.schema.json'), 'utf8'))
  for (const key of Object.keys(nth)) t.ok(key in schema.properties, `${key} is in values.schema.json`)
  const whole = await run(helm, ['template', 'x', CHART_DIR, '-f', join(NTH_CHART, 'values.yaml'), '--set', 'image.repository=spot-interrupt-handler'])
  t.equal(whole.code, 0, `NTH's whole values.yaml goes through our chart: ${whole.stderr}`)
})

t.test('through our chart, an NTH values file with dryRun: true gives a dry-running agent', async t => {
  const { kube, imds, kubeconfig } = await startCluster(t)
  const receiver = await startReceiver()
  t.teardown(() => receiver.close())
  const [metricsPort, probesPort] = [await freePort(), await freePort()]
  const objects = await helmTemplate(['-f', MIGRATION_VALUES, '--set', `instanceMetadataURL=${imds.url},prometheusServerPort=${metricsPort},probes.httpGet.port=${probesPort}`])
  const template = '{"text":"{{ .Kind }} on {{ .NodeName }}{{ range .Pods }} {{ . }}{{ end }}"}'
  const agent = await runDaemonSet(t, objects, {
    fields: { 'spec.nodeName': NODE, 'metadata.name': 'spot-agent-x1', 'metadata.namespace': 'spot-handler' },
    secrets: { 'nth-slack': { webhookurl: receiver.url } },
    configMaps: { 'nth-templates': { 'slack.tmpl': template } }
  }, kubeconfig)
  await eventually(() => agent.lines.some(l => l.msg === 'agent started'), 20_000, 'the agent started')
  t.equal(agent.lines.find(l => l.msg === 'agent started')!.dryRun, true, 'DRY_RUN=true reached the agent')
  const health = await fetch(`http://127.0.0.1:${probesPort}/healthz`)
  t.same(await health.json(), { health: 'OK' }, 'the probe answers on NTH\'s path with NTH\'s body')
  imds.postSpotInterruption()
  await eventually(() => agent.lines.some(l => l.msg === 'dry run: would send the notification'), 20_000, 'the dry run reaching the notification step')
  const steps = agent.lines.filter(l => l.dryRun === true && typeof l.step === 'string').map(l => l.step)
  t.ok(steps.some(s => /cordon/.test(s)) && steps.some(s => /drain|evict/.test(s)), `the dry run names what it would do: ${steps.join('; ')}`)
  const node = kube.get('Node', undefined, NODE)!
  t.notOk(node.spec?.unschedulable, 'nothing was cordoned')
  t.same(node.spec?.taints ?? [], [], 'or tainted')
  t.equal(kube.list('Pod', { fieldSelector: `spec.nodeName=${NODE}` }).length, 3, 'or evicted')
  t.same(receiver.received, [], 'or sent')
  const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text()
  t.match(metrics, /# TYPE actions_total counter/, 'NTH\'s metric names on NTH\'s metrics setting')
  t.equal(await agent.stop(), 0)
})
