/**
 * Kubernetes name rules (pure): label values and keys, DNS labels and
 * subdomains (RFC 1123), as the API server validates them.
 */

const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/

/** A label value (and taint value): empty, or at most 63 alphanumerics, `-`, `_`, `.`, starting and ending alphanumeric. */
export function isLabelValue (value: string): boolean {
  return value.length <= 63 && LABEL_VALUE.test(value)
}

/** A DNS label (RFC 1123): at most 63 lower-case alphanumerics and `-`, starting and ending alphanumeric. */
export function isDnsLabel (value: string): boolean {
  return value.length <= 63 && DNS_LABEL.test(value)
}

/** A DNS subdomain (RFC 1123): dot-separated DNS labels, at most 253 characters. */
export function isDnsSubdomain (value: string): boolean {
  return value.length <= 253 && DNS_SUBDOMAIN.test(value) && value.split('.').every(isDnsLabel)
}

/** Why `key` is not a valid label key (`[prefix/]name`, prefix a DNS subdomain, name like a non-empty label value), or undefined when it is. */
export function labelKeyProblem (key: string): string | undefined {
  const slash = key.lastIndexOf('/')
  const prefix = slash === -1 ? undefined : key.slice(0, slash)
  const name = key.slice(slash + 1)
  if (prefix !== undefined && !isDnsSubdomain(prefix)) return `label key "${key}" has an invalid prefix`
  if (name === '' || !isLabelValue(name)) return `label key "${key}" has an invalid name`
  return undefined
}
