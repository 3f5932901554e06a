/**
 * Go values as templates see them (pure): a plain object is a struct (an
 * unknown field is an error), a Map is a map (a missing key has no value), an
 * array is a slice, a Date is a time.Time (in UTC), null is nil and undefined
 * is "no value". `formatValue` prints them as Go's fmt `%v` does, `truth` is
 * Go's truthiness, and `formatTime` writes a time in a Go reference layout.
 */

/** Go's type name of a value, for error messages. */
export function typeName (value: unknown): string {
  if (value === undefined) return 'no value'
  if (value === null) return 'nil'
  if (typeof value === 'string') return 'string'
  if (typeof value === 'boolean') return 'bool'
  if (typeof value === 'number') return Number.isInteger(value) ? 'int' : 'float64'
  if (Array.isArray(value)) return 'slice'
  if (value instanceof Map) return 'map'
  if (value instanceof Date) return 'time.Time'
  return 'struct'
}

/** Go's truth: false, 0, "", nil and empty slices and maps are false. */
export function truth (value: unknown): boolean {
  if (value === undefined || value === null || value === false || value === 0 || value === '') return false
  if (Array.isArray(value)) return value.length > 0
  if (value instanceof Map) return value.size > 0
  return true
}

/** A float64 as Go's %v prints it: shortest digits, exponent form below 1e-4 and from 1e6 (`1e+06`). */
function formatFloat (n: number): string {
  if (Number.isNaN(n)) return 'NaN'
  if (!Number.isFinite(n)) return n > 0 ? '+Inf' : '-Inf'
  if (n === 0) return Object.is(n, -0) ? '-0' : '0'
  const exponent = Math.floor(Math.log10(Math.abs(n)))
  if (exponent >= -4 && exponent < 6) return String(n)
  const [mantissa, exp] = n.toExponential().split('e') as [string, string]
  const sign = exp.startsWith('-') ? '-' : '+'
  return `${mantissa}e${sign}${exp.replace(/^[+-]/, '').padStart(2, '0')}`
}

/** Map keys in Go's printing and ranging order (sorted). */
export function sortedKeys (map: Map<unknown, unknown>): unknown[] {
  return [...map.keys()].sort((a, b) => typeof a === 'number' && typeof b === 'number' ? a - b : String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0)
}

/** `value` as Go's fmt `%v` prints it; `top` is false inside slices, maps and structs (where no value is `<nil>`). */
export function formatValue (value: unknown, top = true): string {
  if (value === undefined) return top ? '<no value>' : '<nil>'
  if (value === null) return '<nil>'
  if (typeof value === 'string') return value
  if (typeof value === 'boolean') return String(value)
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : formatFloat(value)
  if (Array.isArray(value)) return `[${value.map(v => formatValue(v, false)).join(' ')}]`
  if (value instanceof Map) return `map[${sortedKeys(value).map(k => `${formatValue(k, false)}:${formatValue(value.get(k), false)}`).join(' ')}]`
  if (value instanceof Date) return formatTime(value, GO_TIME_STRING)
  if (typeof value === 'object') return `{${Object.values(value).map(v => formatValue(v, false)).join(' ')}}`
  return String(value)
}

/** The layout of Go's Time.String(). */
export const GO_TIME_STRING = '2006-01-02 15:04:05.999999999 -0700 MST'

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December']
const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday']

/** Reference-layout elements, longest first so `2006` wins over `2` and `January` over `Jan`. */
const LAYOUT_ELEMENTS: Array<[string, (d: Date) => string]> = [
  ['January', d => MONTHS[d.getUTCMonth()]!],
  ['Monday', d => DAYS[d.getUTCDay()]!],
  ['Z07:00', () => 'Z'],
  ['-07:00', () => '+00:00'],
  ['-0700', () => '+0000'],
  ['Z0700', () => 'Z'],
  ['2006', d => String(d.getUTCFullYear()).padStart(4, '0')],
  ['Jan', d => MONTHS[d.getUTCMonth()]!.slice(0, 3)],
  ['Mon', d => DAYS[d.getUTCDay()]!.slice(0, 3)],
  ['MST', () => 'UTC'],
  ['-07', () => '+00'],
  ['Z07', () => 'Z'],
  ['002', d => String(Math.floor((Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()) - Date.UTC(d.getUTCFullYear(), 0, 1)) / 86_400_000) + 1).padStart(3, '0')],
  ['01', d => String(d.getUTCMonth() + 1).padStart(2, '0')],
  ['02', d => String(d.getUTCDate()).padStart(2, '0')],
  ['_2', d => String(d.getUTCDate()).padStart(2, ' ')],
  ['15', d => String(d.getUTCHours()).padStart(2, '0')],
  ['03', d => String(d.getUTCHours() % 12 === 0 ? 12 : d.getUTCHours() % 12).padStart(2, '0')],
  ['04', d => String(d.getUTCMinutes()).padStart(2, '0')],
  ['05', d => String(d.getUTCSeconds()).padStart(2, '0')],
  ['06', d => String(d.getUTCFullYear() % 100).padStart(2, '0')],
  ['PM', d => d.getUTCHours() < 12 ? 'AM' : 'PM'],
  ['pm', d => d.getUTCHours() < 12 ? 'am' : 'pm'],
  ['1', d => String(d.getUTCMonth() + 1)],
  ['2', d => String(d.getUTCDate())],
  ['3', d => String(d.getUTCHours() % 12 === 0 ? 12 : d.getUTCHours() % 12)],
  ['4', d => String(d.getUTCMinutes())],
  ['5', d => String(d.getUTCSeconds())]
]

/** Fractional seconds: `.000` keeps that many digits, `.999` that many without trailing zeros (and no dot when none are left). */
function fraction (d: Date, spec: string): string {
  const digits = spec.length - 1
  const nanos = String(d.getUTCMilliseconds() * 1_000_000).padStart(9, '0').slice(0, digits)
  if (spec[1] === '0') return '.' + nanos
  const trimmed = nanos.replace(/0+$/, '')
  return trimmed === '' ? '' : '.' + trimmed
}

/** `date` (in UTC) written in Go's reference layout `layout` (Mon Jan 2 15:04:05 MST 2006). */
export function formatTime (date: Date, layout: string): string {
  let out = ''
  for (let i = 0; i < layout.length;) {
    const frac = /^[.,](0+|9+)(?![0-9])/.exec(layout.slice(i))
    if (frac !== null && (i === 0 || /[0-9]/.test(layout[i - 1]!))) {
      out += fraction(date, frac[0])
      i += frac[0].length
      continue
    }
    const element = LAYOUT_ELEMENTS.find(([name]) => layout.startsWith(name, i))
    if (element === undefined) {
      out += layout[i]
      i++
      continue
    }
    out += element[1](date)
    i += element[0].length
  }
  return out
}
