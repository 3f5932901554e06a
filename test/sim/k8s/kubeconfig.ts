/**
 * A kubeconfig for the simulator (pure), in the YAML that `kubectl` and
 * `KubeConfig.loadFromFile` read: one cluster, one token user, one context.
 * Strings are written as JSON double-quoted scalars, which YAML accepts as-is.
 * Plain-HTTP servers get `insecure-skip-tls-verify: true`, without which
 * client-node 2.x refuses to talk to them.
 */

/** What goes into the kubeconfig. */
export interface KubeconfigInput {
  server: string
  /** PEM of the CA that signed the server certificate (TLS only). */
  caPem?: string
  token: string
  /** Name of the cluster, user and context (default `kube-sim`). */
  name?: string
  namespace?: string
}

/** Renders the kubeconfig document. */
export function kubeconfigYaml (input: KubeconfigInput): string {
  const name = input.name ?? 'kube-sim'
  const q = (s: string): string => JSON.stringify(s)
  const lines = [
    'apiVersion: v1',
    'kind: Config',
    'preferences: {}',
    'clusters:',
    `- name: ${q(name)}`,
    '  cluster:',
    `    server: ${q(input.server)}`
  ]
  if (input.caPem !== undefined) lines.push(`    certificate-authority-data: ${q(Buffer.from(input.caPem).toString('base64'))}`)
  // @kubernetes/client-node 2.x refuses plain-HTTP servers unless this is set
  // ("HTTP protocol is not allowed when skipTLSVerify is not set or false").
  if (input.server.startsWith('http://')) lines.push('    insecure-skip-tls-verify: true')
  lines.push(
    'users:',
    `- name: ${q(`${name}-admin`)}`,
    '  user:',
    `    token: ${q(input.token)}`,
    'contexts:',
    `- name: ${q(name)}`,
    '  context:',
    `    cluster: ${q(name)}`,
    `    user: ${q(`${name}-admin`)}`,
    `    namespace: ${q(input.namespace ?? 'default')}`,
    `current-context: ${q(name)}`
  )
  return lines.join('\n') + '\n'
}
