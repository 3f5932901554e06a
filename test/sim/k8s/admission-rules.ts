/**
 * Which mutating webhooks a request goes to (pure), following the API server's
 * admission plugin (k8s.io/apiserver/pkg/admission/plugin/webhook: rules.Matcher,
 * namespace.Matcher, object.Matcher, generic.Webhook.ShouldCallHook):
 * - rules: operations, apiGroups, apiVersions, resources (`pods`, `pods/status`, `*`,
 *   `*\/*`, `pods/*`, `*\/status`) and scope (`*`, `Cluster`, `Namespaced`);
 * - matchPolicy `Equivalent` (default) also matches a rule naming another version of
 *   the same group and resource; `Exact` requires the served version. The simulator
 *   serves one version per resource and sends objects in it (no conversion).
 * - namespaceSelector against the labels of the object's namespace (the Namespace's
 *   own labels when the object is a Namespace; ignored for other cluster-scoped objects);
 * - objectSelector against the labels of the object or of the old object;
 * - webhook configurations themselves are never sent to webhooks.
 * matchConditions (CEL) are not evaluated: a webhook that has them is treated as matching.
 */
import { matchesLabelSelector, type LabelSelectorObject } from './selectors.ts'

/** One rule of a webhook. */
export interface RuleWithOperations {
  operations?: string[]
  apiGroups?: string[]
  apiVersions?: string[]
  resources?: string[]
  scope?: string
}

/** The fields of a `MutatingWebhook` that decide matching and calling. */
export interface MutatingWebhook {
  name: string
  clientConfig: { url?: string, caBundle?: string, service?: { namespace: string, name: string, path?: string, port?: number } }
  rules?: RuleWithOperations[]
  failurePolicy?: 'Fail' | 'Ignore'
  matchPolicy?: 'Exact' | 'Equivalent'
  namespaceSelector?: LabelSelectorObject
  objectSelector?: LabelSelectorObject
  sideEffects?: string
  timeoutSeconds?: number
  admissionReviewVersions?: string[]
  reinvocationPolicy?: 'Never' | 'IfNeeded'
}

/** What is being admitted. */
export interface AdmissionAttributes {
  operation: 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT'
  group: string
  version: string
  resource: string
  subresource: string
  namespaced: boolean
  /** For Namespace objects, their own labels are used for namespaceSelector. */
  isNamespace: boolean
  objectLabels?: Record<string, string>
  oldObjectLabels?: Record<string, string>
  /** Labels of the object's namespace (undefined when cluster-scoped or unknown). */
  namespaceLabels?: Record<string, string>
}

const has = (list: readonly string[] | undefined, value: string): boolean => list?.some(v => v === '*' || v === value) === true

function resourceMatches (patterns: readonly string[] | undefined, resource: string, subresource: string): boolean {
  return (patterns ?? []).some(p => {
    const [res, sub] = p.split('/', 2) as [string, string | undefined]
    if (res !== '*' && res !== resource) return false
    if (sub === undefined) return subresource === ''
    return sub === '*' || sub === subresource
  })
}

/** Whether a rule matches; `anyVersion` implements matchPolicy Equivalent. */
export function ruleMatches (rule: RuleWithOperations, a: AdmissionAttributes, anyVersion: boolean): boolean {
  if (!has(rule.operations, a.operation)) return false
  if (!has(rule.apiGroups, a.group)) return false
  if (!anyVersion && !has(rule.apiVersions, a.version)) return false
  if (!resourceMatches(rule.resources, a.resource, a.subresource)) return false
  const scope = rule.scope ?? '*'
  if (scope === 'Cluster' && (a.namespaced && !a.isNamespace)) return false
  if (scope === 'Namespaced' && (!a.namespaced || a.isNamespace)) return false
  return true
}

/** Whether the webhook should be called for the request. */
export function webhookMatches (hook: MutatingWebhook, a: AdmissionAttributes): boolean {
  const anyVersion = (hook.matchPolicy ?? 'Equivalent') === 'Equivalent'
  if (!(hook.rules ?? []).some(rule => ruleMatches(rule, a, anyVersion))) return false
  if (a.namespaced || a.isNamespace) {
    const labels = a.isNamespace ? a.objectLabels : a.namespaceLabels
    if (!matchesLabelSelector(hook.namespaceSelector ?? {}, labels)) return false
  }
  const objectSelector = hook.objectSelector ?? {}
  return matchesLabelSelector(objectSelector, a.objectLabels) || (a.oldObjectLabels !== undefined && matchesLabelSelector(objectSelector, a.oldObjectLabels))
}

/** The admission.k8s.io version to send: v1 if the webhook accepts it, else v1beta1, else none. */
export function reviewVersion (hook: MutatingWebhook): 'v1' | 'v1beta1' | undefined {
  const versions = hook.admissionReviewVersions ?? []
  return versions.find((v): v is 'v1' | 'v1beta1' => v === 'v1' || v === 'v1beta1')
}

/** Whether a webhook may be called for a dry-run request (sideEffects None or NoneOnDryRun). */
export function supportsDryRun (hook: MutatingWebhook): boolean {
  return hook.sideEffects === 'None' || hook.sideEffects === 'NoneOnDryRun'
}

/** The list resources excluded from admission webhooks (pkg/admission/plugin/webhook/predicates rules). */
export function isWebhookConfiguration (group: string, resource: string): boolean {
  return group === 'admissionregistration.k8s.io' && (resource === 'mutatingwebhookconfigurations' || resource === 'validatingwebhookconfigurations')
}
