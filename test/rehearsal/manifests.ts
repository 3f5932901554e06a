/**
 * The objects the rehearsal applies: the shipped MutatingWebhookConfiguration
 * (deploy/base) and the workshop's handler DaemonSet (fixtures/), both read
 * with the tests' YAML reader (test/helpers/yaml.ts), and the workloads and namespaces it builds
 * itself (pure).
 */
import { readFile } from 'node:fs/promises'
import { parseYamlStream } from '../helpers/yaml.ts'

/** A Kubernetes object as plain JSON. */
export interface Manifest {
  apiVersion: string
  kind: string
  metadata: { name: string, namespace?: string, uid?: string, labels?: Record<string, string>, annotations?: Record<string, string> }
  [field: string]: any
}

/** The namespace label the webhook's namespaceSelector matches. */
export const INJECT_LABEL = 'spot-handler.io/inject'

/** Namespace labelled for injection: the handler and the workloads live here. */
export const LABELLED_NAMESPACE = 'spot-rehearsal'

/** Namespace without the label: the same handler, for contrast. */
export const PLAIN_NAMESPACE = 'spot-rehearsal-plain'

/** Label on everything the rehearsal creates. */
export const PART_OF = { 'app.kubernetes.io/part-of': 'spot-rehearsal' }

/** A tiny image that exists everywhere and stops at once on SIGTERM (for kind clusters). */
export const WORKLOAD_IMAGE = 'registry.k8s.io/pause:3.10'

/** The web app: replicas and the budget's maxUnavailable. */
export const WEB = { name: 'web', replicas: 6, maxUnavailable: 1 }

const WEBHOOK_CONFIGURATION = new URL('../../deploy/base/webhook-configuration.yaml', import.meta.url)
const WORKSHOP_HANDLER = new URL('./fixtures/workshop-handler.yaml', import.meta.url)

/** Parses a multi-document YAML file into plain JSON objects (empty documents dropped). */
export async function loadManifests (url: URL): Promise<Manifest[]> {
  return parseYamlStream<Manifest>(await readFile(url, 'utf8'))
}

/** The MutatingWebhookConfiguration deploy/ ships. */
export async function loadWebhookConfiguration (): Promise<Manifest> {
  const found = (await loadManifests(WEBHOOK_CONFIGURATION)).filter(m => m.kind === 'MutatingWebhookConfiguration')
  if (found.length !== 1) throw new Error(`expected one MutatingWebhookConfiguration in ${WEBHOOK_CONFIGURATION.pathname}, found ${found.length}`)
  return found[0]!
}

/** The Service the configuration's (first) webhook calls. */
export function webhookService (config: Manifest): { name: string, namespace: string, path: string } {
  const service = config.webhooks?.[0]?.clientConfig?.service
  if (service?.name === undefined || service.namespace === undefined) throw new Error(`MutatingWebhookConfiguration ${config.metadata.name} does not name a Service`)
  return { name: service.name, namespace: service.namespace, path: service.path ?? '/' }
}

/** The configuration with every webhook's caBundle set to `caPem`. */
export function withCaBundle (config: Manifest, caPem: string): Manifest {
  const copy = structuredClone(config)
  for (const hook of copy.webhooks ?? []) hook.clientConfig.caBundle = Buffer.from(caPem).toString('base64')
  return copy
}

/** The workshop's handler (ServiceAccount + DaemonSet) for `namespace`, as `kubectl apply -n` would send it. */
export async function loadWorkshopHandler (namespace: string): Promise<Manifest[]> {
  return (await loadManifests(WORKSHOP_HANDLER)).map(m => ({ ...m, metadata: { ...m.metadata, namespace } }))
}

/** A namespace, labelled for injection or not. */
export function namespaceManifest (name: string, inject: boolean): Manifest {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { ...PART_OF, ...(inject ? { [INJECT_LABEL]: 'enabled' } : {}) } } }
}

function deployment (namespace: string, name: string, replicas: number, extraSpec: Record<string, unknown> = {}): Manifest {
  const labels = { app: name }
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace, labels: { ...labels, ...PART_OF } },
    spec: {
      replicas,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels: { ...labels, ...PART_OF } },
        spec: { terminationGracePeriodSeconds: 5, containers: [{ name, image: WORKLOAD_IMAGE }], ...extraSpec }
      }
    }
  }
}

/**
 * The workloads: a web app with a PodDisruptionBudget (one pod may be down),
 * a single-replica batch worker, and a cache keeping its data in an emptyDir.
 */
export function workloadManifests (namespace: string): Manifest[] {
  return [
    deployment(namespace, WEB.name, WEB.replicas),
    {
      apiVersion: 'policy/v1',
      kind: 'PodDisruptionBudget',
      metadata: { name: WEB.name, namespace, labels: PART_OF },
      spec: { maxUnavailable: WEB.maxUnavailable, selector: { matchLabels: { app: WEB.name } } }
    },
    deployment(namespace, 'batch-worker', 1),
    deployment(namespace, 'cache', 1, { volumes: [{ name: 'scratch', emptyDir: {} }] })
  ]
}
