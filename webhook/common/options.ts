/**
 * Command-line flags and environment variables for the three programs.
 *
 * Every option has a flag, an environment variable and a default. A flag wins
 * over the variable, the variable over its aliases (other names of the same
 * setting, such as the Node Termination Handler's), and those over the
 * default; a variable set to the empty string counts as unset. Parsing is
 * strict: an unknown flag or a value that does not parse is a ConfigError
 * naming both the flag and the variable, so a bad deployment stops at startup
 * with a clear message instead of misbehaving later.
 */
import { isIP } from 'node:net'

/** Turns one raw string into a typed value, or throws an Error describing what was expected. */
export type Parser<T> = (raw: string) => T

/** One configurable setting of a program. */
export interface Option<T> {
  /** Flag name without the leading dashes, e.g. `cert-dir`. */
  readonly flag: string
  /** Environment variable, e.g. `CERT_DIR`. */
  readonly env: string
  /** Value used when neither flag nor variable is given. */
  readonly default: T
  /** One line for `--help`. */
  readonly help: string
  /** How the default is shown in `--help` (defaults to the value itself). */
  readonly shownDefault?: string
  /** Hide the value in logs (URLs with tokens, headers). */
  readonly secret?: boolean
  /** Other variables read when `env` is unset, in order; a deprecated one is named in the warnings when used. */
  readonly aliases?: ReadonlyArray<{ env: string, deprecated?: boolean }>
  readonly parse: Parser<T>
}

/** A program's options, keyed by the property name the program reads. */
export type OptionSpecs = Record<string, Option<any>>

/** The parsed values of a set of option specs. */
export type OptionValues<S extends OptionSpecs> = { -readonly [K in keyof S]: S[K] extends Option<infer T> ? T : never }

/** A configuration problem found at startup; the message names the flag and variable. */
export class ConfigError extends Error {
  override name = 'ConfigError'
}

/** How messages name an option: `--flag (VARIABLE)`. */
export function optionName (spec: Pick<Option<unknown>, 'flag' | 'env'>): string {
  return `--${spec.flag} (${spec.env})`
}

/** Declares an option; exists so the value type is inferred from the parser. */
export function option<T> (spec: Option<T>): Option<T> {
  return spec
}

/** Any string. */
export const text: Parser<string> = raw => raw

/** A non-empty string. */
export const nonEmpty: Parser<string> = raw => {
  if (raw.trim() === '') throw new Error('expected a non-empty value')
  return raw
}

/** An integer within [min, max]. */
export function integer (min: number, max: number): Parser<number> {
  return raw => {
    const n = Number(raw.trim())
    if (raw.trim() === '' || !Number.isInteger(n) || n < min || n > max) {
      throw new Error(`expected an integer from ${min} to ${max}`)
    }
    return n
  }
}

/** A finite number within [min, max]. */
export function decimal (min: number, max: number): Parser<number> {
  return raw => {
    const n = Number(raw.trim())
    if (raw.trim() === '' || !Number.isFinite(n) || n < min || n > max) {
      throw new Error(`expected a number from ${min} to ${max}`)
    }
    return n
  }
}

/** An IP address to listen on (a host name would fail only when listening, without naming the setting). */
export const ipAddress: Parser<string> = raw => {
  const v = raw.trim()
  if (isIP(v) === 0) throw new Error('expected an IP address such as 0.0.0.0, 127.0.0.1 or ::')
  return v
}

/** A TCP port (0 asks the OS for a free one). */
export const port: Parser<number> = integer(0, 65535)

const TRUE = new Set(['true', 't', '1', 'yes', 'on'])
const FALSE = new Set(['false', 'f', '0', 'no', 'off'])

/** true/false, in any case, also every spelling of Go's strconv.ParseBool (t/f, 1/0) and yes/no, on/off. */
export const boolean: Parser<boolean> = raw => {
  const v = raw.trim().toLowerCase()
  if (TRUE.has(v)) return true
  if (FALSE.has(v)) return false
  throw new Error('expected true or false')
}

/** One of a fixed set of words, in any case (`INFO` is `info`, `noschedule` is `NoSchedule`); the word as listed. */
export function oneOf<const W extends string> (words: readonly W[]): Parser<W> {
  return raw => {
    const v = raw.trim().toLowerCase()
    const word = words.find(w => w.toLowerCase() === v)
    if (word === undefined) throw new Error(`expected one of ${words.join(', ')}`)
    return word
  }
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }

/**
 * A duration in milliseconds: `250ms`, `2s`, `1m30s`, `1h`; a bare number is
 * taken in `bareUnit` (seconds by default, as the Node Termination Handler's variables are).
 */
export function duration (bareUnit: 'ms' | 's' = 's'): Parser<number> {
  return raw => {
    const v = raw.trim()
    if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * UNIT_MS[bareUnit]!)
    const parts = [...v.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)]
    if (v === '' || parts.map(p => p[0]).join('') !== v) {
      throw new Error('expected a duration such as 500ms, 2s, 1m30s or a number of ' + (bareUnit === 's' ? 'seconds' : 'milliseconds'))
    }
    return Math.round(parts.reduce((sum, p) => sum + Number(p[1]) * UNIT_MS[p[2]!]!, 0))
  }
}

/** A comma-separated list; blanks are dropped. */
export const list: Parser<string[]> = raw => raw.split(',').map(s => s.trim()).filter(s => s !== '')

/** `k=v,k2=v2` into a map; every entry needs a key and an `=`, and no key may come twice. */
export const keyValues: Parser<Record<string, string>> = raw => {
  const out: Record<string, string> = Object.create(null)
  for (const entry of list(raw)) {
    const eq = entry.indexOf('=')
    if (eq <= 0) throw new Error(`expected key=value pairs separated by commas, got "${entry}"`)
    const key = entry.slice(0, eq).trim()
    if (Object.hasOwn(out, key)) throw new Error(`key "${key}" is given twice`)
    out[key] = entry.slice(eq + 1).trim()
  }
  return { ...out }
}

/** Wraps a parser so the empty string means "not set" (undefined). */
export function optional<T> (parse: Parser<T>): Parser<T | undefined> {
  return raw => raw.trim() === '' ? undefined : parse(raw)
}

/** Options read, and what the reading noticed (a deprecated alias used, or given beside its replacement). */
export interface ParsedOptions<S extends OptionSpecs> {
  values: OptionValues<S>
  warnings: string[]
}

/** The result of reading options: either values, or a request for help. */
export type ParseResult<S extends OptionSpecs> = { help: true } | ({ help: false } & ParsedOptions<S>)

/** The raw text of `spec` from the environment (empty counts as unset) and the variable it came from. */
function fromEnvironment (spec: Option<unknown>, env: NodeJS.ProcessEnv, warnings: string[]): { raw: string, env: string } | undefined {
  const set = (name: string): string | undefined => env[name] === '' ? undefined : env[name]
  const own = set(spec.env)
  for (const alias of spec.aliases ?? []) {
    const value = set(alias.env)
    if (value === undefined || alias.deprecated !== true) continue
    warnings.push(own === undefined
      ? `${alias.env} is deprecated; use ${spec.env} instead`
      : `${alias.env} and its replacement ${spec.env} are both set; using ${spec.env}`)
  }
  if (own !== undefined) return { raw: own, env: spec.env }
  for (const alias of spec.aliases ?? []) {
    const value = set(alias.env)
    if (value !== undefined) return { raw: value, env: alias.env }
  }
  return undefined
}

/**
 * Reads `specs` from `argv` (flags, without the program name) and `env`.
 * Accepts `--flag value`, `--flag=value`, and a bare `--flag` for booleans.
 * Throws ConfigError on unknown flags, missing values and values that do not parse.
 */
export function parseOptions<S extends OptionSpecs> (specs: S, argv: readonly string[], env: NodeJS.ProcessEnv): ParseResult<S> {
  const byFlag = new Map(Object.entries(specs).map(([key, spec]) => [spec.flag, key]))
  const fromFlags = new Map<string, string>()
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === '--help' || arg === '-h') return { help: true }
    const m = /^--([a-z0-9][a-z0-9-]*)(?:=(.*))?$/s.exec(arg)
    if (m === null) throw new ConfigError(`unexpected argument "${arg}" (see --help)`)
    const key = byFlag.get(m[1]!)
    if (key === undefined) throw new ConfigError(`unknown flag --${m[1]} (see --help)`)
    let value = m[2]
    if (value === undefined) {
      const next = argv[i + 1]
      if (specs[key]!.parse === boolean && (next === undefined || next.startsWith('--'))) value = 'true'
      else if (next === undefined) throw new ConfigError(`flag --${m[1]} needs a value`)
      else { value = next; i++ }
    }
    fromFlags.set(key, value)
  }
  const values: Record<string, unknown> = {}
  const warnings: string[] = []
  for (const [key, spec] of Object.entries(specs)) {
    const flagged = fromFlags.get(key)
    const source = flagged === undefined ? fromEnvironment(spec, env, warnings) : { raw: flagged, env: spec.env }
    if (source === undefined) { values[key] = spec.default; continue }
    try {
      values[key] = spec.parse(source.raw)
    } catch (err) {
      const shown = spec.secret === true ? '<redacted>' : JSON.stringify(source.raw)
      throw new ConfigError(`invalid value ${shown} for ${optionName({ flag: spec.flag, env: source.env })}: ${(err as Error).message}`)
    }
  }
  return { help: false, values: values as OptionValues<S>, warnings }
}

function isUnset (value: unknown): boolean {
  return value === undefined || value === '' || (typeof value === 'object' && value !== null && Object.keys(value).length === 0)
}

function show (value: unknown): string {
  if (value === undefined) return 'unset'
  if (Array.isArray(value)) return value.join(',')
  if (typeof value === 'object' && value !== null) return Object.entries(value).map(([k, v]) => `${k}=${String(v)}`).join(',')
  return String(value)
}

/** The `--help` text: usage line, then one block per option with flag, variable and default. */
export function formatHelp (program: string, summary: string, specs: OptionSpecs): string {
  const lines = [`Usage: ${program} [flags]`, '', summary, '', 'Flags (each also read from the environment variable shown; a flag wins):']
  for (const spec of Object.values(specs)) {
    const shown = spec.shownDefault ?? (spec.secret === true && !isUnset(spec.default) ? '<redacted>' : show(spec.default))
    const aliases = (spec.aliases ?? []).map(a => a.deprecated === true ? `${a.env} (deprecated)` : a.env)
    lines.push(`  --${spec.flag}  (env ${[spec.env, ...aliases].join(' or ')}, default ${shown === '' ? '""' : shown})`, `      ${spec.help}`)
  }
  lines.push('  --help, -h', '      Print this help and exit.')
  return lines.join('\n') + '\n'
}

/** Values as they may be logged: secrets replaced by `<redacted>` when set. */
export function loggable<S extends OptionSpecs> (specs: S, values: OptionValues<S>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [key, spec] of Object.entries(specs)) {
    const v = (values as Record<string, unknown>)[key]
    out[key] = spec.secret === true && !isUnset(v) ? '<redacted>' : v
  }
  return out
}

/**
 * Entry-point helper: parses options, prints help (exit 0) or the error (exit 2).
 * Returns the values and warnings when the program should run.
 */
export function readOptionsOrExit<S extends OptionSpecs> (program: string, summary: string, specs: S, argv = process.argv.slice(2), env = process.env): ParsedOptions<S> {
  try {
    const result = parseOptions(specs, argv, env)
    if (result.help) {
      process.stdout.write(formatHelp(program, summary, specs))
      process.exit(0)
    }
    return { values: result.values, warnings: result.warnings }
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    process.stderr.write(`${program}: ${err.message}\n`)
    process.exit(2)
  }
}
