/**
 * Assertions every rendering of the install (Helm chart or kustomize) must
 * pass: webhook configuration fields, RBAC exactly as the issue lists it,
 * security contexts, the agent DaemonSet, and that the programs' flags and
 * environment variables are ones the programs really accept (parsed with
 * their own option specs).
 */
import { AGENT_OPTIONS, checkAgentConfig } from '../../agent/config.ts'
import { CERTS_OPTIONS, selectCertsMode } from '../../certs/options.ts'
import { parseOptions } from '#common/options.ts'
import { WEBHOOK_OPTIONS } from '../../webhook/options.ts'
import { DEFAULT_HANDLER_POLICY, handlerDecision } from '../../webhook/policy.ts'
import type { Test } from 'tap'
import { only, podSpecs, type KubeObject } from './render.ts'
import { resolveEnv } from './kubelet.ts'
import { builtFile, NODE_FLAGS, type ProgramName } from '../../deploy/build.ts'

/** The command the manifests run a program with: node, its V8 flags, its built file in the image. */
const builtCommand = (program: ProgramName): string[] => ['node', ...NODE_FLAGS[program], `/app/${builtFile(program)}`]

/** Names and settings a rendering is checked against. */
export interface InstallExpectation {
  namespace: string
  webhookName: string
  configName: string
  secretName: string
  agentName: string
  /** `--node-selector` value the webhook must get. */
  nodeSelector: Record<string, string>
  failurePolicy: 'Ignore' | 'Fail'
  timeoutSeconds: number
  webhookReplicas: number
}

/** The names and settings of a default install. */
export const DEFAULT_EXPECTATION: InstallExpectation = {
  namespace: 'spot-handler',
  webhookName: 'spot-webhook',
  configName: 'spot-interrupt-handler',
  secretName: 'spot-webhook-tls',
  agentName: 'spot-agent',
  nodeSelector: { lifecycle: 'Ec2Spot' },
  failurePolicy: 'Ignore',
  timeoutSeconds: 5,
  webhookReplicas: 2
}

/**
 * The agent's rights (cluster-wide), exactly what it uses: its Node listed,
 * watched, read on a conflict and patched; the node's pods listed and watched
 * during a drain, evicted, and deleted when finished or at the deadline;
 * Events created; the budgets watched to pace evictions.
 */
export const AGENT_PERMISSIONS = [
  'core/nodes:get', 'core/nodes:list', 'core/nodes:watch', 'core/nodes:patch',
  'core/pods:list', 'core/pods:watch', 'core/pods:delete',
  'core/pods/eviction:create',
  'core/events:create',
  'policy/poddisruptionbudgets:list', 'policy/poddisruptionbudgets:watch'
].map(p => `*|${p}|`).sort()

/** The certificate job's rights: the Secret in its namespace, its own webhook configuration. */
export function certsPermissions (e: InstallExpectation): string[] {
  return [
    `${e.namespace}|core/secrets:create|`,
    `${e.namespace}|core/secrets:get|${e.secretName}`,
    `${e.namespace}|core/secrets:update|${e.secretName}`,
    `*|admissionregistration.k8s.io/mutatingwebhookconfigurations:get|${e.configName}`,
    `*|admissionregistration.k8s.io/mutatingwebhookconfigurations:patch|${e.configName}`
  ].sort()
}

/**
 * Every permission the ServiceAccount `namespace/name` holds through
 * (Cluster)RoleBindings, one string per verb and resource:
 * `<scope>|<group>/<resource>:<verb>|<resourceNames>` (scope `*` = cluster-wide).
 */
export function permissionsOf (objects: readonly KubeObject[], namespace: string, name: string): string[] {
  const out: string[] = []
  for (const binding of objects.filter(o => o.kind === 'RoleBinding' || o.kind === 'ClusterRoleBinding')) {
    const bound = (binding.subjects ?? []).some((s: any) => s.kind === 'ServiceAccount' && s.name === name && s.namespace === namespace)
    if (!bound) continue
    const role = only(objects, binding.roleRef.kind, binding.roleRef.name)
    const scope = binding.kind === 'RoleBinding' ? binding.metadata.namespace! : '*'
    for (const rule of role.rules ?? []) {
      for (const group of rule.apiGroups ?? []) {
        for (const resource of rule.resources ?? []) {
          for (const verb of rule.verbs ?? []) {
            out.push(`${scope}|${group === '' ? 'core' : group}/${resource}:${verb}|${(rule.resourceNames ?? []).join(',')}`)
          }
        }
      }
    }
  }
  return out.sort()
}

/** A probe or Service target port as a number: named ports are looked up in the container's ports. */
export function portNumber (container: any, port: number | string | undefined): number | undefined {
  return typeof port === 'string' ? container.ports?.find((p: any) => p.name === port)?.containerPort : port
}

/** The container's environment with downward-API and Secret references replaced by plausible values. */
export function containerEnv (container: any): Record<string, string> {
  const secrets: Record<string, Record<string, string>> = {}
  for (const entry of container.env ?? []) {
    const ref = entry.valueFrom?.secretKeyRef
    if (ref !== undefined) (secrets[ref.name] ??= {})[ref.key] = entry.name === 'WEBHOOK_HEADERS' ? '{"Authorization":"Bearer x"}' : 'https://hooks.example.com/x'
  }
  return resolveEnv(container, { fields: { 'spec.nodeName': 'node-a', 'metadata.name': 'spot-agent-x1', 'metadata.namespace': 'spot-handler' }, secrets })
}

/** Asserts the namespace labels: opt-in for injection, Pod Security at the agent's level. */
export function checkNamespace (t: Test, objects: readonly KubeObject[], e: InstallExpectation): void {
  const ns = only(objects, 'Namespace', e.namespace)
  t.equal(ns.metadata.labels?.['spot-handler.io/inject'], 'enabled', 'the namespace is opted in, so the agent gets the nodeSelector')
  t.equal(ns.metadata.labels?.['pod-security.kubernetes.io/enforce'], 'privileged', 'Pod Security admits the agent (hostNetwork, hostPath)')
  t.equal(ns.metadata.labels?.['pod-security.kubernetes.io/audit'], 'restricted', 'everything else is audited against restricted')
  for (const o of objects) {
    if (o.metadata.namespace !== undefined) t.equal(o.metadata.namespace, e.namespace, `${o.kind}/${o.metadata.name} is in ${e.namespace}`)
  }
}

/** Asserts the MutatingWebhookConfiguration and that its Service reaches the webhook's HTTPS port. */
export function checkWebhookConfiguration (t: Test, objects: readonly KubeObject[], e: InstallExpectation): void {
  const config = only(objects, 'MutatingWebhookConfiguration', e.configName)
  t.equal(config.webhooks.length, 1, 'one webhook')
  const hook = config.webhooks[0]
  t.same(hook.clientConfig.service, { name: e.webhookName, namespace: e.namespace, path: '/mutate', port: 443 })
  t.same(hook.rules, [{ apiGroups: ['apps'], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['daemonsets'], scope: 'Namespaced' }])
  t.same(hook.namespaceSelector, { matchLabels: { 'spot-handler.io/inject': 'enabled' } })
  t.equal(hook.sideEffects, 'None')
  t.same(hook.admissionReviewVersions, ['v1'])
  t.equal(hook.timeoutSeconds, e.timeoutSeconds)
  t.equal(hook.failurePolicy, e.failurePolicy)
  t.equal(hook.reinvocationPolicy, 'IfNeeded')
  t.equal(hook.matchPolicy, 'Equivalent')
  t.notOk(hook.objectSelector, 'no objectSelector: the webhook decides what is a handler')

  const service = only(objects, 'Service', e.webhookName)
  const https = service.spec.ports.find((p: any) => p.port === 443)
  const deployment = only(objects, 'Deployment', e.webhookName)
  const container = deployment.spec.template.spec.containers[0]
  const parsed = parseOptions(WEBHOOK_OPTIONS, container.args ?? [], {})
  if (parsed.help) throw new Error('webhook args ask for --help')
  t.equal(portNumber(container, https?.targetPort), parsed.values.port, 'Service port 443 reaches the webhook --port')
  for (const [key, value] of Object.entries(service.spec.selector)) {
    t.equal(deployment.spec.template.metadata.labels[key], value, `the Service selects the webhook pods (${key})`)
  }
}

/** Asserts the webhook Deployment: replicas, spread, probes, resources, PDB, TLS Secret mount, real flags. */
export function checkWebhookDeployment (t: Test, objects: readonly KubeObject[], e: InstallExpectation): void {
  const deployment = only(objects, 'Deployment', e.webhookName)
  const pod = deployment.spec.template.spec
  const container = pod.containers[0]
  t.equal(deployment.spec.replicas, e.webhookReplicas, 'replicas')
  t.ok(pod.affinity?.podAntiAffinity, 'pod anti-affinity spreads the replicas')
  t.same(container.command, builtCommand('spot-webhook'), 'the image runs the built webhook program')
  const parsed = parseOptions(WEBHOOK_OPTIONS, container.args ?? [], {})
  if (parsed.help) throw new Error('webhook args ask for --help')
  t.same(parsed.values.nodeSelector, e.nodeSelector, '--node-selector carries the selector to inject')
  for (const probe of ['readinessProbe', 'livenessProbe']) {
    t.equal(portNumber(container, container[probe]?.httpGet?.port), parsed.values.metricsPort, `${probe} uses the --metrics-port`)
  }
  t.ok(container.resources?.requests?.cpu && container.resources?.requests?.memory && container.resources?.limits?.memory, 'resources set')
  const mount = container.volumeMounts.find((m: any) => m.mountPath === parsed.values.certDir)
  const volume = pod.volumes.find((v: any) => v.name === mount?.name)
  t.equal(volume?.secret?.secretName, e.secretName, '--cert-dir is the TLS Secret')
  t.notOk(mount?.subPath, 'no subPath, so Secret updates reach the pod and are reloaded')
  const pdb = only(objects, 'PodDisruptionBudget', e.webhookName)
  t.ok(pdb.spec.minAvailable !== undefined || pdb.spec.maxUnavailable !== undefined, 'the PDB limits disruption')
  for (const [key, value] of Object.entries(pdb.spec.selector.matchLabels)) {
    t.equal(deployment.spec.template.metadata.labels[key], value, `the PDB selects the webhook pods (${key})`)
  }
}

/** Asserts RBAC: one ServiceAccount per component with exactly the listed rights, no wildcards, no token for the webhook. */
export function checkRbac (t: Test, objects: readonly KubeObject[], e: InstallExpectation): void {
  for (const role of objects.filter(o => o.kind === 'Role' || o.kind === 'ClusterRole')) {
    const text = JSON.stringify(role.rules)
    t.notOk(text.includes('"*"'), `${role.kind}/${role.metadata.name} has no wildcard`)
  }
  t.same(permissionsOf(objects, e.namespace, e.agentName), AGENT_PERMISSIONS, 'agent rights exactly as listed')
  t.same(permissionsOf(objects, e.namespace, 'spot-certs'), certsPermissions(e), 'certs job rights exactly as listed')
  t.same(permissionsOf(objects, e.namespace, e.webhookName), [], 'the webhook has no rights')
  t.equal(only(objects, 'ServiceAccount', e.webhookName).automountServiceAccountToken, false, 'the webhook ServiceAccount mounts no token')
  t.equal(only(objects, 'Deployment', e.webhookName).spec.template.spec.automountServiceAccountToken, false, 'the webhook pod mounts no token')
  const accounts = new Map([
    [`Deployment/${e.webhookName}`, e.webhookName],
    [`DaemonSet/${e.agentName}`, e.agentName]
  ])
  for (const { owner, spec } of podSpecs(objects)) {
    t.equal(spec.serviceAccountName, accounts.get(owner) ?? 'spot-certs', `${owner} runs as its own ServiceAccount`)
  }
}

/** Asserts the hardened security context on every pod and container. */
export function checkSecurityContexts (t: Test, objects: readonly KubeObject[]): void {
  for (const { owner, spec } of podSpecs(objects)) {
    t.equal(spec.securityContext?.runAsNonRoot, true, `${owner}: pod runAsNonRoot`)
    t.equal(spec.securityContext?.seccompProfile?.type, 'RuntimeDefault', `${owner}: pod seccomp RuntimeDefault`)
    t.notOk(spec.hostPID || spec.hostIPC, `${owner}: no host PID/IPC`)
    for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
      const sc = c.securityContext ?? {}
      const where = `${owner} container ${c.name}`
      t.equal(sc.runAsNonRoot, true, `${where}: runAsNonRoot`)
      t.equal(sc.readOnlyRootFilesystem, true, `${where}: readOnlyRootFilesystem`)
      t.equal(sc.allowPrivilegeEscalation, false, `${where}: allowPrivilegeEscalation false`)
      t.same(sc.capabilities, { drop: ['ALL'] }, `${where}: all capabilities dropped, none added`)
      t.equal(sc.seccompProfile?.type, 'RuntimeDefault', `${where}: seccomp RuntimeDefault`)
      t.notOk(sc.privileged, `${where}: not privileged`)
    }
  }
}

/** Asserts the certificate job's arguments are real flags that select the in-cluster mode for this install. */
export function checkCertsJobs (t: Test, objects: readonly KubeObject[], e: InstallExpectation): void {
  const jobs = podSpecs(objects).filter(p => p.owner.startsWith('Job/') || p.owner.startsWith('CronJob/'))
  t.ok(jobs.some(j => j.owner.startsWith('Job/')), 'a certificate Job runs at install')
  for (const { owner, spec } of jobs) {
    const container = spec.containers[0]
    t.same(container.command, builtCommand('spot-certs'), `${owner} runs the built certs program`)
    const parsed = parseOptions(CERTS_OPTIONS, container.args ?? [], {})
    if (parsed.help) throw new Error(`${owner} args ask for --help`)
    const mode = selectCertsMode(parsed.values)
    t.equal(mode.mode, 'cluster', `${owner} uses the in-cluster mode`)
    t.same({ service: mode.config.service, namespace: mode.config.namespace, secret: mode.config.secret, webhookConfig: mode.config.webhookConfig },
      { service: e.webhookName, namespace: e.namespace, secret: e.secretName, webhookConfig: e.configName }, `${owner} targets this install`)
    t.equal(spec.restartPolicy, 'OnFailure', `${owner} retries (e.g. until the webhook configuration exists)`)
  }
}

/** Asserts the agent DaemonSet and returns its environment (downward API replaced by plausible values). */
export function checkAgent (t: Test, objects: readonly KubeObject[], e: InstallExpectation): Record<string, string> {
  const ds = only(objects, 'DaemonSet', e.agentName)
  const pod = ds.spec.template.spec
  const container = pod.containers[0]
  t.same(pod.nodeSelector, { 'kubernetes.io/os': 'linux' }, 'Linux nodes only; the Spot selector is left to the webhook')
  t.same(pod.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms,
    [{ matchExpressions: [{ key: 'eks.amazonaws.com/compute-type', operator: 'NotIn', values: ['fargate'] }] }], 'never on Fargate')
  t.ok(handlerDecision(ds, DEFAULT_HANDLER_POLICY).handler, 'the webhook recognises the agent as a handler')
  t.same(pod.tolerations, [{ operator: 'Exists' }], 'tolerates every taint')
  t.equal(pod.priorityClassName, 'system-node-critical')
  t.equal(pod.hostNetwork, true, 'host network: IMDSv2 hop limit 1')
  t.same(container.command, builtCommand('spot-agent'), 'the image runs the built agent program')
  for (const [name, path] of [['NODE_NAME', 'spec.nodeName'], ['POD_NAME', 'metadata.name'], ['POD_NAMESPACE', 'metadata.namespace']]) {
    t.equal(container.env.find((v: any) => v.name === name)?.valueFrom?.fieldRef?.fieldPath, path, `${name} from the downward API`)
  }
  const env = containerEnv(container)
  const known = new Set(Object.values(AGENT_OPTIONS).map(o => o.env))
  for (const name of Object.keys(env)) t.ok(known.has(name), `${name} is an agent option`)
  const parsed = parseOptions(AGENT_OPTIONS, [], env)
  if (parsed.help) throw new Error('agent env asks for --help')
  const config = checkAgentConfig(parsed.values)
  const uptime = container.volumeMounts.find((m: any) => m.mountPath === config.uptimeFromFile)
  t.equal(uptime?.readOnly, true, 'UPTIME_FROM_FILE is a read-only mount')
  t.equal(pod.volumes.find((v: any) => v.name === uptime?.name)?.hostPath?.path, '/proc/uptime', 'of the host /proc/uptime')
  if (config.enableProbesServer) {
    t.equal(portNumber(container, container.livenessProbe?.httpGet?.port), config.probesServerPort, 'liveness probe on PROBES_SERVER_PORT')
    t.equal(portNumber(container, container.readinessProbe?.httpGet?.port), config.probesServerPort, 'readiness probe on PROBES_SERVER_PORT')
  }
  t.ok(container.resources?.requests?.cpu && container.resources?.requests?.memory && container.resources?.limits?.memory, 'resources set')
  return env
}

/** Runs every check of a complete install. */
export function checkInstall (t: Test, objects: readonly KubeObject[], e: InstallExpectation = DEFAULT_EXPECTATION): void {
  const owners = podSpecs(objects).map(p => p.owner)
  for (const owner of [`Deployment/${e.webhookName}`, `DaemonSet/${e.agentName}`]) t.ok(owners.includes(owner), `${owner} is rendered`)
  checkNamespace(t, objects, e)
  checkWebhookConfiguration(t, objects, e)
  checkWebhookDeployment(t, objects, e)
  checkRbac(t, objects, e)
  checkSecurityContexts(t, objects)
  checkCertsJobs(t, objects, e)
  checkAgent(t, objects, e)
}

/** Checks that the webhook's NetworkPolicy selects the webhook pods, admits `apiServerCIDRs` (only) to the port the Service sends reviews to, and opens the metrics port. */
export function checkWebhookNetworkPolicy (t: Test, objects: readonly KubeObject[], apiServerCIDRs: readonly string[], webhookName = DEFAULT_EXPECTATION.webhookName): KubeObject {
  const policy = only(objects, 'NetworkPolicy')
  const deployment = only(objects, 'Deployment', webhookName)
  const podLabels = deployment.spec.template.metadata.labels
  for (const [key, value] of Object.entries(policy.spec.podSelector.matchLabels)) t.equal(podLabels[key], value, `the policy selects the webhook pods (${key})`)
  t.same(policy.spec.policyTypes, ['Ingress'])
  const containerPorts: Array<{ name: string }> = deployment.spec.template.spec.containers[0].ports
  const reviewPort = only(objects, 'Service', webhookName).spec.ports.find((p: any) => p.port === 443).targetPort
  const [reviews, metrics] = policy.spec.ingress
  t.same(reviews.ports, [{ port: reviewPort, protocol: 'TCP' }], 'the first rule is the review port the Service targets')
  t.same(reviews.from, apiServerCIDRs.map(cidr => ({ ipBlock: { cidr } })), 'open to the API server addresses only')
  t.ok(containerPorts.some(p => p.name === metrics.ports[0].port), 'the second rule is a port the webhook container exposes')
  return policy
}
