/**
 * Discovery documents (pure): `/version`, `/api`, `/apis`, `/apis/{group}` and the
 * per-version resource lists, built from the served resource table, in the shapes
 * of meta/v1 APIVersions, APIGroupList, APIGroup and APIResourceList.
 */
import { apiVersionOf, RESOURCES, type ResourceType } from './resources.ts'

/** The Kubernetes version the simulator claims to be. */
export const SIM_VERSION = { major: '1', minor: '32', gitVersion: 'v1.32.0-kube-sim', gitCommit: '0000000000000000000000000000000000000000', gitTreeState: 'clean', buildDate: '2024-12-11T00:00:00Z', goVersion: 'go1.23.3', compiler: 'gc', platform: 'linux/amd64' }

const VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch']

function groups (): Map<string, string[]> {
  const out = new Map<string, string[]>()
  for (const r of RESOURCES) {
    if (r.group === '') continue
    const versions = out.get(r.group) ?? []
    if (!versions.includes(r.version)) versions.push(r.version)
    out.set(r.group, versions)
  }
  return out
}

function groupDoc (name: string, versions: string[]): Record<string, unknown> {
  const list = versions.map(version => ({ groupVersion: `${name}/${version}`, version }))
  return { name, versions: list, preferredVersion: list[0] }
}

/** `GET /api`. */
export function coreVersions (serverAddress: string): Record<string, unknown> {
  return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }] }
}

/** `GET /apis`. */
export function groupList (): Record<string, unknown> {
  return { kind: 'APIGroupList', apiVersion: 'v1', groups: [...groups()].map(([name, versions]) => groupDoc(name, versions)) }
}

/** `GET /apis/{group}`, or undefined when not served. */
export function group (name: string): Record<string, unknown> | undefined {
  const versions = groups().get(name)
  return versions === undefined ? undefined : { kind: 'APIGroup', apiVersion: 'v1', ...groupDoc(name, versions) }
}

function resourceEntries (r: ResourceType): Array<Record<string, unknown>> {
  const main: Record<string, unknown> = { name: r.plural, singularName: r.singular, namespaced: r.namespaced, kind: r.kind, verbs: VERBS }
  if (r.shortNames !== undefined) main.shortNames = r.shortNames
  const subs = (r.subresources ?? []).map(sub => sub === 'eviction'
    ? { name: `${r.plural}/eviction`, singularName: '', namespaced: true, group: 'policy', version: 'v1', kind: 'Eviction', verbs: ['create'] }
    : { name: `${r.plural}/${sub}`, singularName: '', namespaced: r.namespaced, kind: r.kind, verbs: ['get', 'patch', 'update'] })
  return [main, ...subs]
}

/** `GET /api/v1` or `/apis/{group}/{version}`. */
export function resourceList (group: string, version: string): Record<string, unknown> {
  const served = RESOURCES.filter(r => r.group === group && r.version === version)
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: apiVersionOf({ group, version }), resources: served.flatMap(resourceEntries) }
}
