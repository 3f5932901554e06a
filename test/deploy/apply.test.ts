import t, { type Test } from 'tap'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { X509Certificate } from 'node:crypto'
import { AdmissionregistrationV1Api, CoreV1Api, KubernetesObjectApi } from '@kubernetes/client-node'
import { installCertificates } from '../../certs/install.ts'
import { CERTS_OPTIONS, selectCertsMode } from '../../certs/options.ts'
import { splitPemCertificates } from '../../certs/rotation.ts'
import { createLogger } from '#common/logger.ts'
import { parseOptions } from '#common/options.ts'
import { startKubeSim, type KubeSim } from '../sim/k8s/sim.ts'
import { startTestWebhook } from '../helpers/webhook.ts'
import { CHART_DIR, helmTemplate, kustomizeBuild, only, podSpecs, type KubeObject } from './render.ts'
import { ensureTool, run } from './tools.ts'

/** Kinds the simulator does not serve; the test names each object it could not apply. */
const NOT_SERVED = new Set(['CronJob'])

/**
 * Applies a rendered install to a fresh simulator (one Spot and one On-Demand
 * node), runs the certificate Job's program with the Job's own arguments, and
 * starts the real webhook on the Secret's certificate, reached through the
 * configuration's Service. Returns what the checks need.
 */
async function install (t: Test, objects: KubeObject[]): Promise<{ sim: KubeSim, skipped: string[], apply: KubernetesObjectApi }> {
  let webhookUrl = 'https://127.0.0.1:1/unreachable'
  const sim = await startKubeSim({ nodes: [{ lifecycle: 'spot' }, { lifecycle: 'on-demand' }], webhookServiceUrl: svc => `${webhookUrl}${svc.path ?? '/'}` })
  t.teardown(() => sim.close())
  const apply = KubernetesObjectApi.makeApiClient(sim.kubeConfig)
  const skipped: string[] = []
  for (const object of objects) {
    if (NOT_SERVED.has(object.kind)) skipped.push(`${object.kind}/${object.metadata.name}`)
    else await apply.create(object)
  }

  const job = podSpecs(objects).find(p => p.owner.startsWith('Job/'))!
  const parsed = parseOptions(CERTS_OPTIONS, job.spec.containers[0].args, {})
  if (parsed.help) throw new Error('certs job asks for --help')
  const mode = selectCertsMode(parsed.values)
  if (mode.mode !== 'cluster') throw new Error('the certs Job does not use the in-cluster mode')
  const clients = { core: sim.kubeConfig.makeApiClient(CoreV1Api), admission: sim.kubeConfig.makeApiClient(AdmissionregistrationV1Api) }
  await installCertificates(clients, { ...mode.config, renewBeforeDays: mode.config.renewBefore }, createLogger('spot-certs', 'silent'))

  // The Secret volume the Deployment mounts, as the kubelet would write it.
  const deployment = only(objects, 'Deployment')
  const container = deployment.spec.template.spec.containers[0]
  const secretName = deployment.spec.template.spec.volumes[0].secret.secretName
  const secret = sim.get('Secret', deployment.metadata.namespace, secretName)
  t.ok(secret, `the certificate job created Secret ${secretName}`)
  const dir = await mkdtemp(join(tmpdir(), 'spot-apply-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  for (const [key, value] of Object.entries(secret?.data as Record<string, string>)) await writeFile(join(dir, key), Buffer.from(value, 'base64'))
  const ownFlags = /^--(port|metrics-port|cert-dir)=/
  const webhook = await startTestWebhook(t, dir, container.args.filter((a: string) => !ownFlags.test(a)))
  webhookUrl = `https://127.0.0.1:${webhook.port}`
  return { sim, skipped, apply }
}

/** A handler DaemonSet as the Spot workshop ships it (no nodeSelector). */
function workshopHandler (namespace: string): KubeObject {
  const labels = { app: 'spot-interrupt-handler' }
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: 'spot-interrupt-handler', namespace },
    spec: { selector: { matchLabels: labels }, template: { metadata: { labels }, spec: { containers: [{ name: 'handler', image: 'madhuriperi/samplek8spotinterrupt:latest' }] } } }
  }
}

/** Checks the whole story on an installed simulator. */
async function checkInstalled (t: Test, objects: KubeObject[], sim: KubeSim, apply: KubernetesObjectApi): Promise<void> {
  const config = only(objects, 'MutatingWebhookConfiguration')
  const deployment = only(objects, 'Deployment')
  const namespace = deployment.metadata.namespace!
  const secretName = deployment.spec.template.spec.volumes[0].secret.secretName
  const secret = sim.get('Secret', namespace, secretName)!
  const leaf = new X509Certificate(Buffer.from((secret.data as Record<string, string>)['tls.crt']!, 'base64'))
  const hooks = sim.get('MutatingWebhookConfiguration', undefined, config.metadata.name)!.webhooks as any[]
  t.equal(hooks.length, config.webhooks.length)
  for (const hook of hooks) {
    t.ok(hook.clientConfig.caBundle, `${hook.name} has a caBundle`)
    const cas = splitPemCertificates(Buffer.from(hook.clientConfig.caBundle ?? '', 'base64').toString('utf8')).map(pem => new X509Certificate(pem))
    t.ok(cas.some(ca => leaf.checkIssued(ca) && leaf.verify(ca.publicKey)), `${hook.name}'s caBundle verifies the serving certificate`)
  }

  await apply.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a', labels: { 'spot-handler.io/inject': 'enabled' } } })
  await apply.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-b' } })
  const pinned = await apply.create(workshopHandler('team-a'))
  t.same((pinned as any).spec.template.spec.nodeSelector, { lifecycle: 'Ec2Spot' }, 'a handler created in a labelled namespace gets the nodeSelector')
  const left = await apply.create(workshopHandler('team-b'))
  t.notOk((left as any).spec.template.spec.nodeSelector, 'one in an unlabelled namespace does not')

  const agentName = only(objects, 'DaemonSet').metadata.name
  const agent = sim.get('DaemonSet', namespace, agentName)!
  t.same((agent.spec as any).template.spec.nodeSelector, { 'kubernetes.io/os': 'linux' }, 'the agent, created before the webhook could answer, was admitted unpinned (failurePolicy Ignore)')
  // What `kubectl rollout restart` does: an UPDATE of the pod template, which the webhook now sees.
  const restarted = structuredClone(agent) as any
  restarted.spec.template.metadata.annotations = { 'kubectl.kubernetes.io/restartedAt': new Date().toISOString() }
  const updated = await apply.replace(restarted)
  t.same((updated as any).spec.template.spec.nodeSelector, { 'kubernetes.io/os': 'linux', lifecycle: 'Ec2Spot' }, 'after a restart the agent is pinned to Spot nodes too')
  const generation = String((updated as any).metadata.generation)
  const current = await sim.waitFor(s => {
    const pods = s.list('Pod', { namespace, labelSelector: `app.kubernetes.io/component=agent,pod-template-generation=${generation}` })
    return pods.length > 0 ? pods : undefined
  }, 5000, 'agent pods of the restarted template')
  const nodes = current.map(p => (p.spec as any).nodeName)
  t.same(nodes, ['spot-node-1'], 'the agent runs on the Spot node only')
}

t.test('kubectl apply -k deploy/ on the simulator: certificates, caBundles, and DaemonSets pinned through the installed webhook', async t => {
  const objects = await kustomizeBuild()
  const { sim, skipped, apply } = await install(t, objects)
  t.same(skipped, ['CronJob/spot-certs-renew'], 'only the renewal CronJob is not served by the simulator')
  await checkInstalled(t, objects, sim, apply)
})

t.test('the Helm chart installed on the simulator does the same', async t => {
  const objects = await helmTemplate()
  const { sim, skipped, apply } = await install(t, objects)
  t.same(skipped, ['CronJob/spot-certs-renew'])
  await checkInstalled(t, objects, sim, apply)
})

t.test('helm install against a cluster prints notes telling the user to label a namespace', async t => {
  const sim = await startKubeSim()
  t.teardown(() => sim.close())
  const dir = await mkdtemp(join(tmpdir(), 'spot-helm-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await sim.writeKubeconfig(join(dir, 'kubeconfig'))
  const helm = await ensureTool('helm')
  // Client-side dry run: helm reads discovery and checks for existing objects. Without the
  // CronJob, which the simulator does not serve, and without the OpenAPI document it lacks.
  const args = ['install', 'spot-handler', CHART_DIR, '--dry-run=client', '--disable-openapi-validation', '--set', 'certs.renewSchedule=']
  const dryRun = await run(helm, args, { env: { KUBECONFIG: join(dir, 'kubeconfig'), HELM_CACHE_HOME: dir, HELM_CONFIG_HOME: dir, HELM_DATA_HOME: dir } })
  t.equal(dryRun.code, 0, dryRun.stderr)
  const notes = dryRun.stdout.slice(dryRun.stdout.indexOf('NOTES:'))
  t.match(notes, /kubectl label namespace <namespace> spot-handler\.io\/inject=enabled/)
  t.match(notes, /nodes labelled lifecycle=Ec2Spot/)
  t.match(notes, /rollout restart daemonset\/spot-agent/)
})
