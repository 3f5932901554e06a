/**
 * A kubeconfig for the simulator: one cluster, one token user, one context,
 * built and exported by @kubernetes/client-node (JSON, which `kubectl`,
 * helm and `KubeConfig.loadFromFile` all read as YAML). Plain-HTTP servers
 * get `insecure-skip-tls-verify: true`, without which client-node 2.x
 * refuses to talk to them.
 */
import { KubeConfig } from '@kubernetes/client-node'

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

/** A loaded KubeConfig for `input`; `exportConfig()` gives the document. */
export function simKubeConfig (input: KubeconfigInput): KubeConfig {
  const name = input.name ?? 'kube-sim'
  const kubeConfig = new KubeConfig()
  kubeConfig.loadFromOptions({
    clusters: [{
      name,
      server: input.server,
      skipTLSVerify: input.server.startsWith('http://'),
      ...(input.caPem === undefined ? {} : { caData: Buffer.from(input.caPem).toString('base64') })
    }],
    users: [{ name: `${name}-admin`, token: input.token }],
    contexts: [{ name, cluster: name, user: `${name}-admin`, namespace: input.namespace ?? 'default' }],
    currentContext: name
  })
  return kubeConfig
}
