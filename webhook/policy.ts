/**
 * Handler recognition (pure): is this DaemonSet a Spot interruption handler,
 * and why. DESIGN.md section 3 fixes the rules; every list is configurable.
 */
import { clip, describeValue, isJsonObject, type JsonObject } from '#common/json.ts'

/** The annotation that opts a DaemonSet in ("true") or out ("false"). */
export const INJECT_ANNOTATION = 'spot-handler.io/inject'

/** Label values that name a known handler (our own agent is `app.kubernetes.io/name: spot-interrupt-handler`). */
export const DEFAULT_HANDLER_NAMES: readonly string[] = [
  'spot-interrupt-handler',
  'aws-node-termination-handler',
  'node-termination-handler',
  'k8s-spot-termination-handler',
  'kube-spot-termination-notice-handler',
  'spot-termination-handler'
]

/** Label keys whose value is compared with the handler names. */
export const DEFAULT_HANDLER_LABEL_KEYS: readonly string[] = ['app', 'app.kubernetes.io/name', 'k8s-app', 'name']

/**
 * Container image repositories of known handlers. An entry without `/` matches
 * the last path segment of the repository; an entry with `/` matches whole trailing segments.
 */
export const DEFAULT_HANDLER_IMAGES: readonly string[] = [
  'spot-interrupt-handler',
  'aws-node-termination-handler',
  'k8s-spot-termination-handler',
  'kube-spot-termination-notice-handler',
  'madhuriperi/samplek8spotinterrupt'
]

/** The recognition lists. */
export interface HandlerPolicy {
  names: readonly string[]
  labelKeys: readonly string[]
  images: readonly string[]
}

/** The default recognition lists. */
export const DEFAULT_HANDLER_POLICY: HandlerPolicy = { names: DEFAULT_HANDLER_NAMES, labelKeys: DEFAULT_HANDLER_LABEL_KEYS, images: DEFAULT_HANDLER_IMAGES }

/** Whether a DaemonSet is a handler, the rule that decided it, and any warning for the user. */
export interface HandlerDecision {
  handler: boolean
  reason: string
  warnings: string[]
}

/** The value at `path`, through own keys only, so no key from the request can reach a prototype. */
function field (value: unknown, ...path: string[]): unknown {
  let current = value
  for (const key of path) {
    if (!isJsonObject(current) || !Object.hasOwn(current, key)) return undefined
    current = current[key]
  }
  return current
}

/** The string at `path` (as `field`), if the value there is one. */
function stringField (value: unknown, ...path: string[]): string | undefined {
  const found = field(value, ...path)
  return typeof found === 'string' ? found : undefined
}

/**
 * The repository path of an image reference, without registry host, tag or digest:
 * `public.ecr.aws/aws-ec2/aws-node-termination-handler:v1.2@sha256:…` → `aws-ec2/aws-node-termination-handler`.
 */
export function imageRepository (image: string): string {
  const withoutDigest = image.split('@')[0]!
  const segments = withoutDigest.split('/')
  const last = segments.pop()!
  const colon = last.indexOf(':')
  segments.push(colon === -1 ? last : last.slice(0, colon))
  // The first segment is a registry host when it has a dot or a port, or is localhost.
  if (segments.length > 1 && /[.:]|^localhost$/.test(segments[0]!)) segments.shift()
  return segments.join('/').toLowerCase()
}

/** True when `repository` ends with the whole segments of `entry`. */
function repositoryMatches (repository: string, entry: string): boolean {
  const wanted = entry.toLowerCase()
  return repository === wanted || repository.endsWith('/' + wanted)
}

/** Decides whether `daemonSet` is a handler under `policy`. */
export function handlerDecision (daemonSet: JsonObject, policy: HandlerPolicy): HandlerDecision {
  const warnings: string[] = []
  const annotation = stringField(daemonSet, 'metadata', 'annotations', INJECT_ANNOTATION)
  if (annotation !== undefined) {
    const value = annotation.trim().toLowerCase()
    if (value === 'false') return { handler: false, reason: `annotation ${INJECT_ANNOTATION}=false`, warnings }
    if (value === 'true') return { handler: true, reason: `annotation ${INJECT_ANNOTATION}=true`, warnings }
    warnings.push(`annotation ${INJECT_ANNOTATION} has value ${describeValue(annotation)}; expected "true" or "false", so it was ignored`)
  }
  const labelSets = [field(daemonSet, 'metadata', 'labels'), field(daemonSet, 'spec', 'template', 'metadata', 'labels')]
  for (const labels of labelSets) {
    for (const key of policy.labelKeys) {
      const value = stringField(labels, key)
      if (value !== undefined && policy.names.includes(value)) return { handler: true, reason: `label ${key}=${value}`, warnings }
    }
  }
  const containers = field(daemonSet, 'spec', 'template', 'spec', 'containers')
  for (const container of Array.isArray(containers) ? containers : []) {
    const image = stringField(container, 'image')
    if (image === undefined || image === '') continue
    const repository = imageRepository(image)
    const entry = policy.images.find(e => repositoryMatches(repository, e))
    if (entry !== undefined) return { handler: true, reason: `image ${clip(image)}`, warnings }
  }
  return { handler: false, reason: 'no handler annotation, label or image', warnings }
}
