/**
 * Defaulting and validation applied on create/update (pure), a small subset of
 * what the API server's registry strategies and defaulting functions do: the
 * defaults other code reads (pod phase and grace period, namespace name label,
 * webhook policies, replicas), and the validation errors a manifest or a
 * controller typically hits (missing/invalid name, label keys and values,
 * annotation keys, node taints, selector not matching template labels, missing
 * containers, https-only webhook URLs, immutable pod fields). Messages follow
 * k8s.io/apimachinery/pkg/util/validation and pkg/apis/core/validation.
 */
import type { ResourceType } from './resources.ts'
import { matchesLabelSelector, type LabelSelectorObject } from './selectors.ts'
import { eventCauses } from './events.ts'
import { invalid } from './status.ts'
import type { KubeObject } from './store.ts'

/** DNS-1123 subdomain, the rule for most object names. */
const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/
/** DNS-1123 label, the rule for namespace names. */
const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/

/** Label values: empty, or alphanumerics with `-_.` inside, at most 63 characters. */
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/
/** The name part of a qualified name (label/annotation/taint keys). */
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/
const TAINT_EFFECTS = ['NoSchedule', 'PreferNoSchedule', 'NoExecute']

type Cause = { field: string, message: string, reason?: string }

/** Checks a qualified name (`prefix/name`), as apimachinery's IsQualifiedName. */
function qualifiedNameCauses (field: string, key: string): Cause[] {
  const slash = key.lastIndexOf('/')
  const prefix = slash < 0 ? undefined : key.slice(0, slash)
  const name = slash < 0 ? key : key.slice(slash + 1)
  const out: Cause[] = []
  if (name === '' || !QUALIFIED_NAME.test(name)) {
    out.push({ field, message: `Invalid value: ${JSON.stringify(key)}: name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')` })
  } else if (name.length > 63) {
    out.push({ field, message: `Invalid value: ${JSON.stringify(key)}: name part must be no more than 63 characters` })
  }
  if (prefix !== undefined && (!SUBDOMAIN.test(prefix) || prefix.length > 253)) {
    out.push({ field, message: `Invalid value: ${JSON.stringify(key)}: prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character` })
  }
  return out
}

/** Checks a label value, as apimachinery's IsValidLabelValue. */
function labelValueCauses (field: string, value: unknown): Cause[] {
  if (typeof value !== 'string') return [{ field, message: `Invalid value: ${JSON.stringify(value)}: label values must be strings` }]
  if (value.length > 63) return [{ field, message: `Invalid value: ${JSON.stringify(value)}: must be no more than 63 characters` }]
  if (!LABEL_VALUE.test(value)) {
    return [{ field, message: `Invalid value: ${JSON.stringify(value)}: a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')` }]
  }
  return []
}

/** Label maps (metadata.labels, nodeSelector): qualified keys, valid values. */
function labelMapCauses (field: string, labels: Record<string, unknown> | undefined): Cause[] {
  return Object.entries(labels ?? {}).flatMap(([k, v]) => [...qualifiedNameCauses(field, k), ...labelValueCauses(field, v)])
}

/** Annotations: qualified keys, string values, 256 KiB in total. */
function annotationCauses (annotations: Record<string, unknown> | undefined): Cause[] {
  const entries = Object.entries(annotations ?? {})
  const out = entries.flatMap(([k, v]) => [
    ...qualifiedNameCauses('metadata.annotations', k),
    ...(typeof v === 'string' ? [] : [{ field: 'metadata.annotations', message: `Invalid value: ${JSON.stringify(v)}: annotation values must be strings` }])
  ])
  const size = entries.reduce((n, [k, v]) => n + k.length + String(v).length, 0)
  if (size > 256 * 1024) out.push({ field: 'metadata.annotations', message: `Too long: must have at most 262144 bytes`, reason: 'FieldValueTooLong' })
  return out
}

/** Node taints: qualified key, label-like value, known effect, unique key+effect (ValidateNodeTaints). */
function taintCauses (taints: Array<{ key?: string, value?: string, effect?: string }> | undefined): Cause[] {
  const out: Cause[] = []
  const seen = new Set<string>()
  ;(taints ?? []).forEach((taint, i) => {
    const field = `spec.taints[${i}]`
    out.push(...qualifiedNameCauses(`${field}.key`, taint.key ?? ''))
    if (taint.value !== undefined) out.push(...labelValueCauses(`${field}.value`, taint.value))
    if (!TAINT_EFFECTS.includes(taint.effect ?? '')) {
      out.push({ field: `${field}.effect`, reason: 'FieldValueNotSupported', message: `Unsupported value: ${JSON.stringify(taint.effect ?? '')}: supported values: "NoSchedule", "PreferNoSchedule", "NoExecute"` })
    }
    const id = `${taint.key}:${taint.effect}`
    if (seen.has(id)) out.push({ field, reason: 'FieldValueDuplicate', message: `Duplicate value: ${JSON.stringify({ key: taint.key, effect: taint.effect })}: taints must be unique by key and effect pair` })
    seen.add(id)
  })
  return out
}

/** Tolerations added to every pod by the DefaultTolerationSeconds admission plugin. */
const DEFAULT_TOLERATIONS = [
  { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
  { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 }
]

/** Fills in the defaults the real API server would, in place. */
export function applyDefaults (type: ResourceType, obj: KubeObject): void {
  switch (`${type.group}/${type.plural}`) {
    case '/namespaces':
      obj.metadata.labels = { ...obj.metadata.labels, 'kubernetes.io/metadata.name': obj.metadata.name }
      obj.spec ??= { finalizers: ['kubernetes'] }
      obj.status = { phase: obj.metadata.deletionTimestamp === undefined ? 'Active' : 'Terminating' }
      break
    case '/pods': {
      const spec = obj.spec ??= {}
      spec.restartPolicy ??= 'Always'
      spec.terminationGracePeriodSeconds ??= 30
      spec.dnsPolicy ??= 'ClusterFirst'
      spec.schedulerName ??= 'default-scheduler'
      spec.serviceAccountName ??= spec.serviceAccount ?? 'default'
      spec.securityContext ??= {}
      const tolerations: Array<{ key?: string, effect?: string }> = spec.tolerations ??= []
      for (const t of DEFAULT_TOLERATIONS) {
        if (!tolerations.some(existing => existing.key === t.key && existing.effect === t.effect)) tolerations.push({ ...t })
      }
      obj.status ??= {}
      obj.status.phase ??= 'Pending'
      obj.status.qosClass ??= 'BestEffort'
      break
    }
    case '/nodes':
      // The API server's Node always has a spec (an empty struct is still written), so a JSON patch may add /spec/taints.
      obj.spec ??= {}
      obj.status ??= {}
      break
    case '/secrets':
      obj.type ??= 'Opaque'
      break
    case 'apps/replicasets':
    case 'apps/deployments':
      obj.spec ??= {}
      obj.spec.replicas ??= 1
      obj.status ??= { replicas: 0 }
      break
    case 'apps/daemonsets':
      obj.spec ??= {}
      obj.spec.updateStrategy ??= { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } }
      obj.spec.revisionHistoryLimit ??= 10
      obj.status ??= { currentNumberScheduled: 0, desiredNumberScheduled: 0, numberMisscheduled: 0, numberReady: 0 }
      break
    case 'policy/poddisruptionbudgets':
      obj.status ??= { currentHealthy: 0, desiredHealthy: 0, disruptionsAllowed: 0, expectedPods: 0 }
      break
    case 'admissionregistration.k8s.io/mutatingwebhookconfigurations':
      for (const hook of obj.webhooks ?? []) {
        hook.failurePolicy ??= 'Fail'
        hook.matchPolicy ??= 'Equivalent'
        hook.namespaceSelector ??= {}
        hook.objectSelector ??= {}
        hook.timeoutSeconds ??= 10
        hook.reinvocationPolicy ??= 'Never'
        for (const rule of hook.rules ?? []) rule.scope ??= '*'
      }
      break
  }
}

function selectorCauses (obj: KubeObject): Cause[] {
  const selector = obj.spec?.selector as LabelSelectorObject | undefined
  if (selector === undefined) return [{ field: 'spec.selector', message: 'Required value', reason: 'FieldValueRequired' }]
  const labels = obj.spec?.template?.metadata?.labels as Record<string, string> | undefined
  if (Object.keys(selector.matchLabels ?? {}).length + (selector.matchExpressions?.length ?? 0) === 0) {
    return [{ field: 'spec.selector', message: 'Invalid value: {}: empty selector is invalid for deployment/daemonset/replicaset' }]
  }
  if (!matchesLabelSelector(selector, labels)) {
    return [{ field: 'spec.template.metadata.labels', message: `Invalid value: ${JSON.stringify(labels ?? {})}: \`selector\` does not match template \`labels\`` }]
  }
  return []
}

function containerCauses (spec: any, path: string): Cause[] {
  const containers = spec?.containers as Array<{ name?: string, image?: string }> | undefined
  if (containers === undefined || containers.length === 0) return [{ field: `${path}.containers`, message: 'Required value', reason: 'FieldValueRequired' }]
  return containers.flatMap((c, i) => [
    ...(c.name === undefined || c.name === '' ? [{ field: `${path}.containers[${i}].name`, message: 'Required value', reason: 'FieldValueRequired' }] : []),
    ...(c.image === undefined || c.image === '' ? [{ field: `${path}.containers[${i}].image`, message: 'Required value', reason: 'FieldValueRequired' }] : [])
  ])
}

/** Throws 422 Invalid when the object breaks one of the checked rules. */
export function validate (type: ResourceType, obj: KubeObject): void {
  const name = obj.metadata.name
  const causes: Cause[] = [...labelMapCauses('metadata.labels', obj.metadata.labels), ...annotationCauses(obj.metadata.annotations)]
  const nameRule = type.plural === 'namespaces' ? LABEL : SUBDOMAIN
  if (name === undefined || name === '') causes.push({ field: 'metadata.name', message: 'Required value: name or generateName is required', reason: 'FieldValueRequired' })
  else if (!nameRule.test(name) || name.length > 253) {
    causes.push({ field: 'metadata.name', message: `Invalid value: "${name}": a lowercase RFC 1123 ${type.plural === 'namespaces' ? 'label' : 'subdomain'} must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character` })
  }
  switch (`${type.group}/${type.plural}`) {
    case '/nodes':
      causes.push(...taintCauses(obj.spec?.taints))
      break
    case '/events':
      causes.push(...eventCauses(obj, ''))
      break
    case 'events.k8s.io/events':
      causes.push(...eventCauses(obj, 'events.k8s.io'))
      break
    case '/pods':
      causes.push(...containerCauses(obj.spec, 'spec'), ...labelMapCauses('spec.nodeSelector', obj.spec?.nodeSelector))
      break
    case 'apps/daemonsets':
    case 'apps/replicasets':
    case 'apps/deployments':
      causes.push(
        ...selectorCauses(obj),
        ...containerCauses(obj.spec?.template?.spec, 'spec.template.spec'),
        ...labelMapCauses('spec.template.metadata.labels', obj.spec?.template?.metadata?.labels),
        ...labelMapCauses('spec.template.spec.nodeSelector', obj.spec?.template?.spec?.nodeSelector)
      )
      break
    case 'admissionregistration.k8s.io/mutatingwebhookconfigurations':
    case 'admissionregistration.k8s.io/validatingwebhookconfigurations':
      (obj.webhooks as Array<{ clientConfig?: { url?: string, service?: unknown } }> | undefined ?? []).forEach((hook, i) => {
        const url = hook.clientConfig?.url
        if (url === undefined && hook.clientConfig?.service === undefined) {
          causes.push({ field: `webhooks[${i}].clientConfig`, message: 'Required value: exactly one of url or service is required', reason: 'FieldValueRequired' })
        } else if (url !== undefined && !url.startsWith('https://')) {
          causes.push({ field: `webhooks[${i}].clientConfig.url`, message: `Invalid value: "${url}": 'https' is the only allowed URL scheme` })
        }
      })
      break
  }
  if (causes.length > 0) throw invalid(type.kind, type.group, name ?? '', causes)
}

/**
 * Pod updates may only change container images, tolerations (additions) and
 * activeDeadlineSeconds (pkg/apis/core/validation ValidatePodUpdate); anything else
 * in spec is a 422.
 */
export function validatePodUpdate (oldPod: KubeObject, newPod: KubeObject): void {
  const strip = (spec: any): string => JSON.stringify({
    ...spec,
    tolerations: undefined,
    activeDeadlineSeconds: undefined,
    containers: (spec?.containers ?? []).map((c: Record<string, unknown>) => ({ ...c, image: undefined }))
  })
  if (strip(oldPod.spec) !== strip(newPod.spec)) {
    throw invalid('Pod', '', newPod.metadata.name, [{
      field: 'spec',
      reason: 'FieldValueForbidden',
      message: 'Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)'
    }])
  }
}
