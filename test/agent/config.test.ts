import t from 'tap'
import { ConfigError, formatHelp, loggable, parseOptions } from '#common/options.ts'
import { AGENT_OPTIONS, AGENT_PROGRAM, AGENT_SUMMARY, checkAgentConfig, type AgentConfig } from '../../agent/config.ts'

function read (env: Record<string, string>, argv: string[] = []): AgentConfig {
  const r = parseOptions(AGENT_OPTIONS, argv, { NODE_NAME: 'n1', ...env })
  if (r.help) throw new Error('unexpected help')
  return checkAgentConfig(r.values)
}

const NTH_VARIABLES = ['NODE_NAME', 'INSTANCE_METADATA_URL', 'DRY_RUN', 'ENABLE_SPOT_INTERRUPTION_DRAINING', 'ENABLE_SCHEDULED_EVENT_DRAINING', 'ENABLE_REBALANCE_MONITORING', 'ENABLE_REBALANCE_DRAINING', 'ENABLE_ASG_LIFECYCLE_DRAINING', 'CORDON_ONLY', 'TAINT_NODE', 'TAINT_EFFECT', 'EXCLUDE_FROM_LOAD_BALANCERS', 'DELETE_LOCAL_DATA', 'IGNORE_DAEMON_SETS', 'POD_TERMINATION_GRACE_PERIOD', 'NODE_TERMINATION_GRACE_PERIOD', 'METADATA_TRIES', 'WEBHOOK_URL', 'WEBHOOK_HEADERS', 'WEBHOOK_TEMPLATE', 'WEBHOOK_TEMPLATE_FILE', 'ENABLE_PROMETHEUS_SERVER', 'PROMETHEUS_SERVER_PORT', 'ENABLE_PROBES_SERVER', 'PROBES_SERVER_PORT', 'EMIT_KUBERNETES_EVENTS', 'JSON_LOGGING', 'LOG_LEVEL', 'UPTIME_FROM_FILE', 'KUBE_API_QPS', 'KUBE_API_BURST']

t.test('every variable of the design is an option, and --help lists each with its default', async t => {
  const envs = Object.values(AGENT_OPTIONS).map(o => o.env)
  for (const v of [...NTH_VARIABLES, 'POLL_INTERVAL', 'REBALANCE_UNCORDON_AFTER', 'ENABLE_REHEARSAL', 'DEADLINE_SAFETY_MARGIN', 'DELETE_AT_DEADLINE', 'DRAIN_PARALLELISM', 'POD_NAME', 'POD_NAMESPACE']) {
    t.ok(envs.includes(v), v)
  }
  const help = formatHelp(AGENT_PROGRAM, AGENT_SUMMARY, AGENT_OPTIONS)
  for (const o of Object.values(AGENT_OPTIONS)) t.match(help, `--${o.flag}  (env ${[o.env, ...(o.aliases ?? []).map(a => a.deprecated === true ? `${a.env} (deprecated)` : a.env)].join(' or ')}, default `)
  t.match(help, '(env POLL_INTERVAL, default 2s)')
  t.match(help, '(env TAINT_NODE, default true)')
})

t.test('defaults follow the design: taint and load-balancer exclusion on, spot draining on, 2 s polls', async t => {
  const c = read({})
  t.equal(c.nodeName, 'n1')
  t.equal(c.instanceMetadataUrl, 'http://169.254.169.254')
  t.equal(c.taintNode, true)
  t.equal(c.taintEffect, 'NoSchedule')
  t.equal(c.excludeFromLoadBalancers, true)
  t.equal(c.enableSpotInterruptionDraining, true)
  t.equal(c.enableRebalanceDraining, false)
  t.equal(c.pollInterval, 2000)
  t.equal(c.rebalanceUncordonAfter, undefined)
  t.same(c.deleteAtDeadline, ['spot-itn'])
  t.equal(c.webhookUrl, undefined)
  t.same(c.webhookHeaders, {})
})

t.test('values come from variables and flags, the flag winning', async t => {
  const c = read({ POLL_INTERVAL: '50ms', REBALANCE_UNCORDON_AFTER: '30m', WEBHOOK_HEADERS: '{"Authorization":"Bearer s3cret"}', DELETE_AT_DEADLINE: 'spot-itn,scheduled-maintenance', TAINT_EFFECT: 'NoExecute' }, ['--poll-interval', '3'])
  t.equal(c.pollInterval, 3000)
  t.equal(c.rebalanceUncordonAfter, 1_800_000)
  t.same(c.webhookHeaders, { Authorization: 'Bearer s3cret' })
  t.same(c.deleteAtDeadline, ['spot-itn', 'scheduled-maintenance'])
  t.equal(c.taintEffect, 'NoExecute')
  t.same(read({ DELETE_AT_DEADLINE: 'none' }).deleteAtDeadline, [], 'none for no kind')
  t.same(read({ DELETE_AT_DEADLINE: '' }).deleteAtDeadline, ['spot-itn'], 'an empty variable counts as unset')
  t.equal(read({ INSTANCE_METADATA_URL: 'http://127.0.0.1:1234/' }).instanceMetadataUrl, 'http://127.0.0.1:1234')
})

const bad: Array<[Record<string, string>, RegExp]> = [
  [{ NODE_NAME: '' }, /NODE_NAME.*required/],
  [{ TAINT_EFFECT: 'Sometimes' }, /TAINT_EFFECT/],
  [{ POLL_INTERVAL: 'often' }, /POLL_INTERVAL/],
  [{ POLL_INTERVAL: '1ms' }, /POLL_INTERVAL.*at least/],
  [{ WEBHOOK_HEADERS: 'Authorization: x' }, /WEBHOOK_HEADERS.*JSON object/],
  [{ WEBHOOK_HEADERS: '[1]' }, /WEBHOOK_HEADERS.*JSON object/],
  [{ WEBHOOK_HEADERS: '{"a":1}' }, /WEBHOOK_HEADERS.*string value/],
  [{ WEBHOOK_URL: 'ftp://x' }, /WEBHOOK_URL.*http/],
  [{ WEBHOOK_URL: 'not a url' }, /WEBHOOK_URL.*absolute/],
  [{ WEBHOOK_TEMPLATE: 'x', WEBHOOK_TEMPLATE_FILE: '/t' }, /WEBHOOK_TEMPLATE.*WEBHOOK_TEMPLATE_FILE.*mutually exclusive/],
  [{ DELETE_AT_DEADLINE: 'spot-itn,meteor' }, /DELETE_AT_DEADLINE.*meteor/],
  [{ POD_NAME: 'a' }, /POD_NAME.*POD_NAMESPACE/],
  [{ METADATA_TRIES: '0' }, /METADATA_TRIES/],
  [{ LISTEN_ADDRESS: 'not an address' }, /invalid value "not an address" for --listen-address \(LISTEN_ADDRESS\): expected an IP address/],
  [{ METADATA_TIMEOUT: '1ms' }, /METADATA_TIMEOUT.*at least/],
  [{ KUBE_API_QPS: '0' }, /KUBE_API_QPS/],
  [{ WEBHOOK_PROXY: 'https://proxy:3128' }, /invalid value <redacted> for --webhook-proxy \(WEBHOOK_PROXY\): expected an HTTP proxy URL/],
  [{ WEBHOOK_PROXY: 'http://proxy:3128/path' }, /WEBHOOK_PROXY.*expected an HTTP proxy URL/],
  [{ PROBES_SERVER_ENDPOINT: 'healthz' }, /PROBES_SERVER_ENDPOINT.*expected a URL path/],
  [{ PROBES_SERVER_ENDPOINT: '/health?x' }, /PROBES_SERVER_ENDPOINT.*expected a URL path/],
  [{ SCHEDULED_EVENT_CODES: 'instance-stop,meteor' }, /SCHEDULED_EVENT_CODES.*unknown scheduled event code "meteor"/],
  [{ SCHEDULED_EVENT_CODES: ',' }, /SCHEDULED_EVENT_CODES.*expected at least one of/],
  [{ KUBERNETES_EVENTS_EXTRA_ANNOTATIONS: 'novalue' }, /KUBERNETES_EVENTS_EXTRA_ANNOTATIONS.*key=value/],
  [{ NODE_TERMINATION_GRACE_PERIOD: '-1' }, /NODE_TERMINATION_GRACE_PERIOD.*from 0 to 86400/]
]

t.test('a bad value stops startup with a ConfigError naming the variable', async t => {
  for (const [env, message] of bad) {
    t.throws(() => read(env), message, JSON.stringify(env))
    try { read(env) } catch (err) { t.type(err, ConfigError) }
  }
})

t.test('the logged configuration masks the webhook URL and headers', async t => {
  const c = read({ WEBHOOK_URL: 'https://hooks.slack.com/services/T/B/secret', WEBHOOK_HEADERS: '{"Authorization":"Bearer s3cret"}' })
  const shown = JSON.stringify(loggable(AGENT_OPTIONS, c))
  t.notMatch(shown, 'secret')
  t.notMatch(shown, 's3cret')
  t.match(shown, '"webhookUrl":"<redacted>"')
  t.match(JSON.stringify(loggable(AGENT_OPTIONS, read({}))), '"webhookHeaders":{}')
})
