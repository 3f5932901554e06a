/** JSON shapes from untrusted input (request bodies, IMDS documents, annotations, environment variables). */

/** A JSON object (not null, not an array). */
export type JsonObject = Record<string, unknown>

/** True for a JSON object (not null, not an array). */
export function isJsonObject (value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
