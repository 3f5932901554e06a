/**
 * Flags and environment variables of `spot-agent`. Names follow the AWS Node
 * Termination Handler where one exists (so a team can switch without
 * relearning); our own additions are listed after them. Every default is
 * documented in the help text; `--help` prints them all.
 */
import {
  ConfigError, boolean, duration, integer, decimal, ipAddress, keyValues, list, oneOf, option, optional, port, text,
  type OptionValues, type Parser
} from '#common/options.ts'
import { LOG_LEVELS } from '#common/logger.ts'
import { isJsonObject } from '#common/json.ts'
import { NOTICE_KINDS, SCHEDULED_EVENT_CODES, type NoticeKind, type ScheduledEventCode } from './notices.ts'
import { TAINT_EFFECTS, type TaintEffect } from './node-state.ts'

/** Program name used in `--help` and error messages. */
export const AGENT_PROGRAM = 'spot-agent'

/** One-paragraph summary for `--help`. */
export const AGENT_SUMMARY = 'Node agent: watches the EC2 instance metadata service for Spot interruption, rebalance, scheduled maintenance and ASG termination notices, and taints, cordons and drains its node before the instance goes away.'

/** A JSON object of string header values (WEBHOOK_HEADERS). */
function headersObject (raw: string): Record<string, string> {
  if (raw.trim() === '') return {}
  let parsed: unknown
  try { parsed = JSON.parse(raw) } catch { throw new Error('expected a JSON object such as {"Authorization":"Bearer x"}') }
  if (!isJsonObject(parsed)) throw new Error('expected a JSON object of header names to values')
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(parsed)) {
    if (typeof v !== 'string') throw new Error(`header "${k}" must have a string value`)
    out[k] = v
  }
  return out
}

/** An http(s) URL. */
function url (raw: string): string {
  const v = raw.trim()
  let parsed: URL
  try { parsed = new URL(v) } catch { throw new Error('expected an absolute http or https URL') }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error('expected an http or https URL')
  return v.replace(/\/+$/, '')
}

/** A comma-separated list of notice kinds; `none` (or an empty flag) for none. */
function kinds (raw: string): NoticeKind[] {
  if (raw.trim().toLowerCase() === 'none') return []
  const values = list(raw)
  for (const v of values) {
    if (!(NOTICE_KINDS as readonly string[]).includes(v)) throw new Error(`unknown notice kind "${v}"; expected some of ${NOTICE_KINDS.join(', ')}, or none`)
  }
  return values as NoticeKind[]
}

/** A comma-separated list of scheduled-event codes, at least one. */
function scheduledCodes (raw: string): ScheduledEventCode[] {
  const values = list(raw)
  if (values.length === 0) throw new Error(`expected at least one of ${SCHEDULED_EVENT_CODES.join(', ')}`)
  for (const v of values) {
    if (!(SCHEDULED_EVENT_CODES as readonly string[]).includes(v)) throw new Error(`unknown scheduled event code "${v}"; expected some of ${SCHEDULED_EVENT_CODES.join(', ')}`)
  }
  return values as ScheduledEventCode[]
}

/** Seconds as the Node Termination Handler reads POD_TERMINATION_GRACE_PERIOD: any negative number means the pod's own (-1). */
const podGraceSeconds: Parser<number> = raw => Math.max(-1, integer(-1e9, 86400)(raw))

/** An absolute URL path, such as /healthz. */
const urlPath: Parser<string> = raw => {
  const v = raw.trim()
  if (!/^\/[\x21-\x7e]*$/.test(v) || v.includes('?') || v.includes('#')) throw new Error('expected a URL path such as /healthz')
  return v
}

/** An http:// proxy URL for the notification (WEBHOOK_PROXY). */
function proxyUrl (raw: string): string {
  const v = url(raw)
  const parsed = new URL(v)
  if (parsed.protocol !== 'http:' || (parsed.pathname !== '' && parsed.pathname !== '/')) throw new Error('expected an HTTP proxy URL such as http://proxy.example:3128 (an https:// notification URL is tunnelled through it)')
  return v
}

/** The options of `spot-agent`. Exported so the Helm chart test can check the chart sets only real variables. */
export const AGENT_OPTIONS = {
  // --- names shared with the AWS Node Termination Handler ---
  nodeName: option({ flag: 'node-name', env: 'NODE_NAME', default: '', shownDefault: 'required', help: 'Name of the Node this agent runs on (set from spec.nodeName by the DaemonSet).', parse: text }),
  instanceMetadataUrl: option({ flag: 'instance-metadata-url', env: 'INSTANCE_METADATA_URL', default: 'http://169.254.169.254', help: 'Base URL of the EC2 instance metadata service.', parse: url }),
  dryRun: option({ flag: 'dry-run', env: 'DRY_RUN', default: false, help: 'Log every step that would be taken and change nothing.', parse: boolean }),
  enableSpotInterruptionDraining: option({ flag: 'enable-spot-interruption-draining', env: 'ENABLE_SPOT_INTERRUPTION_DRAINING', default: true, help: 'Watch spot/instance-action and drain on a Spot interruption notice.', parse: boolean }),
  enableScheduledEventDraining: option({ flag: 'enable-scheduled-event-draining', env: 'ENABLE_SCHEDULED_EVENT_DRAINING', default: true, help: 'Watch scheduled maintenance events and drain for active ones whose code is in SCHEDULED_EVENT_CODES (undone when canceled, completed or after the reboot).', parse: boolean }),
  enableRebalanceMonitoring: option({ flag: 'enable-rebalance-monitoring', env: 'ENABLE_REBALANCE_MONITORING', default: false, help: 'Watch rebalance recommendations and taint + cordon the node (drain only with ENABLE_REBALANCE_DRAINING).', parse: boolean }),
  enableRebalanceDraining: option({ flag: 'enable-rebalance-draining', env: 'ENABLE_REBALANCE_DRAINING', default: false, help: 'Also drain on a rebalance recommendation (implies rebalance monitoring).', parse: boolean }),
  enableAsgLifecycleDraining: option({ flag: 'enable-asg-lifecycle-draining', env: 'ENABLE_ASG_LIFECYCLE_DRAINING', default: false, help: 'Watch autoscaling/target-lifecycle-state and drain when it turns Terminated.', parse: boolean }),
  cordonOnly: option({ flag: 'cordon-only', env: 'CORDON_ONLY', default: false, help: 'Taint, label and cordon, but never drain.', parse: boolean }),
  taintNode: option({ flag: 'taint-node', env: 'TAINT_NODE', default: true, help: 'Taint the node spot-handler.io/<kind>=<event id> (on by default, unlike the Node Termination Handler).', parse: boolean }),
  taintEffect: option({ flag: 'taint-effect', env: 'TAINT_EFFECT', default: 'NoSchedule' as TaintEffect, help: `Effect of that taint: ${TAINT_EFFECTS.join(', ')}.`, parse: oneOf(TAINT_EFFECTS) }),
  excludeFromLoadBalancers: option({ flag: 'exclude-from-load-balancers', env: 'EXCLUDE_FROM_LOAD_BALANCERS', default: true, help: 'Label the node node.kubernetes.io/exclude-from-external-load-balancers (only if absent; removed on undo only if we added it). On by default.', parse: boolean }),
  deleteLocalData: option({ flag: 'delete-local-data', env: 'DELETE_LOCAL_DATA', default: true, help: 'Evict pods using emptyDir volumes (their data is lost); when false such pods block the drain and are reported.', parse: boolean }),
  ignoreDaemonSets: option({ flag: 'ignore-daemon-sets', env: 'IGNORE_DAEMON_SETS', default: true, help: 'Leave DaemonSet-owned pods running (their controller would put them back anyway).', parse: boolean }),
  podTerminationGracePeriod: option({ flag: 'pod-termination-grace-period', env: 'POD_TERMINATION_GRACE_PERIOD', aliases: [{ env: 'GRACE_PERIOD', deprecated: true }], default: -1, help: 'Grace period in seconds given to each evicted pod; any negative number uses the pod\'s own. Always bounded by the time left before the deadline minus DEADLINE_SAFETY_MARGIN.', parse: podGraceSeconds }),
  nodeTerminationGracePeriod: option({ flag: 'node-termination-grace-period', env: 'NODE_TERMINATION_GRACE_PERIOD', default: 120, help: 'Seconds a drain may take for notices without a deadline (rebalance, ASG lifecycle, rehearsal without one); 0 for no limit.', parse: integer(0, 86400) }),
  metadataTimeout: option({ flag: 'metadata-timeout', env: 'METADATA_TIMEOUT', default: 2000, shownDefault: '2s', help: 'How long one IMDS request may take (a notice served slower is not seen; readiness says so).', parse: duration('s') }),
  metadataTries: option({ flag: 'metadata-tries', env: 'METADATA_TRIES', default: 3, help: 'Attempts per IMDS request on transport errors and 5xx (exponential backoff with jitter between them).', parse: integer(1, 20) }),
  webhookUrl: option({ flag: 'webhook-url', env: 'WEBHOOK_URL', default: undefined as string | undefined, shownDefault: 'unset', secret: true, help: 'POST a notification here after each event (Slack-compatible by default); empty disables notifications.', parse: optional(url) }),
  webhookHeaders: option({ flag: 'webhook-headers', env: 'WEBHOOK_HEADERS', default: {} as Record<string, string>, secret: true, help: 'Extra HTTP headers for the notification, as a JSON object.', parse: headersObject }),
  webhookTemplate: option({ flag: 'webhook-template', env: 'WEBHOOK_TEMPLATE', default: '', shownDefault: 'Slack-compatible {"text": ...}', help: 'Notification body, a Go text/template as in the Node Termination Handler (.NodeName, .InstanceID, .Kind, .EventID, .StartTime, .Pods, .NodeLabels, ... and .Deadline, .Result, .Blockers); checked at start-up.', parse: text }),
  webhookTemplateFile: option({ flag: 'webhook-template-file', env: 'WEBHOOK_TEMPLATE_FILE', default: '', help: 'File holding the notification template (instead of WEBHOOK_TEMPLATE).', parse: text }),
  webhookProxy: option({ flag: 'webhook-proxy', env: 'WEBHOOK_PROXY', default: undefined as string | undefined, shownDefault: 'unset', secret: true, help: 'HTTP proxy the notification goes through (http://host:port; an https:// notification URL is tunnelled with CONNECT).', parse: optional(proxyUrl) }),
  enablePrometheusServer: option({ flag: 'enable-prometheus-server', env: 'ENABLE_PROMETHEUS_SERVER', default: true, help: 'Serve Prometheus metrics on /metrics at PROMETHEUS_SERVER_PORT (on by default).', parse: boolean }),
  prometheusServerPort: option({ flag: 'prometheus-server-port', env: 'PROMETHEUS_SERVER_PORT', default: 9470, help: 'Port of the metrics server (not the Node Termination Handler\'s 9092, so both fit on one host network).', parse: port }),
  enableProbesServer: option({ flag: 'enable-probes-server', env: 'ENABLE_PROBES_SERVER', default: true, help: 'Serve /healthz and /readyz at PROBES_SERVER_PORT (on by default).', parse: boolean }),
  probesServerPort: option({ flag: 'probes-server-port', env: 'PROBES_SERVER_PORT', default: 9471, help: 'Port of the probes server (not the Node Termination Handler\'s 8080; may equal PROMETHEUS_SERVER_PORT: one server then serves both).', parse: port }),
  probesServerEndpoint: option({ flag: 'probes-server-endpoint', env: 'PROBES_SERVER_ENDPOINT', default: '/healthz', help: 'Path of the liveness probe ({"health":"OK"}); /readyz is served beside it.', parse: urlPath }),
  emitKubernetesEvents: option({ flag: 'emit-kubernetes-events', env: 'EMIT_KUBERNETES_EVENTS', default: true, help: 'Record Kubernetes Events on the Node for each notice, each evicted pod and the result.', parse: boolean }),
  kubernetesEventsExtraAnnotations: option({ flag: 'kubernetes-events-extra-annotations', env: 'KUBERNETES_EVENTS_EXTRA_ANNOTATIONS', default: {} as Record<string, string>, help: 'Annotations (k=v,...) added to every Event, beside the instance\'s own (instance-id, instance-type, availability-zone, ...).', parse: keyValues }),
  enableOutOfServiceTaint: option({ flag: 'enable-out-of-service-taint', env: 'ENABLE_OUT_OF_SERVICE_TAINT', default: false, help: 'After a drain, taint the node node.kubernetes.io/out-of-service=nodeshutdown:NoExecute so pods left behind are deleted and their volumes detached (not with CORDON_ONLY).', parse: boolean }),
  jsonLogging: option({ flag: 'json-logging', env: 'JSON_LOGGING', default: true, help: 'Log JSON lines; false logs one text line per entry (time, level, message, key=value) as the Node Termination Handler does by default.', parse: boolean }),
  logLevel: option({ flag: 'log-level', env: 'LOG_LEVEL', default: 'info' as typeof LOG_LEVELS[number], help: `Log level: ${LOG_LEVELS.join(', ')}.`, parse: oneOf(LOG_LEVELS) }),
  uptimeFromFile: option({ flag: 'uptime-from-file', env: 'UPTIME_FROM_FILE', default: '/proc/uptime', help: 'File holding the system uptime in seconds (first number), used to notice a reboot.', parse: text }),
  kubeApiQps: option({ flag: 'kube-api-qps', env: 'KUBE_API_QPS', default: 50, help: 'Sustained Kubernetes API requests per second during a drain.', parse: decimal(0.1, 10000) }),
  kubeApiBurst: option({ flag: 'kube-api-burst', env: 'KUBE_API_BURST', default: 100, help: 'Kubernetes API request burst during a drain.', parse: integer(1, 100000) }),
  // --- our own ---
  listenAddress: option({ flag: 'listen-address', env: 'LISTEN_ADDRESS', default: '0.0.0.0', help: 'Address the probes and metrics servers bind to (an IP address; 127.0.0.1 keeps them on the node).', parse: ipAddress }),
  pollInterval: option({ flag: 'poll-interval', env: 'POLL_INTERVAL', default: 2000, shownDefault: '2s', help: 'How often each notice kind is polled on IMDS (e.g. 500ms, 2s; a bare number is seconds).', parse: duration('s') }),
  rebalanceUncordonAfter: option({ flag: 'rebalance-uncordon-after', env: 'REBALANCE_UNCORDON_AFTER', default: undefined as number | undefined, shownDefault: 'off', help: 'Undo a rebalance cordon when no interruption notice followed within this time (e.g. 30m); empty keeps the node cordoned.', parse: optional(duration('s')) }),
  enableRehearsal: option({ flag: 'enable-rehearsal', env: 'ENABLE_REHEARSAL', default: false, help: 'Act on the Node annotation spot-handler.io/rehearse=<kind> as if IMDS had posted that notice now with a two-minute deadline (pods a budget protects are never deleted in a rehearsal). Off by default: once on, anyone who may patch Nodes can drain one.', parse: boolean }),
  deadlineSafetyMargin: option({ flag: 'deadline-safety-margin', env: 'DEADLINE_SAFETY_MARGIN', default: 5000, shownDefault: '5s', help: 'Time kept free before a notice deadline: grace periods end this long before the instance goes away.', parse: duration('s') }),
  deleteAtDeadline: option({ flag: 'delete-at-deadline', env: 'DELETE_AT_DEADLINE', default: ['spot-itn'] as NoticeKind[], help: `Notice kinds for which a pod still blocked by a PodDisruptionBudget near the deadline is deleted with the remaining grace (comma list of ${NOTICE_KINDS.join(', ')}; none for none).`, parse: kinds }),
  drainSettleTime: option({ flag: 'drain-settle-time', env: 'DRAIN_SETTLE_TIME', default: 2000, shownDefault: '2s', help: 'Wait between the cordon and the first eviction, so the other nodes of a pool-wide reclaim (their notices arrive within a poll interval or two) are tainted before replacements are scheduled; waited again while more nodes of the reclaim get their notices, up to five times in all and at most a tenth of the time left before the deadline. 0 evicts at once.', parse: duration('s') }),
  drainParallelism: option({ flag: 'drain-parallelism', env: 'DRAIN_PARALLELISM', default: 16, help: 'Eviction and deletion requests in flight at once during a drain.', parse: integer(1, 1000) }),
  podName: option({ flag: 'pod-name', env: 'POD_NAME', default: '', help: 'This agent\'s own pod name (from the downward API) so a drain never evicts the agent itself.', parse: text }),
  podNamespace: option({ flag: 'pod-namespace', env: 'POD_NAMESPACE', aliases: [{ env: 'NAMESPACE' }], default: '', help: 'Namespace of this agent\'s own pod.', parse: text }),
  scheduledEventCodes: option({ flag: 'scheduled-event-codes', env: 'SCHEDULED_EVENT_CODES', default: [...SCHEDULED_EVENT_CODES] as ScheduledEventCode[], help: `Scheduled-event codes acted on (comma list of ${SCHEDULED_EVENT_CODES.join(', ')}). Every code by default, as the Node Termination Handler does; leave out system-maintenance to keep nodes whose instance only sees a short degradation.`, parse: scheduledCodes }),
  nthCompatibleNames: option({ flag: 'nth-compatible-names', env: 'NTH_COMPATIBLE_NAMES', default: false, help: 'Taint with the Node Termination Handler\'s keys (aws-node-termination-handler/<kind>) and label the load-balancer exclusion with its value, so existing tolerations and selectors keep matching.', parse: boolean })
}

/** Parsed values of AGENT_OPTIONS. */
export type AgentConfig = OptionValues<typeof AGENT_OPTIONS>

/** Checks that need more than one value, or required ones; throws a ConfigError naming the variable. */
export function checkAgentConfig (config: AgentConfig): AgentConfig {
  const name = (key: keyof typeof AGENT_OPTIONS): string => `--${AGENT_OPTIONS[key].flag} (${AGENT_OPTIONS[key].env})`
  if (config.nodeName.trim() === '') throw new ConfigError(`missing ${name('nodeName')}, which is required`)
  if (config.webhookTemplate !== '' && config.webhookTemplateFile !== '') {
    throw new ConfigError(`${name('webhookTemplate')} and ${name('webhookTemplateFile')} are mutually exclusive`)
  }
  if (config.pollInterval < 10) throw new ConfigError(`${name('pollInterval')} must be at least 10ms`)
  if (config.metadataTimeout < 10) throw new ConfigError(`${name('metadataTimeout')} must be at least 10ms`)
  if ((config.podName === '') !== (config.podNamespace === '')) {
    throw new ConfigError(`${name('podName')} and ${name('podNamespace')} must be set together`)
  }
  return config
}
