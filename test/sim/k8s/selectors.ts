/**
 * Label and field selectors, as the API server parses them from `labelSelector=` /
 * `fieldSelector=` query parameters (k8s.io/apimachinery/pkg/labels and pkg/fields),
 * and `metav1.LabelSelector` objects (matchLabels + matchExpressions) used by
 * PodDisruptionBudgets, ReplicaSets and webhook namespace/object selectors.
 */
import { badRequest } from './status.ts'

/** One requirement of a label selector. */
export type LabelRequirement =
  | { key: string, op: 'in' | 'notin', values: string[] }
  | { key: string, op: 'exists' | '!' }
  | { key: string, op: 'gt' | 'lt', value: number }

/** A `metav1.LabelSelector`. */
export interface LabelSelectorObject {
  matchLabels?: Record<string, string>
  matchExpressions?: Array<{ key: string, operator: string, values?: string[] }>
}

type Labels = Record<string, string> | undefined

const KEY = /^[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?$/

function splitTopLevel (text: string): string[] {
  const out: string[] = []
  let depth = 0
  let current = ''
  for (const ch of text) {
    if (ch === '(') depth++
    if (ch === ')') depth--
    if (ch === ',' && depth === 0) { out.push(current); current = '' } else current += ch
  }
  out.push(current)
  return out.map(s => s.trim()).filter(s => s !== '')
}

function checkKey (key: string, selector: string): string {
  if (!KEY.test(key)) throw badRequest(`unable to parse requirement: invalid label key "${key}" in selector "${selector}"`)
  return key
}

/**
 * Parses a label selector string: `a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`,
 * `a`, `!a`, `a>1`, `a<1`; requirements separated by commas, all must hold.
 * Throws a 400 BadRequest ApiError on syntax errors.
 */
export function parseLabelSelector (selector: string): LabelRequirement[] {
  const requirements: LabelRequirement[] = []
  for (const part of splitTopLevel(selector)) {
    let m: RegExpExecArray | null
    if ((m = /^(\S+)\s+(in|notin)\s*\(([^)]*)\)$/.exec(part)) !== null) {
      const values = m[3]!.split(',').map(v => v.trim()).filter(v => v !== '')
      requirements.push({ key: checkKey(m[1]!, selector), op: m[2] as 'in' | 'notin', values })
    } else if ((m = /^([^=!<>\s]+)\s*(==|=|!=)\s*([^=!<>\s]*)$/.exec(part)) !== null) {
      const key = checkKey(m[1]!, selector)
      requirements.push({ key, op: m[2] === '!=' ? 'notin' : 'in', values: [m[3]!] })
    } else if ((m = /^([^=!<>\s]+)\s*([<>])\s*(-?\d+)$/.exec(part)) !== null) {
      requirements.push({ key: checkKey(m[1]!, selector), op: m[2] === '>' ? 'gt' : 'lt', value: Number(m[3]) })
    } else if ((m = /^!\s*([^=!<>\s]+)$/.exec(part)) !== null) {
      requirements.push({ key: checkKey(m[1]!, selector), op: '!' })
    } else if (/^[^=!<>\s()]+$/.test(part)) {
      requirements.push({ key: checkKey(part, selector), op: 'exists' })
    } else {
      throw badRequest(`unable to parse requirement: found '${part}', expected: in, notin, =, ==, !=, gt, lt`)
    }
  }
  return requirements
}

/** Whether labels satisfy every requirement. */
export function matchesRequirements (requirements: readonly LabelRequirement[], labels: Labels): boolean {
  return requirements.every(r => {
    const value = labels?.[r.key]
    switch (r.op) {
      case 'in': return value !== undefined && r.values.includes(value)
      case 'notin': return value === undefined || !r.values.includes(value)
      case 'exists': return value !== undefined
      case '!': return value === undefined
      case 'gt': return value !== undefined && /^-?\d+$/.test(value) && Number(value) > r.value
      case 'lt': return value !== undefined && /^-?\d+$/.test(value) && Number(value) < r.value
    }
    return false
  })
}

/**
 * Converts a `metav1.LabelSelector` into requirements. An empty object matches
 * everything; `null`/undefined is handled by the caller (it matches nothing for
 * PDBs and everything for webhook selectors). Unknown operators throw.
 */
export function requirementsOf (selector: LabelSelectorObject): LabelRequirement[] {
  const out: LabelRequirement[] = Object.entries(selector.matchLabels ?? {}).map(([key, value]) => ({ key, op: 'in', values: [value] }))
  for (const e of selector.matchExpressions ?? []) {
    const requirement = expressionRequirement(e)
    if (requirement === undefined) throw new Error(`"${e.operator}" is not a valid label selector operator`)
    out.push(requirement)
  }
  return out
}

/** The requirement for one set-based expression (In, NotIn, Exists, DoesNotExist); undefined for any other operator. */
export function expressionRequirement (e: { key: string, operator: string, values?: string[] }): LabelRequirement | undefined {
  switch (e.operator) {
    case 'In': return { key: e.key, op: 'in', values: e.values ?? [] }
    case 'NotIn': return { key: e.key, op: 'notin', values: e.values ?? [] }
    case 'Exists': return { key: e.key, op: 'exists' }
    case 'DoesNotExist': return { key: e.key, op: '!' }
    default: return undefined
  }
}

/** Whether labels match a `metav1.LabelSelector` (empty selector: everything). */
export function matchesLabelSelector (selector: LabelSelectorObject, labels: Labels): boolean {
  return matchesRequirements(requirementsOf(selector), labels)
}

/** One `fieldSelector` term. */
export interface FieldRequirement {
  field: string
  op: '=' | '!='
  value: string
}

/**
 * Parses `fieldSelector`: `a=b`, `a==b`, `a!=b` separated by commas, checking each
 * field against the keys the resource supports (400 `field label not supported`, as
 * the API server answers for an unknown field label).
 */
export function parseFieldSelector (selector: string, supported: readonly string[], kind: string): FieldRequirement[] {
  const out: FieldRequirement[] = []
  for (const part of selector.split(',').map(s => s.trim()).filter(s => s !== '')) {
    const m = /^([^=!]+?)\s*(==|=|!=)\s*(.*)$/.exec(part)
    if (m === null) throw badRequest(`invalid selector: '${selector}'; can't understand '${part}'`)
    const field = m[1]!
    if (!supported.includes(field)) throw badRequest(`field label not supported: ${field}`)
    out.push({ field, op: m[2] === '!=' ? '!=' : '=', value: m[3]! })
  }
  return out
}

/**
 * Reads a dotted field path from an object the way field selectors see it:
 * missing strings are `""`, booleans are `true`/`false` (`spec.unschedulable`
 * is `false` when unset, as in the API server's node field set).
 */
export function fieldValue (obj: unknown, field: string): string {
  let cur: unknown = obj
  // The Event field `source` selects on source.component (core/v1 event field label conversion).
  const path = field === 'source' ? 'source.component' : field
  for (const key of path.split('.')) {
    cur = typeof cur === 'object' && cur !== null ? (cur as Record<string, unknown>)[key] : undefined
  }
  if (field === 'spec.unschedulable' || field === 'spec.hostNetwork') return String(cur === true)
  if (cur === undefined || cur === null) return ''
  return String(cur)
}

/** Whether an object satisfies every field requirement. */
export function matchesFields (requirements: readonly FieldRequirement[], obj: unknown): boolean {
  return requirements.every(r => (fieldValue(obj, r.field) === r.value) === (r.op === '='))
}
