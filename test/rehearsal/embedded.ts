/**
 * Step 1 and the cluster of step 2 on the embedded simulator: certificates
 * from certs/, the real webhook over HTTPS on a free port, the Kubernetes API
 * simulator with two Spot nodes and one On-Demand node, and the shipped
 * MutatingWebhookConfiguration registered through the API with the generated
 * CA as caBundle. The simulator's service resolver sends calls for the
 * configuration's Service to the local webhook; TLS is still verified for
 * `<service>.<namespace>.svc`.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { KubernetesObjectApi, type KubeConfig } from '@kubernetes/client-node'
import type { Logger } from 'pino'
import { generateCertificates } from '../../certs/generate.ts'
import { writeCertificateFiles } from '../../certs/files.ts'
import { parseOptions } from '#common/options.ts'
import { startWebhook, type RunningWebhook } from '../../webhook/app.ts'
import { WEBHOOK_OPTIONS } from '../../webhook/options.ts'
import { startKubeSim, type KubeSim, type NodeInput } from '../sim/k8s/sim.ts'
import { loadWebhookConfiguration, webhookService, withCaBundle, type Manifest } from './manifests.ts'

/** The nodes of the embedded cluster, named like EKS nodes; the first sorts first so it gets the most pods. */
export const EMBEDDED_NODES: NodeInput[] = [
  { name: 'ip-10-0-1-17.ec2.internal', lifecycle: 'spot', instanceType: 'm5.large', zone: 'us-east-1a' },
  { name: 'ip-10-0-2-33.ec2.internal', lifecycle: 'spot', instanceType: 'm5a.large', zone: 'us-east-1b' },
  { name: 'ip-10-0-3-48.ec2.internal', lifecycle: 'on-demand', instanceType: 'm5.large', zone: 'us-east-1c' }
]

/** A webhook running locally with its own CA. */
export interface LocalWebhook {
  webhook: RunningWebhook
  /** PEM of the CA that signed its serving certificate. */
  caPem: string
  /** `https://127.0.0.1:<port>`. */
  url: string
  stop: () => Promise<void>
}

/** Generates a CA and serving certificate for the configuration's Service and starts the webhook on them. */
export async function startLocalWebhook (config: Manifest, logger: Logger): Promise<LocalWebhook> {
  const service = webhookService(config)
  const certDir = await mkdtemp(join(tmpdir(), 'spot-rehearsal-certs-'))
  try {
    const set = await generateCertificates({ service: service.name, namespace: service.namespace, hosts: ['127.0.0.1'], days: 1, keyType: 'ecdsa' })
    await writeCertificateFiles(certDir, set)
    const parsed = parseOptions(WEBHOOK_OPTIONS, ['--port', '0', '--metrics-port', '0', '--listen-address', '127.0.0.1', '--cert-dir', certDir], {})
    if (parsed.help) throw new Error('unexpected --help')
    const webhook = await startWebhook(parsed.values, { logger })
    return {
      webhook,
      caPem: set.ca.cert,
      url: `https://127.0.0.1:${webhook.port}`,
      stop: async () => { await webhook.stop(); await rm(certDir, { recursive: true, force: true }) }
    }
  } catch (err) {
    await rm(certDir, { recursive: true, force: true })
    throw err
  }
}

/** Creates the configuration through the API (as `kubectl apply` would), caBundle set to `caPem`. */
export async function registerWebhook (kubeConfig: KubeConfig, config: Manifest, caPem: string): Promise<Manifest> {
  const api = KubernetesObjectApi.makeApiClient(kubeConfig)
  return await api.create(withCaBundle(config, caPem)) as unknown as Manifest
}

/** The embedded cluster with the webhook registered. */
export interface EmbeddedCluster {
  sim: KubeSim
  local: LocalWebhook
  close: () => Promise<void>
}

/** How fast the simulated kubelet is. */
export interface EmbeddedTiming {
  /** Time a scheduled pod takes to be Ready. */
  readyDelayMs: number
  /** Longest time a terminating pod takes to stop. */
  kubeletDelayMs: number
}

/** What step 1 reports, in order, for the timeline. */
export type StepReporter = (actor: 'rehearsal' | 'webhook' | 'cluster', text: string) => void

/** Starts the webhook and the simulator and registers the configuration. */
export async function startEmbeddedCluster (timing: EmbeddedTiming, logger: Logger, report: StepReporter): Promise<EmbeddedCluster> {
  const config = await loadWebhookConfiguration()
  const service = webhookService(config)
  const local = await startLocalWebhook(config, logger.child({ program: 'spot-webhook' }))
  report('rehearsal', `certificates generated with certs/: a throwaway CA and a serving certificate for ${service.name}.${service.namespace}.svc`)
  report('webhook', `spot-webhook listening on ${local.url}${service.path} (TLS with that certificate)`)
  let sim: KubeSim
  try {
    sim = await startKubeSim({
      nodes: EMBEDDED_NODES,
      readyDelayMs: timing.readyDelayMs,
      kubeletDelayMs: timing.kubeletDelayMs,
      webhookServiceUrl: svc => `${local.url}${svc.path ?? '/'}`,
      logger: logger.child({ program: 'k8s-sim' })
    })
  } catch (err) {
    await local.stop()
    throw err
  }
  const close = async (): Promise<void> => { await sim.close(); await local.stop() }
  try {
    report('cluster', `simulated Kubernetes API at ${sim.url}: ${EMBEDDED_NODES.map(n => `${n.name} (${n.lifecycle === 'spot' ? 'Spot' : 'On-Demand'})`).join(', ')}`)
    await registerWebhook(sim.kubeConfig, config, local.caPem)
    report('rehearsal', `registered MutatingWebhookConfiguration ${config.metadata.name} from deploy/base/webhook-configuration.yaml, caBundle = the generated CA; service ${service.namespace}/${service.name} resolves to the local webhook`)
  } catch (err) {
    await close()
    throw err
  }
  return { sim, local, close }
}
