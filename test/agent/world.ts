/**
 * A small world for agent integration tests: the IMDS simulator, the
 * Kubernetes API simulator with our Spot node and workloads on it, a
 * notification receiver, and the agent started in-process with short poll
 * intervals. Everything listens on 127.0.0.1 port 0 and is closed by `close()`.
 */
import { EventEmitter } from 'node:events'
import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { startImdsSim, type ImdsSim, type ImdsSimOptions } from '../sim/imds/server.ts'
import { startKubeSim, type KubeSim, type KubeObject, type KubeSimOptions } from '../sim/k8s/sim.ts'
import { parseOptions } from '#common/options.ts'
import { AGENT_OPTIONS, checkAgentConfig, type AgentConfig } from '../../agent/config.ts'
import { startAgent, type AgentActivity, type AgentDeps, type OutcomeReport, type RunningAgent, type UndoReport } from '../../agent/agent.ts'
import { captureLogger, eventually } from './helpers.ts'

/** The node the agent runs on. */
export const NODE = 'spot-node-1'

/** A received notification. */
export interface Received { headers: IncomingMessage['headers'], body: string }

/** A webhook endpoint that records what it gets. */
export async function startReceiver (): Promise<{ url: string, received: Received[], close: () => Promise<void> }> {
  const received: Received[] = []
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', c => { body += c })
    req.on('end', () => { received.push({ headers: req.headers, body }); res.writeHead(200).end('ok') })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    received,
    close: () => new Promise<void>(resolve => { server.close(() => resolve()); server.closeAllConnections() })
  }
}

/** The agent's configuration from environment-style values, with test-friendly intervals. */
export function agentConfig (env: Record<string, string>): AgentConfig {
  const r = parseOptions(AGENT_OPTIONS, [], {
    NODE_NAME: NODE,
    POLL_INTERVAL: '50ms',
    DRAIN_SETTLE_TIME: '0s',
    PROMETHEUS_SERVER_PORT: '0',
    PROBES_SERVER_PORT: '0',
    METADATA_TRIES: '2',
    METADATA_TIMEOUT: '500ms',
    LISTEN_ADDRESS: '127.0.0.1',
    ...env
  })
  if (r.help) throw new Error('unexpected --help')
  return checkAgentConfig(r.values)
}

/** Everything one integration test needs. */
export interface World {
  imds: ImdsSim
  kube: KubeSim
  receiver: Awaited<ReturnType<typeof startReceiver>>
  logs: ReturnType<typeof captureLogger>
  /** Starts an agent (more than one over a test's life for restarts); stopped by `close()` unless stopped before. */
  start (env?: Record<string, string>, deps?: Partial<AgentDeps>): Promise<RunningAgent>
  /** The first outcome (or undo) `agent` reported since it started, waiting for it if need be: no report is missed by listening late. */
  first<K extends 'outcome' | 'undo'> (agent: RunningAgent, what: K, timeoutMs?: number): Promise<AgentActivity[K][0]>
  node (): KubeObject
  podsOn (node: string): KubeObject[]
  close (): Promise<void>
}

/** Starts both simulators, the receiver and our node (with no agent yet). */
export async function startWorld (opts: { imds?: ImdsSimOptions, kube?: KubeSimOptions } = {}): Promise<World> {
  const imds = await startImdsSim(opts.imds)
  const kube = await startKubeSim({ kubeletDelayMs: 50, ...opts.kube })
  const receiver = await startReceiver()
  const logs = captureLogger()
  await kube.addNode({ name: NODE })
  const agents: RunningAgent[] = []
  const reports = new WeakMap<RunningAgent, { outcome: OutcomeReport[], undo: UndoReport[] }>()
  let stopped = new WeakSet<RunningAgent>()
  return {
    imds,
    kube,
    receiver,
    logs,
    async start (env = {}, deps = {}) {
      const config = agentConfig({ INSTANCE_METADATA_URL: imds.url, WEBHOOK_URL: receiver.url, ...env })
      const activity = new EventEmitter<AgentActivity>()
      const seen = { outcome: [] as OutcomeReport[], undo: [] as UndoReport[] }
      activity.on('outcome', o => seen.outcome.push(o))
      activity.on('undo', u => seen.undo.push(u))
      const agent = await startAgent(config, { kubeConfig: kube.kubeConfig, logger: logs.logger, imdsBackoffBaseMs: 10, watchBackoffBaseMs: 20, activity, ...deps })
      reports.set(agent, seen)
      const stop = agent.stop.bind(agent)
      agent.stop = async () => { if (!stopped.has(agent)) { stopped.add(agent); await stop() } }
      agents.push(agent)
      return agent
    },
    first: (agent, what, timeoutMs = 15_000) => eventually(() => reports.get(agent)?.[what][0], timeoutMs, `the agent's first ${what}`),
    node: () => kube.get('Node', undefined, NODE)!,
    podsOn: node => kube.list('Pod', { fieldSelector: `spec.nodeName=${node}` }),
    async close () {
      for (const a of agents) await a.stop()
      stopped = new WeakSet()
      await Promise.all([imds.close(), kube.close(), receiver.close()])
    }
  }
}

/** A Deployment of `replicas` pods labelled app=<name>. */
export function deployment (name: string, replicas: number, extra: { grace?: number, emptyDir?: boolean, namespace?: string } = {}): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: extra.namespace ?? 'default' },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          terminationGracePeriodSeconds: extra.grace ?? 30,
          containers: [{ name: 'c', image: `${name}:1` }],
          ...(extra.emptyDir === true ? { volumes: [{ name: 'scratch', emptyDir: {} }] } : {})
        }
      }
    }
  }
}

/** A PodDisruptionBudget over app=<app>. */
export function budget (name: string, app: string, minAvailable: number, namespace = 'default'): KubeObject {
  return { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name, namespace }, spec: { minAvailable, selector: { matchLabels: { app } } } }
}

/** Pods that are Running and Ready. */
export function readyPods (pods: KubeObject[]): KubeObject[] {
  return pods.filter(p => p.metadata.deletionTimestamp === undefined && p.status?.phase === 'Running' &&
    (p.status?.conditions ?? []).some((c: { type: string, status: string }) => c.type === 'Ready' && c.status === 'True'))
}
