/** JSON shapes from untrusted input (request bodies, IMDS documents, annotations, environment variables). */

/** A JSON object (not null, not an array). */
export type JsonObject = Record<string, unknown>

/** True for a JSON object (not null, not an array). */
export function isJsonObject (value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** How long an echoed string from a request may be in a message, warning or log line. */
export const ECHO_LIMIT = 200

/** `text` at most `max` characters long, saying how much was cut: untrusted input is never echoed whole. */
export function clip (text: string, max = ECHO_LIMIT): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length - max} more characters)`
}

/** The JSON type of a value in words: `null`, `an array`, `an object`, `a string`, ... */
export function describeType (value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`
}

/**
 * A short description of an untrusted value for a message: a string (clipped)
 * as JSON, a number or boolean as itself, anything else by its type alone, so
 * a deeply nested or huge value can neither overflow the stack nor flood the
 * message.
 */
export function describeValue (value: unknown): string {
  if (value === undefined) return 'nothing'
  if (typeof value === 'string') return JSON.stringify(clip(value))
  if (typeof value === 'number' || typeof value === 'boolean') return String(value)
  return describeType(value)
}
