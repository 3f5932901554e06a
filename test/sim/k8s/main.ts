#!/usr/bin/env node
/**
 * `npm run k8s-sim -- --port 6443 --kubeconfig-out FILE [--nodes spot:2,on-demand:1] [--tls]`:
 * runs the Kubernetes API simulator alone, writes a kubeconfig for it, prints its
 * URL on stdout, logs (pino JSON) on stderr and serves until SIGTERM or SIGINT, so
 * any client (kubectl included: `KUBECONFIG=FILE kubectl get nodes`) can use it.
 */
import { pino } from 'pino'
import { createLogger, LOG_LEVELS } from '#common/logger.ts'
import { boolean, duration, nonEmpty, oneOf, option, optional, port, readOptionsOrExit, text, type Parser } from '#common/options.ts'
import { stopOnSignals } from '#common/signals.ts'
import { parseNodePlan, type NodeInput } from './nodes.ts'
import { startKubeSim } from './sim.ts'

const PROGRAM = 'k8s-sim'
const SUMMARY = 'Kubernetes API server simulator: the REST subset the project uses with real semantics (resourceVersion conflicts, patches, selectors, eviction with PodDisruptionBudgets, graceful deletion, admission webhooks over HTTPS) and tiny DaemonSet/ReplicaSet/Deployment/kubelet controllers.'

const nodePlan: Parser<NodeInput[]> = raw => parseNodePlan(raw)

const OPTIONS = {
  port: option({ flag: 'port', env: 'K8S_SIM_PORT', default: 6443, parse: port, help: 'Port to listen on (0 picks a free one).' }),
  host: option({ flag: 'host', env: 'K8S_SIM_HOST', default: '127.0.0.1', parse: nonEmpty, help: 'Address to listen on.' }),
  kubeconfigOut: option({ flag: 'kubeconfig-out', env: 'K8S_SIM_KUBECONFIG_OUT', default: '', parse: text, help: 'Write a kubeconfig for the simulator to this file (empty: do not write).' }),
  nodes: option({ flag: 'nodes', env: 'K8S_SIM_NODES', default: parseNodePlan('spot:2,on-demand:1'), shownDefault: 'spot:2,on-demand:1', parse: nodePlan, help: 'Nodes to create: spot:N,on-demand:M (spot nodes are labelled lifecycle=Ec2Spot).' }),
  tls: option({ flag: 'tls', env: 'K8S_SIM_TLS', default: false, parse: boolean, help: 'Serve HTTPS with a generated CA (written into the kubeconfig).' }),
  kubeletDelay: option({ flag: 'kubelet-delay', env: 'K8S_SIM_KUBELET_DELAY', default: undefined as number | undefined, parse: optional(duration('ms')), shownDefault: 'the pod\'s grace period', help: 'Longest time the kubelet takes to finish a terminating pod (e.g. 2s).' }),
  readyDelay: option({ flag: 'ready-delay', env: 'K8S_SIM_READY_DELAY', default: 500, parse: duration('ms'), help: 'How long a scheduled pod takes to become Running and Ready (e.g. 500ms).' }),
  logLevel: option({ flag: 'log-level', env: 'LOG_LEVEL', default: 'info' as const, parse: oneOf(LOG_LEVELS), help: 'Log level; debug logs admission webhook calls.' })
}

const config = readOptionsOrExit(PROGRAM, SUMMARY, OPTIONS).values
const log = createLogger(PROGRAM, config.logLevel, pino.destination(2))
try {
  const sim = await startKubeSim({
    host: config.host,
    port: config.port,
    tls: config.tls,
    nodes: config.nodes,
    readyDelayMs: config.readyDelay,
    ...(config.kubeletDelay === undefined ? {} : { kubeletDelayMs: config.kubeletDelay }),
    logger: log
  })
  if (config.kubeconfigOut !== '') await sim.writeKubeconfig(config.kubeconfigOut)
  log.info({ url: sim.url, kubeconfig: config.kubeconfigOut || undefined, nodes: sim.list('Node').map(n => n.metadata.name) }, 'k8s-sim ready')
  process.stdout.write(`${PROGRAM} listening on ${sim.url}\n`)
  stopOnSignals(() => sim.close(), { logger: log, message: 'k8s-sim stopping' })
} catch (err) {
  log.error({ err }, 'k8s-sim failed to start')
  process.stderr.write(`${PROGRAM}: ${(err as Error).message}\n`)
  process.exitCode = 1
}
