/**
 * In-cluster mode of `spot-certs`: keeps the webhook's TLS Secret and the
 * caBundle of every webhook in its MutatingWebhookConfiguration in step.
 * Idempotent: a second run with a valid certificate changes nothing. Races
 * with another run (two Job pods, a CronJob overlapping an install) end in a
 * 409 or a failed JSON-patch test and are retried from a fresh read.
 */
import { AdmissionregistrationV1Api, CoreV1Api, KubeConfig, PatchStrategy, setHeaderOptions, type V1Secret } from '@kubernetes/client-node'
import { statusOf } from '#common/kube-status.ts'
import jsonpatch from 'fast-json-patch'
import type { Logger } from '#common/logger.ts'
import { caBundle, generateCertificates, type ServingCertRequest } from './generate.ts'
import { caBundlePem, decideCertificateAction, type CertificateAction, type TlsSecretPem } from './rotation.ts'

/** What the in-cluster mode works on: the certificate to issue (whose `now` also dates the renewal decision), plus where it goes. */
export interface InstallRequest extends ServingCertRequest {
  renewBeforeDays: number
  /** Name of the TLS Secret in `namespace`. */
  secret: string
  /** Name of the MutatingWebhookConfiguration whose caBundles are set. */
  webhookConfig: string
}

/** What a run did. */
export interface InstallResult {
  action: CertificateAction['action']
  reason: string
  /** The caBundle now in every webhook (base64 of the Secret's ca.crt). */
  caBundle: string
  /** Names of the webhooks whose caBundle this run changed. */
  patchedWebhooks: string[]
}

/** The two API clients the mode needs. */
export interface InstallClients {
  core: CoreV1Api
  admission: AdmissionregistrationV1Api
}

const SECRET_KEYS = ['ca.crt', 'tls.crt', 'tls.key'] as const
const MANAGED_BY = { 'app.kubernetes.io/managed-by': 'spot-certs' }
const ATTEMPTS = 5

/** API clients from in-cluster config, or KUBECONFIG / ~/.kube/config out of cluster. */
export function defaultClients (): InstallClients {
  const kc = new KubeConfig()
  kc.loadFromDefault()
  return { core: kc.makeApiClient(CoreV1Api), admission: kc.makeApiClient(AdmissionregistrationV1Api) }
}

/** True for the answers that mean "someone else changed it first; read again". */
function isRace (err: unknown): boolean {
  const status = statusOf(err)
  return status === 409 || status === 422
}

function decode (secret: V1Secret): TlsSecretPem {
  const pems: TlsSecretPem = {}
  for (const key of SECRET_KEYS) {
    const value = secret.data?.[key]
    if (value !== undefined) pems[key] = Buffer.from(value, 'base64').toString('utf8')
  }
  return pems
}

function encode (pems: Required<TlsSecretPem>): Record<string, string> {
  return Object.fromEntries(SECRET_KEYS.map(key => [key, Buffer.from(pems[key]).toString('base64')]))
}

async function readSecret (clients: InstallClients, request: InstallRequest): Promise<V1Secret | undefined> {
  try {
    return await clients.core.readNamespacedSecret({ name: request.secret, namespace: request.namespace })
  } catch (err) {
    if (statusOf(err) === 404) return undefined
    throw new Error(`cannot read Secret ${request.namespace}/${request.secret}: ${(err as Error).message}`, { cause: err })
  }
}

/** Makes the Secret hold a usable certificate; returns the decision and the CA bundle PEM now stored. */
async function ensureSecret (clients: InstallClients, request: InstallRequest, now: Date): Promise<{ decision: CertificateAction, bundle: string }> {
  const existing = await readSecret(clients, request)
  const current = existing === undefined ? undefined : decode(existing)
  const decision = decideCertificateAction(current, { ...request, now })
  let stored: Required<TlsSecretPem>
  if (decision.action === 'keep') {
    stored = { ...(current as Required<TlsSecretPem>), 'ca.crt': caBundlePem(current?.['ca.crt'], now) }
    if (stored['ca.crt'] === current?.['ca.crt']) return { decision, bundle: stored['ca.crt'] }
  } else {
    const set = await generateCertificates({ ...request, now })
    stored = { 'tls.crt': set.serving.cert, 'tls.key': set.serving.key, 'ca.crt': caBundlePem(current?.['ca.crt'], now, set.ca.cert) }
  }
  const what = `Secret ${request.namespace}/${request.secret}`
  if (existing === undefined) {
    const body: V1Secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: request.secret, namespace: request.namespace, labels: MANAGED_BY }, type: 'kubernetes.io/tls', data: encode(stored) }
    await clients.core.createNamespacedSecret({ namespace: request.namespace, body }).catch((err: unknown) => {
      if (isRace(err)) throw err
      throw new Error(`cannot create ${what}: ${(err as Error).message}`, { cause: err })
    })
  } else {
    // resourceVersion from the read makes a concurrent change fail with 409 instead of being overwritten.
    const body: V1Secret = { ...existing, type: existing.type ?? 'kubernetes.io/tls', data: { ...existing.data, ...encode(stored) } }
    await clients.core.replaceNamespacedSecret({ name: request.secret, namespace: request.namespace, body }).catch((err: unknown) => {
      if (isRace(err)) throw err
      throw new Error(`cannot update ${what}: ${(err as Error).message}`, { cause: err })
    })
  }
  return { decision, bundle: stored['ca.crt'] }
}

/**
 * JSON-patch operations that set every webhook's caBundle to `bundle`, or an
 * empty list when all already match. Each replaced value is tested first
 * (fast-json-patch's invertible diff) and so is the webhook's name at that
 * index, so a concurrent edit makes the patch fail instead of landing wrong.
 */
export function caBundlePatch (webhooks: ReadonlyArray<{ name: string, clientConfig?: { caBundle?: string } }>, bundle: string): jsonpatch.Operation[] {
  const ops: jsonpatch.Operation[] = []
  webhooks.forEach((hook, i) => {
    const before = { caBundle: hook.clientConfig?.caBundle }
    const diff = jsonpatch.compare(before.caBundle === undefined ? {} : before, { caBundle: bundle }, true)
    if (diff.length === 0) return
    ops.push({ op: 'test', path: `/webhooks/${i}/name`, value: hook.name })
    for (const op of diff) ops.push({ ...op, path: `/webhooks/${i}/clientConfig${op.path}` })
  })
  return ops
}

/** Sets the caBundle of every webhook in the configuration; returns the names of those it changed. */
async function patchCaBundles (clients: InstallClients, request: InstallRequest, bundle: string): Promise<string[]> {
  const what = `MutatingWebhookConfiguration ${request.webhookConfig}`
  const config = await clients.admission.readMutatingWebhookConfiguration({ name: request.webhookConfig }).catch((err: unknown) => {
    const hint = statusOf(err) === 404 ? ' (not created yet? the Job retries)' : ''
    throw new Error(`cannot read ${what}${hint}: ${(err as Error).message}`, { cause: err })
  })
  const webhooks = config.webhooks ?? []
  if (webhooks.length === 0) throw new Error(`${what} has no webhooks to give a caBundle`)
  const ops = caBundlePatch(webhooks, bundle)
  if (ops.length === 0) return []
  await clients.admission.patchMutatingWebhookConfiguration({ name: request.webhookConfig, body: ops }, setHeaderOptions('Content-Type', PatchStrategy.JsonPatch)).catch((err: unknown) => {
    if (isRace(err)) throw err
    throw new Error(`cannot patch ${what}: ${(err as Error).message}`, { cause: err })
  })
  return webhooks.filter((_, i) => ops.some(op => op.path.startsWith(`/webhooks/${i}/clientConfig`))).map(w => w.name)
}

/** Runs the in-cluster mode: Secret first, then the caBundles; retries a few times when another writer races it. */
export async function installCertificates (clients: InstallClients, request: InstallRequest, logger: Logger): Promise<InstallResult> {
  for (let attempt = 1; ; attempt++) {
    const now = request.now ?? new Date()
    try {
      const { decision, bundle } = await ensureSecret(clients, request, now)
      logger.info({ secret: `${request.namespace}/${request.secret}`, action: decision.action, reason: decision.reason }, 'certificate checked')
      const encoded = caBundle(bundle)
      const patchedWebhooks = await patchCaBundles(clients, request, encoded)
      logger.info({ webhookConfig: request.webhookConfig, patchedWebhooks, cas: bundle.split('-----BEGIN').length - 1 }, 'caBundle set')
      return { action: decision.action, reason: decision.reason, caBundle: encoded, patchedWebhooks }
    } catch (err) {
      if (!isRace(err) || attempt >= ATTEMPTS) throw err
      logger.warn({ attempt, status: statusOf(err) }, 'another writer changed the object first; reading again')
    }
  }
}
