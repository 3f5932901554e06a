/**
 * Flags and environment variables of `spot-webhook`.
 */
import { LOG_LEVELS } from '#common/logger.ts'
import { isLabelValue, labelKeyProblem } from '#common/names.ts'
import { duration, ipAddress, keyValues, list, nonEmpty, oneOf, option, port, type OptionValues, type Parser } from '#common/options.ts'
import { DEFAULT_HANDLER_IMAGES, DEFAULT_HANDLER_LABEL_KEYS, DEFAULT_HANDLER_NAMES } from './policy.ts'

/** Program name used in `--help`, logs and error messages. */
export const WEBHOOK_PROGRAM = 'spot-webhook'

/** One-paragraph summary for `--help`. */
export const WEBHOOK_SUMMARY = 'Mutating admission webhook: merges a Spot nodeSelector into the pod template of Spot interruption handler DaemonSets. Serves POST /mutate over HTTPS; /healthz, /readyz and /metrics on a plain port.'

/** `k=v,...` where each key and value is a valid Kubernetes label; at least one pair. */
export const labelMap: Parser<Record<string, string>> = raw => {
  const labels = keyValues(raw)
  if (Object.keys(labels).length === 0) throw new Error('expected at least one key=value label')
  for (const [key, value] of Object.entries(labels)) {
    const problem = labelKeyProblem(key)
    if (problem !== undefined) throw new Error(problem)
    if (!isLabelValue(value)) throw new Error(`label value "${value}" of "${key}" is not a valid label value`)
  }
  return labels
}

/** A comma-separated list with at least one entry. */
const nonEmptyList: Parser<string[]> = raw => {
  const items = list(raw)
  if (items.length === 0) throw new Error('expected at least one comma-separated entry')
  return items
}

/** The options of `spot-webhook`. */
export const WEBHOOK_OPTIONS = {
  port: option({ flag: 'port', env: 'WEBHOOK_PORT', default: 8443, help: 'HTTPS port of POST /mutate (0 picks a free port).', parse: port }),
  listenAddress: option({ flag: 'listen-address', env: 'LISTEN_ADDRESS', default: '0.0.0.0', help: 'Address both ports bind to (an IP address).', parse: ipAddress }),
  certDir: option({ flag: 'cert-dir', env: 'CERT_DIR', default: '/etc/spot-webhook/tls', help: 'Directory holding tls.crt and tls.key (a mounted TLS Secret); re-read when its files change.', parse: nonEmpty }),
  metricsPort: option({ flag: 'metrics-port', env: 'METRICS_PORT', default: 8080, help: 'Plain HTTP port of /healthz, /readyz and /metrics.', parse: port }),
  nodeSelector: option({ flag: 'node-selector', env: 'NODE_SELECTOR', default: { lifecycle: 'Ec2Spot' } as Record<string, string>, help: 'Labels merged into the nodeSelector of handler DaemonSets (k=v,...).', parse: labelMap }),
  handlerNames: option({ flag: 'handler-names', env: 'HANDLER_NAMES', default: [...DEFAULT_HANDLER_NAMES], help: 'Label values that mark a DaemonSet as a handler.', parse: nonEmptyList }),
  handlerLabelKeys: option({ flag: 'handler-label-keys', env: 'HANDLER_LABEL_KEYS', default: [...DEFAULT_HANDLER_LABEL_KEYS], help: 'Label keys (on the DaemonSet or its pod template) compared with --handler-names.', parse: nonEmptyList }),
  handlerImages: option({ flag: 'handler-images', env: 'HANDLER_IMAGES', default: [...DEFAULT_HANDLER_IMAGES], help: 'Image repositories of handlers; an entry without "/" matches the last path segment.', parse: nonEmptyList }),
  shutdownTimeout: option({ flag: 'shutdown-timeout', env: 'SHUTDOWN_TIMEOUT', default: 20_000, shownDefault: '20s', help: 'On SIGTERM, how long in-flight requests may take before connections are closed.', parse: duration('s') }),
  logLevel: option({ flag: 'log-level', env: 'LOG_LEVEL', default: 'info' as typeof LOG_LEVELS[number], help: `Log level: ${LOG_LEVELS.join(', ')}.`, parse: oneOf(LOG_LEVELS) })
}

/** Parsed values of WEBHOOK_OPTIONS. */
export type WebhookOptionValues = OptionValues<typeof WEBHOOK_OPTIONS>
