/**
 * Flags and environment variables of `spot-certs`, and the checks that need
 * more than one value (required options).
 */
import { ConfigError, integer, list, oneOf, option, optional, type OptionValues } from '../webhook/common/options.ts'
import { KEY_TYPES } from './generate.ts'

/** Program name used in `--help` and error messages. */
export const CERTS_PROGRAM = 'spot-certs'

/** One-paragraph summary for `--help`. */
export const CERTS_SUMMARY = 'Creates a CA and a serving certificate for the webhook Service, writes ca.crt, tls.crt and tls.key, and prints the caBundle (base64 of ca.crt).'

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/

/** A Kubernetes object name usable as a DNS label (RFC 1123). */
function dnsLabel (raw: string): string {
  const v = raw.trim()
  if (!DNS_LABEL.test(v)) throw new Error('expected a DNS label: lower-case letters, digits and "-", at most 63 characters')
  return v
}

/** The options of `spot-certs`. */
export const CERTS_OPTIONS = {
  service: option({ flag: 'service', env: 'SERVICE_NAME', default: undefined, shownDefault: 'required', help: 'Name of the webhook Service.', parse: optional(dnsLabel) }),
  namespace: option({ flag: 'namespace', env: 'SERVICE_NAMESPACE', default: undefined, shownDefault: 'required', help: 'Namespace of the webhook Service.', parse: optional(dnsLabel) }),
  outDir: option({ flag: 'out-dir', env: 'OUT_DIR', default: undefined, shownDefault: 'required', help: 'Directory to write ca.crt, tls.crt and tls.key into (created if missing).', parse: optional((raw: string) => raw) }),
  hosts: option({ flag: 'host', env: 'EXTRA_HOSTS', default: [] as string[], help: 'Extra comma-separated host names or IP addresses for the serving certificate (IPs become IP SANs).', parse: list }),
  days: option({ flag: 'days', env: 'CERT_DAYS', default: 365, help: 'Validity of the CA and the serving certificate in days.', parse: integer(1, 36500) }),
  keyType: option({ flag: 'key-type', env: 'KEY_TYPE', default: 'ecdsa' as typeof KEY_TYPES[number], help: 'Key algorithm: ecdsa (P-256) or rsa (2048 bits).', parse: oneOf(KEY_TYPES) })
}

/** Parsed values of CERTS_OPTIONS. */
export type CertsOptionValues = OptionValues<typeof CERTS_OPTIONS>

/** CertsOptionValues with the required options known to be present. */
export type CertsConfig = CertsOptionValues & { service: string, namespace: string, outDir: string }

/** Checks that every required option is given; throws a ConfigError naming the first missing flag and variable. */
export function requireCertsOptions (values: CertsOptionValues): CertsConfig {
  for (const key of ['service', 'namespace', 'outDir'] as const) {
    if (values[key] === undefined) {
      const spec = CERTS_OPTIONS[key]
      throw new ConfigError(`missing --${spec.flag} (${spec.env}), which is required`)
    }
  }
  return values as CertsConfig
}
