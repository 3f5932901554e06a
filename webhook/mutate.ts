/**
 * The admission decision (pure): which requests are considered, and what the
 * webhook answers. Only apps DaemonSets on CREATE and UPDATE (no subresource)
 * can be patched; everything else is allowed unchanged. A mutation is
 * reported to the user as a warning (kubectl prints it) and in the audit log.
 */
import { clip } from '#common/json.ts'
import { handlerDecision, type HandlerPolicy } from './policy.ts'
import { nodeSelectorPatch } from './patch.ts'
import type { AdmissionDecision, AdmissionRequest } from './review.ts'

/** What the webhook injects and how it recognises handlers. */
export interface MutationConfig {
  nodeSelector: Readonly<Record<string, string>>
  policy: HandlerPolicy
}

/** The decision plus why, for logs. */
export interface MutationResult extends AdmissionDecision {
  mutated: boolean
  reason: string
}

/** Audit annotation keys (the API server prefixes them with the webhook's name). */
export const AUDIT_KEYS = { selector: 'injected-node-selector', reason: 'handler-reason' } as const

function formatSelector (selector: Readonly<Record<string, string>>): string {
  let text = ''
  for (const key of Object.keys(selector)) text += `${text === '' ? '' : ','}${key}=${selector[key]}`
  return text
}

function unchanged (reason: string, warnings: string[] = []): MutationResult {
  return { allowed: true, patch: undefined, warnings, auditAnnotations: {}, mutated: false, reason }
}

/** Decides the answer to one admission request. Dry-run requests are treated the same (there are no side effects). */
export function mutate (request: AdmissionRequest, config: MutationConfig): MutationResult {
  const { kind, operation, subResource, object } = request
  if (kind.group !== 'apps' || kind.kind !== 'DaemonSet') return unchanged(`not an apps DaemonSet (${clip(`${kind.group === '' ? 'core' : kind.group}/${kind.kind}`)})`)
  if (operation !== 'CREATE' && operation !== 'UPDATE') return unchanged(`operation ${operation} is not mutated`)
  if (subResource !== undefined) return unchanged(`subresource ${clip(subResource)} is not mutated`)
  if (object === undefined) return unchanged('no object')
  const handler = handlerDecision(object, config.policy)
  if (!handler.handler) return unchanged(`not a handler: ${handler.reason}`, handler.warnings)
  const patch = nodeSelectorPatch(object, config.nodeSelector)
  const warnings = [...handler.warnings, ...patch.warnings]
  if (patch.ops.length === 0) return unchanged(`handler (${handler.reason}); nodeSelector already in place`, warnings)
  const injected = formatSelector(patch.added)
  return {
    allowed: true,
    patch: patch.ops,
    warnings: [...warnings, `nodeSelector ${injected} added: Spot interruption handler (${handler.reason})`],
    auditAnnotations: { [AUDIT_KEYS.selector]: injected, [AUDIT_KEYS.reason]: handler.reason },
    mutated: true,
    reason: `handler (${handler.reason}); injected ${injected}`
  }
}
