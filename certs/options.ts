/**
 * Flags and environment variables of `spot-certs`, and the checks that need
 * more than one value (required options).
 */
import { ConfigError, integer, list, oneOf, option, optional, type OptionValues } from '#common/options.ts'
import { LOG_LEVELS } from '#common/logger.ts'
import { isDnsLabel, isDnsSubdomain } from '#common/names.ts'
import { KEY_TYPES } from './generate.ts'

/** Program name used in `--help` and error messages. */
export const CERTS_PROGRAM = 'spot-certs'

/** One-paragraph summary for `--help`. */
export const CERTS_SUMMARY = 'Creates a CA and a serving certificate for the webhook Service, writes ca.crt, tls.crt and tls.key, and prints the caBundle (base64 of ca.crt). In-cluster mode (--secret and --webhook-config instead of --out-dir) keeps them in a TLS Secret, created if absent and renewed near expiry, and sets the caBundle of every webhook in the configuration.'

/** A Kubernetes object name usable as a DNS label (RFC 1123). */
function dnsLabel (raw: string): string {
  const v = raw.trim()
  if (!isDnsLabel(v)) throw new Error('expected a DNS label: lower-case letters, digits and "-", at most 63 characters')
  return v
}

/** A Kubernetes object name that must be a DNS subdomain (RFC 1123), e.g. a Secret's. */
function dnsSubdomain (raw: string): string {
  const v = raw.trim()
  if (!isDnsSubdomain(v)) throw new Error('expected a DNS subdomain: lower-case letters, digits, "-" and ".", at most 253 characters')
  return v
}

/** The options of `spot-certs`. */
export const CERTS_OPTIONS = {
  service: option({ flag: 'service', env: 'SERVICE_NAME', default: undefined, shownDefault: 'required', help: 'Name of the webhook Service.', parse: optional(dnsLabel) }),
  namespace: option({ flag: 'namespace', env: 'SERVICE_NAMESPACE', default: undefined, shownDefault: 'required', help: 'Namespace of the webhook Service.', parse: optional(dnsLabel) }),
  outDir: option({ flag: 'out-dir', env: 'OUT_DIR', default: undefined, shownDefault: 'required', help: 'Directory to write ca.crt, tls.crt and tls.key into (created if missing).', parse: optional((raw: string) => raw) }),
  hosts: option({ flag: 'host', env: 'EXTRA_HOSTS', default: [] as string[], help: 'Extra comma-separated host names or IP addresses for the serving certificate (IPs become IP SANs).', parse: list }),
  days: option({ flag: 'days', env: 'CERT_DAYS', default: 365, help: 'Validity of the CA and the serving certificate in days.', parse: integer(1, 36500) }),
  keyType: option({ flag: 'key-type', env: 'KEY_TYPE', default: 'ecdsa' as typeof KEY_TYPES[number], help: 'Key algorithm: ecdsa (P-256) or rsa (2048 bits).', parse: oneOf(KEY_TYPES) }),
  secret: option({ flag: 'secret', env: 'SECRET_NAME', default: undefined, shownDefault: 'unset', help: 'In-cluster mode: TLS Secret in --namespace holding the certificate; created if absent, kept while valid (needs --webhook-config).', parse: optional(dnsSubdomain) }),
  webhookConfig: option({ flag: 'webhook-config', env: 'WEBHOOK_CONFIG', default: undefined, shownDefault: 'unset', help: 'In-cluster mode: MutatingWebhookConfiguration whose webhooks all get the caBundle (needs --secret).', parse: optional(dnsSubdomain) }),
  renewBefore: option({ flag: 'renew-before', env: 'RENEW_BEFORE_DAYS', default: 30, help: 'In-cluster mode: replace a certificate expiring within this many days; the caBundle keeps the old CA until it expires.', parse: integer(0, 36500) }),
  logLevel: option({ flag: 'log-level', env: 'LOG_LEVEL', default: 'info' as typeof LOG_LEVELS[number], help: `In-cluster mode log level: ${LOG_LEVELS.join(', ')}.`, parse: oneOf(LOG_LEVELS) })
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

/** CertsOptionValues for the in-cluster mode: the Secret and webhook configuration known to be present. */
export type InClusterCertsConfig = CertsOptionValues & { service: string, namespace: string, secret: string, webhookConfig: string }

/** Which mode the options ask for, with the options that mode requires checked. */
export type CertsMode = { mode: 'files', config: CertsConfig } | { mode: 'cluster', config: InClusterCertsConfig }

function flagName (key: keyof typeof CERTS_OPTIONS): string {
  return `--${CERTS_OPTIONS[key].flag} (${CERTS_OPTIONS[key].env})`
}

/**
 * Picks the mode: in-cluster when --secret or --webhook-config is given (then
 * both, --service and --namespace are required and --out-dir is not allowed),
 * else files (see requireCertsOptions). Throws a ConfigError naming the flag.
 */
export function selectCertsMode (values: CertsOptionValues): CertsMode {
  if (values.secret === undefined && values.webhookConfig === undefined) return { mode: 'files', config: requireCertsOptions(values) }
  for (const key of ['secret', 'webhookConfig', 'service', 'namespace'] as const) {
    if (values[key] === undefined) throw new ConfigError(`missing ${flagName(key)}, which the in-cluster mode requires`)
  }
  if (values.outDir !== undefined) throw new ConfigError(`${flagName('outDir')} cannot be combined with the in-cluster mode (${flagName('secret')})`)
  if (values.renewBefore >= values.days) {
    throw new ConfigError(`${flagName('renewBefore')} must be less than ${flagName('days')}, or every run would replace the certificate`)
  }
  return { mode: 'cluster', config: values as InClusterCertsConfig }
}
