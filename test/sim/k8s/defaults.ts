/**
 * Defaulting and validation applied on create/update (pure), a small subset of
 * what the API server's registry strategies and defaulting functions do: the
 * defaults other code reads (pod phase and grace period, namespace name label,
 * webhook policies, replicas), and the validation errors a manifest typically
 * hits (missing/invalid name, selector not matching template labels, missing
 * containers, https-only webhook URLs, immutable pod fields).
 */
import type { ResourceType } from './resources.ts'
import { matchesLabelSelector, type LabelSelectorObject } from './selectors.ts'
import { invalid } from './status.ts'
import type { KubeObject } from './store.ts'

/** DNS-1123 subdomain, the rule for most object names. */
const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/
/** DNS-1123 label, the rule for namespace names. */
const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/

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

function selectorCauses (obj: KubeObject): Array<{ field: string, message: string, reason?: string }> {
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

function containerCauses (spec: any, path: string): Array<{ field: string, message: string, reason?: string }> {
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
  const causes: Array<{ field: string, message: string, reason?: string }> = []
  const nameRule = type.plural === 'namespaces' ? LABEL : SUBDOMAIN
  if (name === undefined || name === '') causes.push({ field: 'metadata.name', message: 'Required value: name or generateName is required', reason: 'FieldValueRequired' })
  else if (!nameRule.test(name) || name.length > 253) {
    causes.push({ field: 'metadata.name', message: `Invalid value: "${name}": a lowercase RFC 1123 ${type.plural === 'namespaces' ? 'label' : 'subdomain'} must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character` })
  }
  switch (`${type.group}/${type.plural}`) {
    case '/pods':
      causes.push(...containerCauses(obj.spec, 'spec'))
      break
    case 'apps/daemonsets':
    case 'apps/replicasets':
    case 'apps/deployments':
      causes.push(...selectorCauses(obj), ...containerCauses(obj.spec?.template?.spec, 'spec.template.spec'))
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
