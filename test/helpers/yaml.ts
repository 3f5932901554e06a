/**
 * The one YAML reader of the tests: client-node's loader (already a
 * dependency), normalised to plain JSON values (dates and the like as their
 * JSON form).
 */
import { loadAllYaml } from '@kubernetes/client-node'

/** Every non-empty document of a YAML stream (`---`-separated), as plain JSON. */
export function parseYamlStream<T = unknown> (text: string): T[] {
  return (loadAllYaml(text) as unknown[]).filter(d => d !== null && d !== undefined).map(d => JSON.parse(JSON.stringify(d)) as T)
}

/** A single-document YAML file (e.g. values.yaml) as plain JSON. */
export function parseYamlDocument<T = unknown> (text: string): T {
  const [document, ...more] = parseYamlStream<T>(text)
  if (document === undefined || more.length > 0) throw new Error(`expected one YAML document, found ${more.length + (document === undefined ? 0 : 1)}`)
  return document
}
