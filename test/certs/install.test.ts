import t, { type Test } from 'tap'
import { X509Certificate } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { AdmissionregistrationV1Api, CoreV1Api } from '@kubernetes/client-node'
import { createLogger } from '#common/logger.ts'
import { caBundlePatch, installCertificates, type InstallClients, type InstallRequest } from '../../certs/install.ts'
import { splitPemCertificates } from '../../certs/rotation.ts'
import { startKubeSim, type KubeSim } from '../sim/k8s/sim.ts'
import { runProgram } from '../helpers/spawn.ts'
import { parseOptions } from '#common/options.ts'
import { CERTS_OPTIONS, selectCertsMode } from '../../certs/options.ts'

const DAY = 24 * 60 * 60_000
const issued = new Date('2026-01-01T00:00:00Z')
const logger = createLogger('spot-certs', 'silent')
const request: InstallRequest = {
  service: 'spot-webhook', namespace: 'spot-handler', hosts: [], days: 365, keyType: 'ecdsa', renewBeforeDays: 30,
  secret: 'spot-webhook-tls', webhookConfig: 'spot-interrupt-handler', now: issued
}

/** A fresh simulator with the namespace and a two-webhook configuration (one with a stale caBundle). */
async function cluster (t: Test): Promise<{ sim: KubeSim, clients: InstallClients }> {
  const sim = await startKubeSim()
  t.teardown(() => sim.close())
  await sim.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'spot-handler' } })
  const hook = (name: string, caBundle?: string) => ({
    name, sideEffects: 'None', admissionReviewVersions: ['v1'],
    clientConfig: { service: { name: 'spot-webhook', namespace: 'spot-handler', path: '/mutate' }, ...(caBundle === undefined ? {} : { caBundle }) },
    rules: [{ apiGroups: ['apps'], apiVersions: ['v1'], operations: ['CREATE'], resources: ['daemonsets'] }]
  })
  await sim.create({
    apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfiguration', metadata: { name: 'spot-interrupt-handler' },
    webhooks: [hook('daemonsets.spot-handler.io'), hook('other.spot-handler.io', Buffer.from('stale').toString('base64'))]
  })
  return { sim, clients: { core: sim.kubeConfig.makeApiClient(CoreV1Api), admission: sim.kubeConfig.makeApiClient(AdmissionregistrationV1Api) } }
}

function secretPem (sim: KubeSim, key: string): string {
  const data = sim.get('Secret', 'spot-handler', 'spot-webhook-tls')?.data as Record<string, string> | undefined
  return Buffer.from(data?.[key] ?? '', 'base64').toString('utf8')
}

function caBundles (sim: KubeSim): string[] {
  return (sim.get('MutatingWebhookConfiguration', undefined, 'spot-interrupt-handler')?.webhooks as any[]).map(w => w.clientConfig.caBundle)
}

/** True when some CA of the base64 bundle signed `certPem`. */
function bundleVerifies (bundle: string, certPem: string): boolean {
  const leaf = new X509Certificate(certPem)
  return splitPemCertificates(Buffer.from(bundle, 'base64').toString('utf8')).some(pem => {
    const ca = new X509Certificate(pem)
    return leaf.checkIssued(ca) && leaf.verify(ca.publicKey)
  })
}

t.test('a first run creates the TLS Secret and sets the caBundle of every webhook', async t => {
  const { sim, clients } = await cluster(t)
  const result = await installCertificates(clients, request, logger)
  t.equal(result.action, 'create')
  t.same(result.patchedWebhooks, ['daemonsets.spot-handler.io', 'other.spot-handler.io'])
  const secret = sim.get('Secret', 'spot-handler', 'spot-webhook-tls')!
  t.equal(secret.type, 'kubernetes.io/tls')
  t.same(Object.keys(secret.data as object).sort(), ['ca.crt', 'tls.crt', 'tls.key'])
  t.same(caBundles(sim), [result.caBundle, result.caBundle])
  t.equal(Buffer.from(result.caBundle, 'base64').toString('utf8'), secretPem(sim, 'ca.crt'), 'the caBundle is the Secret\'s ca.crt')
  t.ok(bundleVerifies(result.caBundle, secretPem(sim, 'tls.crt')), 'the caBundle verifies the serving certificate')
  t.ok(new X509Certificate(secretPem(sim, 'tls.crt')).checkHost('spot-webhook.spot-handler.svc'), 'for the Service name the API server uses')
})

t.test('re-running keeps the existing certificate and changes nothing', async t => {
  const { sim, clients } = await cluster(t)
  await installCertificates(clients, request, logger)
  const before = sim.get('Secret', 'spot-handler', 'spot-webhook-tls')!
  const configBefore = sim.get('MutatingWebhookConfiguration', undefined, 'spot-interrupt-handler')!
  const again = await installCertificates(clients, { ...request, now: new Date(issued.getTime() + 100 * DAY) }, logger)
  t.equal(again.action, 'keep')
  t.same(again.patchedWebhooks, [])
  t.equal(sim.get('Secret', 'spot-handler', 'spot-webhook-tls')!.metadata.resourceVersion, before.metadata.resourceVersion, 'Secret untouched')
  t.equal(sim.get('MutatingWebhookConfiguration', undefined, 'spot-interrupt-handler')!.metadata.resourceVersion, configBefore.metadata.resourceVersion, 'configuration untouched')
})

t.test('renewal near expiry replaces the certificate and carries old and new CA until the old one expires', async t => {
  const { sim, clients } = await cluster(t)
  await installCertificates(clients, request, logger)
  const oldLeaf = secretPem(sim, 'tls.crt')
  const oldCa = secretPem(sim, 'ca.crt')

  const renewed = await installCertificates(clients, { ...request, now: new Date(issued.getTime() + 340 * DAY) }, logger)
  t.equal(renewed.action, 'renew')
  const newLeaf = secretPem(sim, 'tls.crt')
  t.not(newLeaf, oldLeaf, 'a new serving certificate')
  const cas = splitPemCertificates(secretPem(sim, 'ca.crt'))
  t.equal(cas.length, 2, 'ca.crt holds the new and the old CA')
  t.equal(cas[1], oldCa, 'the old CA second')
  t.same(caBundles(sim), [renewed.caBundle, renewed.caBundle])
  t.ok(bundleVerifies(renewed.caBundle, newLeaf), 'the caBundle trusts the new certificate')
  t.ok(bundleVerifies(renewed.caBundle, oldLeaf), 'and still the old one, which pods serve until the Secret update reaches them')

  const pruned = await installCertificates(clients, { ...request, now: new Date(issued.getTime() + 400 * DAY) }, logger)
  t.equal(pruned.action, 'keep', 'the new certificate is kept')
  t.equal(secretPem(sim, 'tls.crt'), newLeaf)
  t.equal(splitPemCertificates(secretPem(sim, 'ca.crt')).length, 1, 'the expired old CA left the bundle')
  t.ok(bundleVerifies(pruned.caBundle, newLeaf))
  t.notOk(bundleVerifies(pruned.caBundle, oldLeaf))
  t.same(caBundles(sim), [pruned.caBundle, pruned.caBundle])
})

t.test('an unusable Secret is replaced in place', async t => {
  const { sim, clients } = await cluster(t)
  await sim.create({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'spot-webhook-tls', namespace: 'spot-handler', labels: { keep: 'me' } }, type: 'kubernetes.io/tls', data: { 'tls.crt': Buffer.from('garbage').toString('base64') } })
  const result = await installCertificates(clients, request, logger)
  t.equal(result.action, 'replace')
  t.match(result.reason, /lacks/)
  const secret = sim.get('Secret', 'spot-handler', 'spot-webhook-tls')!
  t.equal(secret.metadata.labels?.keep, 'me', 'the Secret\'s own metadata is kept')
  t.ok(bundleVerifies(result.caBundle, secretPem(sim, 'tls.crt')))
})

t.test('two runs racing end with one certificate that every webhook trusts', async t => {
  const { sim, clients } = await cluster(t)
  const [a, b] = await Promise.all([installCertificates(clients, request, logger), installCertificates(clients, request, logger)])
  const stored = Buffer.from(secretPem(sim, 'ca.crt')).toString('base64')
  t.equal(a.caBundle, stored)
  t.equal(b.caBundle, stored)
  t.same(caBundles(sim), [stored, stored])
  t.same([a.action, b.action].sort(), ['create', 'keep'], 'the loser of the create re-read and kept the winner\'s certificate')
})

t.test('a conflicting update is retried from a fresh read', async t => {
  const { sim, clients } = await cluster(t)
  await sim.create({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'spot-webhook-tls', namespace: 'spot-handler' }, data: {} })
  const fault = sim.injectFault({ verb: 'update', path: /secrets\/spot-webhook-tls$/, status: 409, count: 1 })
  const result = await installCertificates(clients, request, logger)
  t.equal(fault.hits, 1, 'the first update met a conflict')
  t.equal(result.action, 'replace')
  t.ok(bundleVerifies(result.caBundle, secretPem(sim, 'tls.crt')))
})

t.test('failures name the object and the cause', async t => {
  const { sim, clients } = await cluster(t)
  sim.injectFault({ verb: 'get', path: /secrets/, status: 500, count: 1 })
  await t.rejects(installCertificates(clients, request, logger), /cannot read Secret spot-handler\/spot-webhook-tls/)
  sim.injectFault({ verb: 'create', path: /secrets/, status: 403, count: 1 })
  await t.rejects(installCertificates(clients, request, logger), /cannot create Secret spot-handler\/spot-webhook-tls/)
  sim.injectFault({ verb: 'patch', path: /mutatingwebhookconfigurations/, status: 403, count: 1 })
  await t.rejects(installCertificates(clients, request, logger), /cannot patch MutatingWebhookConfiguration spot-interrupt-handler/)
  await t.rejects(installCertificates(clients, { ...request, webhookConfig: 'missing' }, logger), /cannot read MutatingWebhookConfiguration missing \(not created yet\? the Job retries\)/)
  await sim.create({ apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfiguration', metadata: { name: 'empty' }, webhooks: [] })
  await t.rejects(installCertificates(clients, { ...request, webhookConfig: 'empty' }, logger), /has no webhooks/)
  sim.injectFault({ verb: 'update', path: /secrets/, status: 409 })
  await t.rejects(installCertificates(clients, { ...request, now: new Date(issued.getTime() + 360 * DAY) }, logger), /409|onflict/, 'gives up after a few conflicts')
})

t.test('the caBundle patch tests what it replaces and leaves matching webhooks alone', async t => {
  t.same(caBundlePatch([{ name: 'a', clientConfig: { caBundle: 'X' } }, { name: 'b', clientConfig: {} }, { name: 'c', clientConfig: { caBundle: 'old' } }], 'X'), [
    { op: 'test', path: '/webhooks/1/name', value: 'b' },
    { op: 'add', path: '/webhooks/1/clientConfig/caBundle', value: 'X' },
    { op: 'test', path: '/webhooks/2/name', value: 'c' },
    { op: 'test', path: '/webhooks/2/clientConfig/caBundle', value: 'old' },
    { op: 'replace', path: '/webhooks/2/clientConfig/caBundle', value: 'X' }
  ])
  t.same(caBundlePatch([{ name: 'a', clientConfig: { caBundle: 'X' } }], 'X'), [])
})

t.test('spot-certs in-cluster mode runs against a kubeconfig and refuses incomplete flags', async t => {
  const { sim } = await cluster(t)
  const dir = await mkdtemp(join(tmpdir(), 'spot-certs-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const kubeconfig = join(dir, 'kubeconfig')
  await sim.writeKubeconfig(kubeconfig)
  const flags = ['--service', 'spot-webhook', '--namespace', 'spot-handler', '--secret', 'spot-webhook-tls', '--webhook-config', 'spot-interrupt-handler']
  const ok = await runProgram('certs/main.ts', flags, { KUBECONFIG: kubeconfig })
  t.equal(ok.code, 0, ok.stderr)
  const lines = ok.stdout.trim().split('\n').map(line => JSON.parse(line))
  t.same(lines.map(l => l.msg), ['certificate checked', 'caBundle set'], 'pino JSON log lines')
  t.equal(lines[0].action, 'create')
  t.ok(bundleVerifies(caBundles(sim)[0] ?? '', secretPem(sim, 'tls.crt')))

  const refused = await runProgram('certs/main.ts', flags.slice(0, 6), { KUBECONFIG: kubeconfig })
  t.equal(refused.code, 2, 'a configuration error exits 2')
  t.match(refused.stderr, /missing --webhook-config \(WEBHOOK_CONFIG\)/)
})

t.test('the in-cluster mode is chosen by --secret and checks the flags it needs', async t => {
  const flags = ['--service', 'spot-webhook', '--namespace', 'spot-handler', '--secret', 'spot-webhook-tls', '--webhook-config', 'spot-interrupt-handler']
  const select = (args: string[]) => {
    const parsed = parseOptions(CERTS_OPTIONS, args, {})
    if (parsed.help) throw new Error('unexpected --help')
    return selectCertsMode(parsed.values)
  }
  const chosen = select(flags)
  t.equal(chosen.mode, 'cluster')
  t.equal(chosen.config.renewBefore, 30, 'renews 30 days ahead by default')
  t.equal(select(['--service', 's', '--namespace', 'n', '--out-dir', '/tmp/x']).mode, 'files', 'no --secret: the file mode')
  const cases: Array<[string[], RegExp]> = [
    [flags.slice(0, 6), /missing --webhook-config \(WEBHOOK_CONFIG\), which the in-cluster mode requires/],
    [['--webhook-config', 'y', ...flags.slice(0, 4)], /missing --secret \(SECRET_NAME\)/],
    [[...flags, '--out-dir', '/tmp/x'], /--out-dir \(OUT_DIR\) cannot be combined/],
    [[...flags, '--days', '30', '--renew-before', '30'], /--renew-before \(RENEW_BEFORE_DAYS\) must be less than --days/],
    [['--secret', 'x', '--webhook-config', 'y'], /missing --service \(SERVICE_NAME\)/]
  ]
  for (const [args, message] of cases) t.throws(() => select(args), { name: 'ConfigError', message }, args.join(' '))
  t.throws(() => select([...flags, '--secret', 'Not_A_Name']), /invalid value "Not_A_Name" for --secret \(SECRET_NAME\): expected a DNS subdomain/)
})
