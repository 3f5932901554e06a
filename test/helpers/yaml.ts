/**
 * The one YAML reader of the tests: the `yaml` package, giving every field
 * exactly as written (client-node's loader deserializes into its typed models,
 * which rename some fields, e.g. a NetworkPolicy's `from` to `_from`, and drop
 * fields they do not know, so a misspelt field in a manifest would pass).
 */
import { parseAllDocuments } from 'yaml'

/** Every non-empty document of a YAML stream (`---`-separated), as plain JSON; throws on a syntax error. */
export function parseYamlStream<T = unknown> (text: string): T[] {
  return parseAllDocuments(text).map(document => {
    if (document.errors.length > 0) throw document.errors[0]!
    return document.toJSON() as unknown
  }).filter(d => d !== null && d !== undefined) as T[]
}

/** A single-document YAML file (e.g. values.yaml) as plain JSON. */
export function parseYamlDocument<T = unknown> (text: string): T {
  const [document, ...more] = parseYamlStream<T>(text)
  if (document === undefined || more.length > 0) throw new Error(`expected one YAML document, found ${more.length + (document === undefined ? 0 : 1)}`)
  return document
}
