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
  if (r.categories !== undefined) main.categories = r.categories
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

/** Version tag for the OpenAPI URLs (clients cache documents by it). */
const OPENAPI_HASH = 'kube-sim-1'

/**
 * `GET /openapi/v3`: the index of per-group-version documents. kubectl reads it to
 * learn whether the server validates fields itself (`fieldValidation` on PATCH);
 * when it does, kubectl skips client-side schema validation, which would need the
 * full OpenAPI schemas the simulator does not serve.
 */
export function openApiIndex (): Record<string, unknown> {
  const paths: Record<string, unknown> = {}
  for (const r of RESOURCES) {
    const gv = r.group === '' ? `api/${r.version}` : `apis/${r.group}/${r.version}`
    paths[gv] = { serverRelativeURL: `/openapi/v3/${gv}?hash=${OPENAPI_HASH}` }
  }
  return { paths }
}

/**
 * `GET /openapi/v3/{api/v1 | apis/group/version}`: a skeleton OpenAPI 3 document
 * with one PATCH operation per resource, tagged with its group-version-kind and the
 * `fieldValidation` query parameter (schemas are not included). Undefined when not served.
 */
export function openApiDocument (groupVersionPath: string): Record<string, unknown> | undefined {
  const m = /^(?:api\/(v1)|apis\/([^/]+)\/([^/]+))$/.exec(groupVersionPath)
  if (m === null) return undefined
  const groupName = m[1] !== undefined ? '' : m[2]!
  const version = m[1] ?? m[3]!
  const served = RESOURCES.filter(r => r.group === groupName && r.version === version)
  if (served.length === 0) return undefined
  const paths: Record<string, unknown> = {}
  for (const r of served) {
    const base = r.group === '' ? `/api/${r.version}` : `/apis/${r.group}/${r.version}`
    const path = `${base}${r.namespaced ? '/namespaces/{namespace}' : ''}/${r.plural}/{name}`
    paths[path] = {
      patch: {
        operationId: `patch${r.kind}`,
        'x-kubernetes-action': 'patch',
        'x-kubernetes-group-version-kind': { group: r.group, version: r.version, kind: r.kind },
        parameters: [{ name: 'fieldValidation', in: 'query', schema: { type: 'string', uniqueItems: true } }],
        responses: {}
      }
    }
  }
  return { openapi: '3.0.0', info: { title: 'Kubernetes', version: SIM_VERSION.gitVersion }, paths, components: { schemas: {} } }
}
