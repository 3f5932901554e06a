/**
 * The resource types the simulator serves, with their REST names, and the
 * parsing of a request path into (group, version, resource, namespace, name, subresource).
 *
 * Paths follow the Kubernetes API conventions:
 * `/api/v1/namespaces/{ns}/pods/{name}/eviction`, `/apis/apps/v1/daemonsets` (all namespaces), ...
 */

/** Static description of one served resource. */
export interface ResourceType {
  group: string
  version: string
  /** REST name, e.g. `pods`. */
  plural: string
  singular: string
  kind: string
  namespaced: boolean
  shortNames?: string[]
  /** Subresources beyond the object itself, e.g. `status`, `eviction`. */
  subresources?: string[]
  /** Field selector keys accepted besides metadata.name / metadata.namespace. */
  fields?: string[]
  /** Discovery categories (`kubectl get all`). */
  categories?: string[]
}

const core = (plural: string, kind: string, namespaced: boolean, extra: Partial<ResourceType> = {}): ResourceType =>
  ({ group: '', version: 'v1', plural, singular: kind.toLowerCase(), kind, namespaced, ...extra })
const grouped = (group: string, version: string, plural: string, kind: string, namespaced: boolean, extra: Partial<ResourceType> = {}): ResourceType =>
  ({ group, version, plural, singular: kind.toLowerCase(), kind, namespaced, ...extra })

/**
 * Every resource the simulator serves. Field selector keys per resource follow the
 * API server's field label conversion functions (pkg/apis/core/v1/conversion.go).
 */
export const RESOURCES: readonly ResourceType[] = [
  core('namespaces', 'Namespace', false, { shortNames: ['ns'], subresources: ['status'], fields: ['status.phase'] }),
  core('nodes', 'Node', false, { shortNames: ['no'], subresources: ['status'], fields: ['spec.unschedulable'] }),
  core('pods', 'Pod', true, {
    shortNames: ['po'],
    categories: ['all'],
    subresources: ['status', 'eviction'],
    fields: ['spec.nodeName', 'spec.restartPolicy', 'spec.schedulerName', 'spec.serviceAccountName', 'spec.hostNetwork', 'status.phase', 'status.podIP', 'status.nominatedNodeName']
  }),
  core('events', 'Event', true, {
    shortNames: ['ev'],
    fields: ['involvedObject.kind', 'involvedObject.namespace', 'involvedObject.name', 'involvedObject.uid', 'involvedObject.apiVersion', 'involvedObject.resourceVersion', 'involvedObject.fieldPath', 'reason', 'reportingComponent', 'source', 'type']
  }),
  core('secrets', 'Secret', true, { fields: ['type'] }),
  core('configmaps', 'ConfigMap', true, { shortNames: ['cm'] }),
  core('serviceaccounts', 'ServiceAccount', true, { shortNames: ['sa'] }),
  core('services', 'Service', true, { shortNames: ['svc'], subresources: ['status'], categories: ['all'] }),
  core('endpoints', 'Endpoints', true, { shortNames: ['ep'] }),
  grouped('events.k8s.io', 'v1', 'events', 'Event', true, { shortNames: ['ev'], fields: ['regarding.kind', 'regarding.namespace', 'regarding.name', 'regarding.uid', 'reason', 'reportingController', 'type'] }),
  grouped('policy', 'v1', 'poddisruptionbudgets', 'PodDisruptionBudget', true, { shortNames: ['pdb'], subresources: ['status'] }),
  grouped('apps', 'v1', 'daemonsets', 'DaemonSet', true, { shortNames: ['ds'], subresources: ['status'], categories: ['all'] }),
  grouped('apps', 'v1', 'replicasets', 'ReplicaSet', true, { shortNames: ['rs'], subresources: ['status'], categories: ['all'] }),
  grouped('apps', 'v1', 'deployments', 'Deployment', true, { shortNames: ['deploy'], subresources: ['status'], categories: ['all'] }),
  grouped('batch', 'v1', 'jobs', 'Job', true, { subresources: ['status'], categories: ['all'] }),
  grouped('batch', 'v1', 'cronjobs', 'CronJob', true, { shortNames: ['cj'], subresources: ['status'], categories: ['all'] }),
  grouped('coordination.k8s.io', 'v1', 'leases', 'Lease', true),
  grouped('admissionregistration.k8s.io', 'v1', 'mutatingwebhookconfigurations', 'MutatingWebhookConfiguration', false),
  grouped('admissionregistration.k8s.io', 'v1', 'validatingwebhookconfigurations', 'ValidatingWebhookConfiguration', false),
  grouped('rbac.authorization.k8s.io', 'v1', 'clusterroles', 'ClusterRole', false),
  grouped('rbac.authorization.k8s.io', 'v1', 'clusterrolebindings', 'ClusterRoleBinding', false),
  grouped('rbac.authorization.k8s.io', 'v1', 'roles', 'Role', true),
  grouped('rbac.authorization.k8s.io', 'v1', 'rolebindings', 'RoleBinding', true)
]

/** `apps/v1` or `v1`. */
export function apiVersionOf (type: Pick<ResourceType, 'group' | 'version'>): string {
  return type.group === '' ? type.version : `${type.group}/${type.version}`
}

/** Finds a served resource by group and plural. */
export function findResource (group: string, plural: string): ResourceType | undefined {
  return RESOURCES.find(r => r.group === group && r.plural === plural)
}

/**
 * Finds the resource for a kind and apiVersion (`v1`/`Pod`, `apps/v1`/`DaemonSet`);
 * the programmatic API uses this to accept whole objects.
 */
export function resourceForKind (apiVersion: string, kind: string): ResourceType | undefined {
  const slash = apiVersion.indexOf('/')
  const group = slash < 0 ? '' : apiVersion.slice(0, slash)
  const version = slash < 0 ? apiVersion : apiVersion.slice(slash + 1)
  return RESOURCES.find(r => r.group === group && r.version === version && r.kind === kind)
}

/** The parts of an API request path. `name` is absent for collection requests. */
export interface ResourcePath {
  type: ResourceType
  /** Namespace from the path; undefined for cluster-scoped resources and all-namespace lists. */
  namespace?: string
  name?: string
  subresource?: string
}

/** What a path addresses: a resource, a discovery document, or nothing we serve. */
export type ParsedPath =
  | { kind: 'resource', path: ResourcePath }
  | { kind: 'discovery', group: string, version?: string }
  | { kind: 'unknown' }

/**
 * Parses `/api/v1/...` and `/apis/{group}/{version}/...`. A group/version we do not
 * serve, or an unknown resource, is `unknown` (the server answers 404).
 */
export function parsePath (pathname: string): ParsedPath {
  const parts = pathname.split('/').filter(p => p !== '').map(decodeURIComponent)
  let group: string
  let version: string | undefined
  let rest: string[]
  if (parts[0] === 'api') {
    group = ''
    version = parts[1]
    rest = parts.slice(2)
  } else if (parts[0] === 'apis') {
    if (parts.length === 1) return { kind: 'discovery', group: '*' }
    group = parts[1]!
    version = parts[2]
    rest = parts.slice(3)
  } else {
    return { kind: 'unknown' }
  }
  if (version === undefined) return served(group) ? { kind: 'discovery', group } : { kind: 'unknown' }
  if (!RESOURCES.some(r => r.group === group && r.version === version)) return { kind: 'unknown' }
  if (rest.length === 0) return { kind: 'discovery', group, version }
  let namespace: string | undefined
  const namespacedPlural = (plural: string | undefined): boolean =>
    RESOURCES.some(r => r.group === group && r.version === version && r.namespaced && r.plural === plural)
  // `/namespaces/x/status` is the Namespace's own subresource; `/namespaces/x/pods` is a namespaced collection.
  if (rest[0] === 'namespaces' && rest.length >= 3 && namespacedPlural(rest[2])) {
    namespace = rest[1]
    rest = rest.slice(2)
  }
  const type = RESOURCES.find(r => r.group === group && r.version === version && r.plural === rest[0])
  if (type === undefined || rest.length > 3) return { kind: 'unknown' }
  if (namespace !== undefined && !type.namespaced) return { kind: 'unknown' }
  const path: ResourcePath = { type }
  if (namespace !== undefined) path.namespace = namespace
  if (rest[1] !== undefined) path.name = rest[1]
  if (rest[2] !== undefined) {
    if (type.subresources?.includes(rest[2]) !== true) return { kind: 'unknown' }
    path.subresource = rest[2]
  }
  return { kind: 'resource', path }
}

function served (group: string): boolean {
  return RESOURCES.some(r => r.group === group)
}
