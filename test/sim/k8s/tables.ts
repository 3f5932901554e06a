/**
 * Server-side printing (pure): the `meta.k8s.io/v1 Table` answer to
 * `Accept: application/json;as=Table;v=v1;g=meta.k8s.io`, which `kubectl get`
 * asks for, and the metadata-only list answer to
 * `Accept: application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io`.
 * Columns follow the API server's printers (pkg/printers/internalversion) for
 * the resources this project looks at; priority-1 columns are the ones
 * `-o wide` adds. Other resources get the generic Name / Created At table.
 */
import type { KubeObject } from './store.ts'

/** One column of a Table. */
interface Column { name: string, type: string, format?: string, priority?: number, cell: (o: KubeObject, now: number) => unknown }

/** Whether one of an Accept header's media types asks for the meta.k8s.io/v1 representation `as`. */
function wantsMeta (accept: string | undefined, as: string): boolean {
  const wanted = new RegExp(`as=${as}(;|$)`)
  return accept !== undefined && accept.split(',').some(part => wanted.test(part) && /v=v1(;|$)/.test(part.replaceAll(' ', '')) && /g=meta\.k8s\.io/.test(part))
}

/** Whether an Accept header asks for a v1 Table. */
export function wantsTable (accept: string | undefined): boolean {
  return wantsMeta(accept, 'Table')
}

/** Whether an Accept header asks a list for metadata only (a v1 PartialObjectMetadataList). */
export function wantsMetadataList (accept: string | undefined): boolean {
  return wantsMeta(accept, 'PartialObjectMetadataList')
}

/** An object's metadata alone, as the API server sends it in Tables and metadata-only lists. */
function partialMetadata (o: KubeObject): Record<string, unknown> {
  return { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata }
}

/** The metadata-only list of `objects`. */
export function toMetadataList (objects: KubeObject[], resourceVersion: string): Record<string, unknown> {
  return { kind: 'PartialObjectMetadataList', apiVersion: 'meta.k8s.io/v1', metadata: { resourceVersion }, items: objects.map(partialMetadata) }
}

/** Human-readable age like the API server's (k8s.io/apimachinery/pkg/util/duration.HumanDuration). */
export function humanAge (fromIso: string | undefined, now: number): string {
  if (fromIso === undefined) return '<unknown>'
  const s = Math.max(0, Math.floor((now - Date.parse(fromIso)) / 1000))
  const m = Math.floor(s / 60); const h = Math.floor(m / 60); const d = Math.floor(h / 24)
  if (s < 120) return `${s}s`
  if (m < 10) return s % 60 === 0 ? `${m}m` : `${m}m${s % 60}s`
  if (m < 180) return `${m}m`
  if (h < 8) return m % 60 === 0 ? `${h}h` : `${h}h${m % 60}m`
  if (h < 48) return `${h}h`
  if (d < 8) return h % 24 === 0 ? `${d}d` : `${d}d${h % 24}h`
  return `${d}d`
}

const name: Column = { name: 'Name', type: 'string', format: 'name', cell: o => o.metadata.name }
const age: Column = { name: 'Age', type: 'string', cell: (o, now) => humanAge(o.metadata.creationTimestamp, now) }
const wide = (column: Column): Column => ({ ...column, priority: 1 })
const none = (v: unknown): unknown => v === undefined || v === '' ? '<none>' : v
const labels = (m: Record<string, string> | undefined): string => none(Object.entries(m ?? {}).map(([k, v]) => `${k}=${v}`).join(',')) as string

function podStatus (pod: KubeObject): string {
  if (pod.metadata.deletionTimestamp !== undefined) return 'Terminating'
  return pod.status?.reason ?? pod.status?.phase ?? 'Unknown'
}

function nodeStatus (node: KubeObject): string {
  const ready = (node.status?.conditions as Array<{ type: string, status: string }> | undefined)?.find(c => c.type === 'Ready')
  const base = ready?.status === 'True' ? 'Ready' : ready === undefined ? 'Unknown' : 'NotReady'
  return node.spec?.unschedulable === true ? `${base},SchedulingDisabled` : base
}

const COLUMNS: Record<string, Column[]> = {
  '/pods': [
    name,
    { name: 'Ready', type: 'string', cell: o => `${(o.status?.containerStatuses ?? []).filter((c: { ready?: boolean }) => c.ready === true).length}/${(o.spec?.containers ?? []).length}` },
    { name: 'Status', type: 'string', cell: podStatus },
    { name: 'Restarts', type: 'string', cell: o => String((o.status?.containerStatuses ?? []).reduce((n: number, c: { restartCount?: number }) => n + (c.restartCount ?? 0), 0)) },
    age,
    wide({ name: 'IP', type: 'string', cell: o => none(o.status?.podIP) }),
    wide({ name: 'Node', type: 'string', cell: o => none(o.spec?.nodeName) }),
    wide({ name: 'Nominated Node', type: 'string', cell: () => '<none>' }),
    wide({ name: 'Readiness Gates', type: 'string', cell: () => '<none>' })
  ],
  '/nodes': [
    name,
    { name: 'Status', type: 'string', cell: nodeStatus },
    { name: 'Roles', type: 'string', cell: () => '<none>' },
    age,
    { name: 'Version', type: 'string', cell: o => none(o.status?.nodeInfo?.kubeletVersion) },
    wide({ name: 'Internal-IP', type: 'string', cell: o => none(o.status?.addresses?.find((a: { type: string }) => a.type === 'InternalIP')?.address) }),
    wide({ name: 'External-IP', type: 'string', cell: o => none(o.status?.addresses?.find((a: { type: string }) => a.type === 'ExternalIP')?.address) }),
    wide({ name: 'OS-Image', type: 'string', cell: o => none(o.status?.nodeInfo?.osImage) }),
    wide({ name: 'Kernel-Version', type: 'string', cell: o => none(o.status?.nodeInfo?.kernelVersion) }),
    wide({ name: 'Container-Runtime', type: 'string', cell: o => none(o.status?.nodeInfo?.containerRuntimeVersion) })
  ],
  '/namespaces': [name, { name: 'Status', type: 'string', cell: o => o.status?.phase ?? 'Active' }, age],
  '/events': [
    { name: 'Last Seen', type: 'string', cell: (o, now) => humanAge(o.lastTimestamp ?? o.eventTime ?? o.metadata.creationTimestamp, now) },
    { name: 'Type', type: 'string', cell: o => none(o.type) },
    { name: 'Reason', type: 'string', cell: o => none(o.reason) },
    { name: 'Object', type: 'string', cell: o => `${String(o.involvedObject?.kind ?? '').toLowerCase()}/${o.involvedObject?.name ?? ''}` },
    { name: 'Message', type: 'string', cell: o => none(o.message) }
  ],
  'apps/daemonsets': [
    name,
    { name: 'Desired', type: 'integer', cell: o => o.status?.desiredNumberScheduled ?? 0 },
    { name: 'Current', type: 'integer', cell: o => o.status?.currentNumberScheduled ?? 0 },
    { name: 'Ready', type: 'integer', cell: o => o.status?.numberReady ?? 0 },
    { name: 'Up-to-date', type: 'integer', cell: o => o.status?.updatedNumberScheduled ?? 0 },
    { name: 'Available', type: 'integer', cell: o => o.status?.numberAvailable ?? 0 },
    { name: 'Node Selector', type: 'string', cell: o => labels(o.spec?.template?.spec?.nodeSelector) },
    age,
    wide({ name: 'Containers', type: 'string', cell: o => (o.spec?.template?.spec?.containers ?? []).map((c: { name: string }) => c.name).join(',') }),
    wide({ name: 'Images', type: 'string', cell: o => (o.spec?.template?.spec?.containers ?? []).map((c: { image: string }) => c.image).join(',') })
  ],
  'apps/deployments': [
    name,
    { name: 'Ready', type: 'string', cell: o => `${o.status?.readyReplicas ?? 0}/${o.spec?.replicas ?? 1}` },
    { name: 'Up-to-date', type: 'integer', cell: o => o.status?.updatedReplicas ?? 0 },
    { name: 'Available', type: 'integer', cell: o => o.status?.availableReplicas ?? 0 },
    age
  ],
  'apps/replicasets': [
    name,
    { name: 'Desired', type: 'integer', cell: o => o.spec?.replicas ?? 1 },
    { name: 'Current', type: 'integer', cell: o => o.status?.replicas ?? 0 },
    { name: 'Ready', type: 'integer', cell: o => o.status?.readyReplicas ?? 0 },
    age
  ],
  'policy/poddisruptionbudgets': [
    name,
    { name: 'Min Available', type: 'string', cell: o => String(o.spec?.minAvailable ?? 'N/A') },
    { name: 'Max Unavailable', type: 'string', cell: o => String(o.spec?.maxUnavailable ?? 'N/A') },
    { name: 'Allowed Disruptions', type: 'integer', cell: o => o.status?.disruptionsAllowed ?? 0 },
    age
  ]
}

const GENERIC: Column[] = [name, { name: 'Created At', type: 'date', cell: o => o.metadata.creationTimestamp }]

/** Renders objects of a resource (`group/plural`) as a Table with PartialObjectMetadata rows. */
export function toTable (resourceKey: string, objects: readonly KubeObject[], resourceVersion: string, now: number): Record<string, unknown> {
  const columns = COLUMNS[resourceKey] ?? GENERIC
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: { resourceVersion },
    columnDefinitions: columns.map(c => ({ name: c.name, type: c.type, format: c.format ?? '', description: '', priority: c.priority ?? 0 })),
    rows: objects.map(o => ({
      cells: columns.map(c => c.cell(o, now)),
      object: partialMetadata(o)
    }))
  }
}
