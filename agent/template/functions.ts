/**
 * The functions templates may call (pure): Go's text/template builtins
 * (`and`, `or`, `not`, `len`, `index`, `slice`, `print`, `printf`,
 * `println`, the comparisons `eq`, `ne`, `lt`, `le`, `gt`, `ge`) and the
 * Sprig functions the Node Termination Handler's templates use (`lower`,
 * `upper`, `trimPrefix`, `join`, `default`, `date`, ...), with Go's argument
 * order: the piped value comes last. Argument counts and types are checked
 * as Go checks them.
 */
import { formatTime, formatValue, sortedKeys, truth, typeName } from './values.ts'

/** A function: its argument count range and its body (arguments already evaluated). */
export interface TemplateFunction {
  min: number
  max: number
  call: (...args: unknown[]) => unknown
}

/** `value` as a string argument of `fn`, or a Go-like type error. */
function str (value: unknown, fn: string): string {
  if (typeof value !== 'string') throw new Error(`wrong type for value in ${fn}; expected string; got ${typeName(value)}`)
  return value
}

/** `value` as an integer argument of `fn`. */
function int (value: unknown, fn: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) throw new Error(`wrong type for value in ${fn}; expected int; got ${typeName(value)}`)
  return value
}

/** Sprig's toString: strings as they are, everything else as %v prints it. */
function toText (value: unknown): string {
  return typeof value === 'string' ? value : formatValue(value, false)
}

/** Go's basic kinds for comparisons: integers and floats compare with each other. */
function kindOf (value: unknown): string {
  if (value === null || value === undefined) return 'nil'
  if (typeof value === 'number') return 'number'
  if (typeof value === 'string' || typeof value === 'boolean') return typeof value
  return 'other'
}

/** Go's eq: arg1 equals any of the others; basic kinds only, and of the same kind. */
function eq (first: unknown, ...others: unknown[]): boolean {
  if (others.length === 0) throw new Error('missing argument for comparison')
  return others.some(other => {
    const [a, b] = [kindOf(first), kindOf(other)]
    if (a === 'other' || b === 'other') {
      if (a === 'nil' || b === 'nil') return first === other
      throw new Error(`incompatible types for comparison: ${typeName(first)} and ${typeName(other)}`)
    }
    if (a !== b && a !== 'nil' && b !== 'nil') throw new Error(`incompatible types for comparison: ${typeName(first)} and ${typeName(other)}`)
    return first === other || (a === 'nil' && b === 'nil')
  })
}

/** Go's lt: numbers or strings of the same kind. */
function lt (a: unknown, b: unknown): boolean {
  const [ka, kb] = [kindOf(a), kindOf(b)]
  if (ka !== kb || (ka !== 'number' && ka !== 'string')) throw new Error(`incompatible types for comparison: ${typeName(a)} and ${typeName(b)}`)
  return (a as number | string) < (b as number | string)
}

/** Go's fmt.Sprint: operands joined, with a space between two that are both not strings. */
function sprint (args: unknown[]): string {
  let out = ''
  args.forEach((arg, i) => {
    if (i > 0 && typeof arg !== 'string' && typeof args[i - 1] !== 'string') out += ' '
    out += formatValue(arg, false)
  })
  return out
}

/** Go's fmt.Sprintf for the verbs templates use: %v %s %d %q %t %f %e %g %x %X %c %%, with flags, width and precision. */
export function sprintf (format: string, args: unknown[]): string {
  let next = 0
  const out = format.replace(/%([-+# 0]*)(\d+|\*)?(?:\.(\d+|\*)?)?([a-zA-Z%])/g, (match, flags: string, widthSpec: string | undefined, precisionSpec: string | undefined, verb: string) => {
    if (verb === '%') return '%'
    const width = widthSpec === '*' ? Number(args[next++]) : widthSpec === undefined ? undefined : Number(widthSpec)
    const precision = precisionSpec === '*' ? Number(args[next++]) : precisionSpec === undefined ? (match.includes('.') ? 0 : undefined) : Number(precisionSpec)
    if (next >= args.length) return `%!${verb}(MISSING)`
    const arg = args[next++]
    let text: string
    switch (verb) {
      case 'v': text = flags.includes('#') && typeof arg === 'string' ? JSON.stringify(arg) : formatValue(arg, false); break
      case 's':
        text = typeof arg === 'number' || typeof arg === 'boolean' ? `%!s(${typeName(arg)}=${formatValue(arg)})` : arg === null || arg === undefined ? '%!s(<nil>)' : toText(arg)
        if (precision !== undefined) text = [...text].slice(0, precision).join('')
        break
      case 'q': text = typeof arg === 'string' ? JSON.stringify(arg) : `%!q(${typeName(arg)}=${formatValue(arg, false)})`; break
      case 'd': text = typeof arg === 'number' && Number.isInteger(arg) ? String(arg) : `%!d(${typeName(arg)}=${formatValue(arg, false)})`; break
      case 't': text = typeof arg === 'boolean' ? String(arg) : `%!t(${typeName(arg)}=${formatValue(arg, false)})`; break
      case 'f': case 'F': text = typeof arg === 'number' ? arg.toFixed(precision ?? 6) : `%!f(${typeName(arg)}=${formatValue(arg, false)})`; break
      case 'e': text = typeof arg === 'number' ? arg.toExponential(precision ?? 6).replace(/e([+-])(\d)$/, 'e$10$2') : `%!e(${typeName(arg)}=${formatValue(arg, false)})`; break
      case 'g': text = typeof arg === 'number' ? formatValue(arg, false) : `%!g(${typeName(arg)}=${formatValue(arg, false)})`; break
      case 'x': case 'X': {
        const hex = typeof arg === 'number' && Number.isInteger(arg) ? arg.toString(16) : typeof arg === 'string' ? Buffer.from(arg).toString('hex') : `%!${verb}(${typeName(arg)}=${formatValue(arg, false)})`
        text = verb === 'X' ? hex.toUpperCase() : hex
        break
      }
      case 'c': text = typeof arg === 'number' ? String.fromCodePoint(arg) : `%!c(${typeName(arg)}=${formatValue(arg, false)})`; break
      default: text = `%!${verb}(${typeName(arg)}=${formatValue(arg, false)})`
    }
    if (flags.includes('+') && typeof arg === 'number' && arg >= 0 && 'dfeg'.includes(verb)) text = '+' + text
    if (width !== undefined && text.length < width) {
      const pad = (flags.includes('0') && !flags.includes('-') && typeof arg === 'number' ? '0' : ' ').repeat(width - text.length)
      text = flags.includes('-') ? text + pad : pad[0] === '0' && /^[+-]/.test(text) ? text[0] + pad + text.slice(1) : pad + text
    }
    return text
  })
  return next < args.length ? `${out}%!(EXTRA ${args.slice(next).map(a => `${typeName(a)}=${formatValue(a, false)}`).join(', ')})` : out
}

/** Go's len: bytes of a string, elements of a slice or map. */
function len (value: unknown): number {
  if (typeof value === 'string') return Buffer.byteLength(value)
  if (Array.isArray(value)) return value.length
  if (value instanceof Map) return value.size
  throw new Error(`len of type ${typeName(value)}`)
}

/** Go's index: `index x 1 2` is x[1][2]; a missing map key is the empty string (the zero value of the maps templates get). */
function index (value: unknown, ...keys: unknown[]): unknown {
  let current = value
  for (const key of keys) {
    if (Array.isArray(current) || typeof current === 'string') {
      const i = int(key, 'index')
      if (i < 0 || i >= current.length) throw new Error(`index out of range: ${i}`)
      current = typeof current === 'string' ? current.charCodeAt(i) : current[i]
    } else if (current instanceof Map) {
      current = current.has(key) ? current.get(key) : ''
    } else {
      throw new Error(`can't index item of type ${typeName(current)}`)
    }
  }
  return current
}

/** Go's slice: `slice x 1 2` is x[1:2]. */
function slice (value: unknown, ...bounds: unknown[]): unknown {
  if (!Array.isArray(value) && typeof value !== 'string') throw new Error(`can't slice item of type ${typeName(value)}`)
  const [from, to] = [bounds[0] === undefined ? 0 : int(bounds[0], 'slice'), bounds[1] === undefined ? value.length : int(bounds[1], 'slice')]
  if (from < 0 || to > value.length || from > to) throw new Error(`index out of range: ${from}:${to}`)
  return value.slice(from, to)
}

/** Sprig's empty: Go's falsity. */
const empty = (value: unknown): boolean => !truth(value)

/** A time argument: a Date, or Unix seconds. */
function time (value: unknown, fn: string): Date {
  if (value instanceof Date) return value
  if (typeof value === 'number') return new Date(value * 1000)
  throw new Error(`wrong type for value in ${fn}; expected time; got ${typeName(value)}`)
}

/** Every function a template may call, by name. */
export const TEMPLATE_FUNCTIONS: ReadonlyMap<string, TemplateFunction> = new Map<string, TemplateFunction>([
  // Go builtins (and, or are evaluated lazily by the evaluator; these are their values once evaluated).
  ['and', { min: 1, max: Infinity, call: (...args) => args.find(a => !truth(a)) ?? args[args.length - 1] }],
  ['or', { min: 1, max: Infinity, call: (...args) => args.find(a => truth(a)) ?? args[args.length - 1] }],
  ['not', { min: 1, max: 1, call: a => !truth(a) }],
  ['len', { min: 1, max: 1, call: len }],
  ['index', { min: 1, max: Infinity, call: index }],
  ['slice', { min: 1, max: 3, call: slice }],
  ['print', { min: 0, max: Infinity, call: (...args) => sprint(args) }],
  ['printf', { min: 1, max: Infinity, call: (format, ...args) => sprintf(str(format, 'printf'), args) }],
  ['println', { min: 0, max: Infinity, call: (...args) => args.map(a => formatValue(a, false)).join(' ') + '\n' }],
  ['eq', { min: 1, max: Infinity, call: eq }],
  ['ne', { min: 2, max: 2, call: (a, b) => !eq(a, b) }],
  ['lt', { min: 2, max: 2, call: lt }],
  ['le', { min: 2, max: 2, call: (a, b) => lt(a, b) || eq(a, b) }],
  ['gt', { min: 2, max: 2, call: (a, b) => !lt(a, b) && !eq(a, b) }],
  ['ge', { min: 2, max: 2, call: (a, b) => !lt(a, b) }],
  ['urlquery', { min: 0, max: Infinity, call: (...args) => encodeURIComponent(sprint(args)).replace(/%20/g, '+') }],
  // Sprig: strings.
  ['lower', { min: 1, max: 1, call: s => str(s, 'lower').toLowerCase() }],
  ['upper', { min: 1, max: 1, call: s => str(s, 'upper').toUpperCase() }],
  ['title', { min: 1, max: 1, call: s => str(s, 'title').replace(/(^|[^\p{L}\p{N}'])(\p{L})/gu, (_m, pre: string, c: string) => pre + c.toUpperCase()) }],
  ['trim', { min: 1, max: 1, call: s => str(s, 'trim').trim() }],
  ['trimAll', { min: 2, max: 2, call: (cut, s) => { const set = [...str(cut, 'trimAll')]; let v = str(s, 'trimAll'); while (v !== '' && set.includes(v[0]!)) v = v.slice(1); while (v !== '' && set.includes(v[v.length - 1]!)) v = v.slice(0, -1); return v } }],
  ['trimPrefix', { min: 2, max: 2, call: (prefix, s) => { const [p, v] = [str(prefix, 'trimPrefix'), str(s, 'trimPrefix')]; return v.startsWith(p) ? v.slice(p.length) : v } }],
  ['trimSuffix', { min: 2, max: 2, call: (suffix, s) => { const [x, v] = [str(suffix, 'trimSuffix'), str(s, 'trimSuffix')]; return x !== '' && v.endsWith(x) ? v.slice(0, -x.length) : v } }],
  ['replace', { min: 3, max: 3, call: (from, to, s) => str(s, 'replace').replaceAll(str(from, 'replace'), str(to, 'replace')) }],
  ['contains', { min: 2, max: 2, call: (sub, s) => str(s, 'contains').includes(str(sub, 'contains')) }],
  ['hasPrefix', { min: 2, max: 2, call: (p, s) => str(s, 'hasPrefix').startsWith(str(p, 'hasPrefix')) }],
  ['hasSuffix', { min: 2, max: 2, call: (x, s) => str(s, 'hasSuffix').endsWith(str(x, 'hasSuffix')) }],
  ['repeat', { min: 2, max: 2, call: (n, s) => str(s, 'repeat').repeat(Math.max(0, int(n, 'repeat'))) }],
  ['substr', { min: 3, max: 3, call: (from, to, s) => { const v = str(s, 'substr'); const [a, b] = [int(from, 'substr'), int(to, 'substr')]; return a < 0 ? v : v.slice(a, b < 0 || b > v.length ? v.length : b) } }],
  ['trunc', { min: 2, max: 2, call: (n, s) => { const v = str(s, 'trunc'); const c = int(n, 'trunc'); return c >= 0 ? v.slice(0, c) : v.slice(Math.max(0, v.length + c)) } }],
  ['quote', { min: 0, max: Infinity, call: (...args) => args.filter(a => a !== null && a !== undefined).map(a => JSON.stringify(toText(a))).join(' ') }],
  ['squote', { min: 0, max: Infinity, call: (...args) => args.filter(a => a !== null && a !== undefined).map(a => `'${toText(a)}'`).join(' ') }],
  ['indent', { min: 2, max: 2, call: (n, s) => { const pad = ' '.repeat(Math.max(0, int(n, 'indent'))); return pad + str(s, 'indent').replaceAll('\n', '\n' + pad) } }],
  ['nindent', { min: 2, max: 2, call: (n, s) => { const pad = ' '.repeat(Math.max(0, int(n, 'nindent'))); return '\n' + pad + str(s, 'nindent').replaceAll('\n', '\n' + pad) } }],
  ['toString', { min: 1, max: 1, call: toText }],
  ['toJson', { min: 1, max: 1, call: v => JSON.stringify(v, (_k, x: unknown) => x instanceof Map ? Object.fromEntries(sortedKeys(x).map(k => [k, x.get(k)])) : x) ?? 'null' }],
  ['splitList', { min: 2, max: 2, call: (sep, s) => str(s, 'splitList').split(str(sep, 'splitList')) }],
  ['join', { min: 2, max: 2, call: (sep, list) => (Array.isArray(list) ? list : [list]).map(toText).join(str(sep, 'join')) }],
  // Sprig: defaults and lists.
  ['default', { min: 1, max: 2, call: (fallback, ...given) => given.length === 0 || empty(given[0]) ? fallback : given[0] }],
  ['empty', { min: 1, max: 1, call: empty }],
  ['coalesce', { min: 0, max: Infinity, call: (...args) => args.find(truth) ?? null }],
  ['ternary', { min: 3, max: 3, call: (yes, no, cond) => truth(cond) ? yes : no }],
  ['list', { min: 0, max: Infinity, call: (...args) => args }],
  ['first', { min: 1, max: 1, call: l => Array.isArray(l) ? l[0] ?? null : index(l, 0) }],
  ['last', { min: 1, max: 1, call: l => Array.isArray(l) ? l[l.length - 1] ?? null : index(l, len(l) - 1) }],
  ['keys', { min: 1, max: Infinity, call: (...maps) => maps.flatMap(m => m instanceof Map ? [...m.keys()] : (() => { throw new Error(`wrong type for value in keys; expected map; got ${typeName(m)}`) })()) }],
  ['sortAlpha', { min: 1, max: 1, call: l => (Array.isArray(l) ? l : [l]).map(toText).sort() }],
  ['has', { min: 2, max: 2, call: (needle, l) => Array.isArray(l) && l.includes(needle) }],
  ['hasKey', { min: 2, max: 2, call: (m, k) => m instanceof Map && m.has(str(k, 'hasKey')) }],
  ['dict', { min: 0, max: Infinity, call: (...kv) => new Map(Array.from({ length: Math.ceil(kv.length / 2) }, (_v, i) => [toText(kv[2 * i]), kv[2 * i + 1] ?? ''])) }],
  // Sprig: dates (in UTC).
  ['now', { min: 0, max: 0, call: () => new Date() }],
  ['date', { min: 2, max: 2, call: (layout, t) => formatTime(time(t, 'date'), str(layout, 'date')) }],
  ['unixEpoch', { min: 1, max: 1, call: t => String(Math.floor(time(t, 'unixEpoch').getTime() / 1000)) }]
])

/** Names of TEMPLATE_FUNCTIONS, for the parser. */
export const TEMPLATE_FUNCTION_NAMES: ReadonlySet<string> = new Set(TEMPLATE_FUNCTIONS.keys())
