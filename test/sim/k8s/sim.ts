/**
 * The Kubernetes API server simulator: `startKubeSim()` starts an HTTP (or HTTPS)
 * server on 127.0.0.1 that speaks the REST subset this project uses with the real
 * semantics (see cluster.ts, admission.ts, controllers.ts), and returns a KubeSim
 * handle for tests: a loaded `@kubernetes/client-node` KubeConfig, programmatic
 * seeding and reading that bypass HTTP, `waitFor` driven by store changes, fault
 * injection and the request log.
 */
import { createServer as createHttpServer, type Server, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import { KubeConfig } from '@kubernetes/client-node'
import { createLogger, type Logger } from '#common/logger.ts'
import { admit, type ServiceRef, type ServiceUrlResolver } from './admission.ts'
import { Cluster, type DeleteOptions, type WriteOptions } from './cluster.ts'
import { Controllers } from './controllers.ts'
import { FaultTable, type Fault, type FaultSpec } from './faults.ts'
import { createHttpApi, type RequestRecord } from './http-api.ts'
import { simKubeConfig } from './kubeconfig.ts'
import { makeNode, type NodeInput } from './nodes.ts'
import { findResource, RESOURCES, resourceForKind, type ResourceType } from './resources.ts'
import { ApiError } from './status.ts'
import { ObjectStore, type KubeObject } from './store.ts'
import { callWebhookOverHttps, type WebhookCaller } from './webhook-client.ts'

export type { KubeObject } from './store.ts'
export type { FaultSpec, Fault } from './faults.ts'
export type { RequestRecord } from './http-api.ts'
export type { NodeInput } from './nodes.ts'

/** Options of `startKubeSim`; all optional. */
export interface KubeSimOptions {
  /** Listen address (default 127.0.0.1). */
  host?: string
  /** Listen port (default 0: a free one). */
  port?: number
  /** Serve HTTPS with a freshly generated CA (its PEM goes into the kubeconfig). */
  tls?: boolean
  /** Switch controllers off (all on by default). */
  controllers?: { daemonSets?: boolean, replicaSets?: boolean, deployments?: boolean, kubelet?: boolean, disruption?: boolean }
  /** Upper bound for finishing a terminating pod (default: its grace period, as a real kubelet). */
  kubeletDelayMs?: number
  /** Delay before a scheduled pod is Running and Ready (default 0). */
  readyDelayMs?: number
  /** Maps a webhook's clientConfig.service to a reachable URL (TLS is still verified for `<name>.<namespace>.svc`). */
  webhookServiceUrl?: (svc: ServiceRef) => string
  /** Nodes to create at start. */
  nodes?: NodeInput[]
  /** pino logger (default: silent). */
  logger?: Logger
  /** Replaces the HTTPS webhook caller (tests of the dispatcher only). */
  webhookCaller?: WebhookCaller
  /** How often watches that allow bookmarks get one (default 60 s, as the API server's watch cache). */
  bookmarkIntervalMs?: number
}

/** An object as tests write it (client-node model objects fit): apiVersion and kind pick the resource. */
export interface ObjectInput {
  apiVersion?: string
  kind?: string
  metadata?: { name?: string, namespace?: string }
}

/** Filter for `KubeSim.list`. */
export interface ListFilter {
  namespace?: string
  labelSelector?: string
  fieldSelector?: string
}

/** Namespaces every cluster starts with. */
const SYSTEM_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease']

/**
 * Finds a resource by kind (`Pod`, `DaemonSet`; core wins for `Event`), plural
 * (`pods`) or `plural.group` (`daemonsets.apps`, `events.events.k8s.io`).
 */
export function resolveResource (kind: string): ResourceType {
  const dot = kind.indexOf('.')
  const found = RESOURCES.find(r => r.kind === kind) ??
    RESOURCES.find(r => r.plural === kind) ??
    (dot > 0 ? findResource(kind.slice(dot + 1), kind.slice(0, dot)) : undefined)
  if (found === undefined) throw new Error(`the simulator does not serve a resource called "${kind}"`)
  return found
}

function typeOf (obj: KubeObject): ResourceType {
  const t = obj.apiVersion !== undefined && obj.kind !== undefined ? resourceForKind(obj.apiVersion, obj.kind) : undefined
  if (t === undefined) throw new Error(`the simulator does not serve ${obj.apiVersion ?? '<no apiVersion>'} ${obj.kind ?? '<no kind>'}`)
  return t
}

/** A running simulator. Create with `startKubeSim`. */
export class KubeSim {
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  readonly url: string
  /** The KubeConfig `kubeconfigDocument()` exports, ready for `makeApiClient`. */
  readonly kubeConfig: KubeConfig
  /** The API semantics (for advanced tests). */
  readonly cluster: Cluster
  /** Every HTTP request received, oldest first. */
  readonly requests: RequestRecord[]
  readonly #document: string
  readonly #server: Server
  readonly #controllers: Controllers
  readonly #faults: FaultTable
  readonly #watches: Set<ServerResponse>
  readonly #changeListeners: Set<() => void>
  #nodeCount = 0

  /** @internal Use startKubeSim. */
  constructor (parts: { url: string, kubeConfig: KubeConfig, server: Server, cluster: Cluster, controllers: Controllers, faults: FaultTable, requests: RequestRecord[], watches: Set<ServerResponse>, changeListeners: Set<() => void> }) {
    this.url = parts.url
    this.kubeConfig = parts.kubeConfig
    this.#document = parts.kubeConfig.exportConfig()
    this.#server = parts.server
    this.cluster = parts.cluster
    this.#controllers = parts.controllers
    this.#faults = parts.faults
    this.requests = parts.requests
    this.#watches = parts.watches
    this.#changeListeners = parts.changeListeners
  }

  /** The kubeconfig document (server URL, token, CA data when TLS), as client-node exports it: JSON, which kubectl and helm read as YAML. */
  kubeconfigDocument (): string {
    return this.#document
  }

  /** Writes the kubeconfig to `path` (mode 0600). */
  async writeKubeconfig (path: string): Promise<void> {
    await writeFile(path, this.#document, { mode: 0o600 })
  }

  /**
   * Creates an object without HTTP (defaults and validation apply; admission only
   * when `admission: true`). apiVersion and kind pick the resource.
   */
  async create<T extends ObjectInput> (input: T, opts: WriteOptions = {}): Promise<KubeObject> {
    const obj = input as unknown as KubeObject
    return (await this.cluster.create(typeOf(obj), obj.metadata?.namespace, obj, { admission: false, ...opts })).object
  }

  /** Reads an object, or undefined when absent. */
  get (kind: string, namespace: string | undefined, name: string): KubeObject | undefined {
    try {
      return this.cluster.get(resolveResource(kind), namespace, name)
    } catch (err) {
      if (err instanceof ApiError && err.status.code === 404) return undefined
      throw err
    }
  }

  /** Lists objects with optional namespace and selectors (same syntax as the query parameters). */
  list (kind: string, filter: ListFilter = {}): KubeObject[] {
    return this.cluster.list(resolveResource(kind), filter.namespace, filter).items
  }

  /** Replaces an object (resourceVersion checked when present), without admission unless asked. */
  async update<T extends ObjectInput> (input: T, opts: WriteOptions & { subresource?: string } = {}): Promise<KubeObject> {
    const obj = input as unknown as KubeObject
    return (await this.cluster.update(typeOf(obj), obj.metadata.namespace, obj.metadata.name, obj, { admission: false, ...opts })).object
  }

  /** Deletes an object with the API's semantics (graceful for pods). */
  remove (kind: string, namespace: string | undefined, name: string, opts: DeleteOptions = {}): void {
    this.cluster.delete(resolveResource(kind), namespace, name, opts)
  }

  /** Adds a simulated EC2 node (see makeNode for labels); returns it. */
  async addNode (input: NodeInput = {}): Promise<KubeObject> {
    this.#nodeCount++
    return await this.create(makeNode(input, this.#nodeCount))
  }

  /**
   * Resolves with the predicate's first truthy result, checking now, after every
   * store change and after every answered request (so conditions on `requests`
   * work too); rejects after `timeoutMs` naming `description`.
   */
  waitFor<T> (predicate: (sim: KubeSim) => T | undefined | null | false, timeoutMs = 5000, description = 'condition'): Promise<T> {
    return new Promise((resolve, reject) => {
      let unsubscribe = (): void => {}
      const check = (): boolean => {
        let value: T | undefined | null | false
        try {
          value = predicate(this)
        } catch (err) {
          finish(); reject(err); return true
        }
        if (value === undefined || value === null || value === false) return false
        finish(); resolve(value); return true
      }
      const timer = setTimeout(() => { finish(); reject(new Error(`waitFor: ${description} not met within ${timeoutMs} ms`)) }, timeoutMs)
      const finish = (): void => { clearTimeout(timer); unsubscribe() }
      if (check()) return
      const listener = (): void => { check() }
      this.#changeListeners.add(listener)
      unsubscribe = () => { this.#changeListeners.delete(listener) }
    })
  }

  /** Installs a fault rule (see FaultSpec); returns its handle with a hit count. */
  injectFault (spec: FaultSpec): Fault {
    return this.#faults.add(spec)
  }

  /** Removes all fault rules. */
  clearFaults (): void {
    this.#faults.clear()
  }

  /** Empties the request log. */
  clearRequests (): void {
    this.requests.length = 0
  }

  /** Ends every open watch, as the API server does when a watch's time is up or it restarts. */
  endWatches (): void {
    for (const res of this.#watches) res.end()
  }

  /** Forgets the change history (etcd compaction): watches resuming from before now get 410 Gone. */
  compact (): void {
    this.cluster.store.compact()
  }

  /** Stops controllers, ends watches and closes the server and its connections. */
  async close (): Promise<void> {
    this.#controllers.stop()
    this.endWatches()
    await new Promise<void>(resolve => {
      this.#server.close(() => resolve())
      this.#server.closeAllConnections()
    })
  }
}

/** Starts a simulator; resolves once it listens. */
export async function startKubeSim (opts: KubeSimOptions = {}): Promise<KubeSim> {
  const log = opts.logger ?? createLogger('kube-sim', 'silent')
  const store = new ObjectStore()
  const cluster = new Cluster(store)
  const resolveService: ServiceUrlResolver | undefined = opts.webhookServiceUrl
  cluster.admission = async request => await admit(request, {
    configurations: () => cluster.webhookConfigurations(),
    call: opts.webhookCaller ?? callWebhookOverHttps,
    ...(resolveService === undefined ? {} : { resolveService }),
    log
  })
  const namespace = findResource('', 'namespaces')!
  for (const name of SYSTEM_NAMESPACES) await cluster.create(namespace, undefined, { metadata: { name } }, { admission: false })

  const faults = new FaultTable()
  const requests: RequestRecord[] = []
  const watches = new Set<ServerResponse>()
  const changeListeners = new Set<() => void>()
  const notify = (): void => { for (const listener of [...changeListeners]) listener() }
  store.subscribe(notify)
  const host = opts.host ?? '127.0.0.1'
  let address = ''
  const handler = createHttpApi({ cluster, faults, requests, watches, serverAddress: () => address, onRecord: notify, bookmarkIntervalMs: opts.bookmarkIntervalMs ?? 60_000, log })
  let caPem: string | undefined
  let server: Server
  if (opts.tls === true) {
    // Loaded only when needed: certificate generation pulls in selfsigned.
    const { generateCertificates } = await import('../../../certs/generate.ts')
    const certs = await generateCertificates({ service: 'kubernetes', namespace: 'default', hosts: ['localhost', '127.0.0.1', host], days: 1, keyType: 'ecdsa' })
    caPem = certs.ca.cert
    server = createHttpsServer({ cert: certs.serving.cert, key: certs.serving.key }, handler) as unknown as Server
  } else {
    server = createHttpServer(handler)
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.port ?? 0, host, () => resolve())
  })
  const port = (server.address() as AddressInfo).port
  const urlHost = host.includes(':') ? `[${host}]` : host
  address = `${urlHost}:${port}`
  const url = `${opts.tls === true ? 'https' : 'http'}://${address}`
  const kubeConfig = simKubeConfig({ server: url, token: randomBytes(16).toString('hex'), ...(caPem === undefined ? {} : { caPem }) })

  const c = opts.controllers ?? {}
  const controllers = new Controllers(cluster, {
    daemonSets: c.daemonSets ?? true,
    replicaSets: c.replicaSets ?? true,
    deployments: c.deployments ?? true,
    kubelet: c.kubelet ?? true,
    disruption: c.disruption ?? true,
    readyDelayMs: opts.readyDelayMs ?? 0,
    ...(opts.kubeletDelayMs === undefined ? {} : { kubeletDelayMs: opts.kubeletDelayMs })
  }, log)
  const sim = new KubeSim({ url, kubeConfig, server, cluster, controllers, faults, requests, watches, changeListeners })
  for (const node of opts.nodes ?? []) await sim.addNode(node)
  controllers.start()
  log.info({ url, tls: opts.tls === true }, 'kubernetes API simulator listening')
  return sim
}
