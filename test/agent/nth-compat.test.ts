/**
 * The AWS Node Termination Handler's configuration, read as NTH reads it:
 * every one of its 57 variables is an option, an alias, a queue-mode
 * variable that stops start-up, an unused one that is named in a warning, or
 * one the Kubernetes client or AWS tooling reads; and its parsing rules
 * (empty is unset, any case for levels and effects, Go's ParseBool, negative
 * grace periods, NODE_TERMINATION_GRACE_PERIOD=0).
 */
import t from 'tap'
import { parseOptions } from '#common/options.ts'
import { AGENT_OPTIONS, checkAgentConfig } from '../../agent/config.ts'
import { checkNthVariables, QUEUE_MODE_VARIABLES, UNUSED_NTH_VARIABLES } from '../../agent/nth-variables.ts'

/** Every variable of NTH v1.25's pkg/config/config.go. */
const NTH_VARIABLES = [
  'INSTANCE_METADATA_URL', 'DRY_RUN', 'NODE_NAME', 'POD_NAME', 'NAMESPACE', 'KUBERNETES_SERVICE_HOST', 'KUBERNETES_SERVICE_PORT',
  'DELETE_LOCAL_DATA', 'IGNORE_DAEMON_SETS', 'GRACE_PERIOD', 'POD_TERMINATION_GRACE_PERIOD', 'NODE_TERMINATION_GRACE_PERIOD',
  'KUBE_API_QPS', 'KUBE_API_BURST', 'WEBHOOK_URL', 'WEBHOOK_PROXY', 'WEBHOOK_HEADERS', 'WEBHOOK_TEMPLATE', 'WEBHOOK_TEMPLATE_FILE',
  'ENABLE_SCHEDULED_EVENT_DRAINING', 'ENABLE_SPOT_INTERRUPTION_DRAINING', 'ENABLE_ASG_LIFECYCLE_DRAINING', 'ENABLE_SQS_TERMINATION_DRAINING',
  'ENABLE_REBALANCE_MONITORING', 'ENABLE_REBALANCE_DRAINING', 'CHECK_ASG_TAG_BEFORE_DRAINING', 'CHECK_TAG_BEFORE_DRAINING',
  'MANAGED_ASG_TAG', 'MANAGED_TAG', 'USE_PROVIDER_ID', 'METADATA_TRIES', 'CORDON_ONLY', 'TAINT_NODE', 'TAINT_EFFECT',
  'ENABLE_OUT_OF_SERVICE_TAINT', 'EXCLUDE_FROM_LOAD_BALANCERS', 'JSON_LOGGING', 'LOG_LEVEL', 'LOG_FORMAT_VERSION', 'UPTIME_FROM_FILE',
  'WORKERS', 'USE_APISERVER_CACHE', 'ENABLE_PROMETHEUS_SERVER', 'PROMETHEUS_SERVER_PORT', 'ENABLE_PROBES_SERVER', 'PROBES_SERVER_PORT',
  'PROBES_SERVER_ENDPOINT', 'EMIT_KUBERNETES_EVENTS', 'KUBERNETES_EVENTS_EXTRA_ANNOTATIONS', 'AWS_REGION', 'AWS_ENDPOINT', 'QUEUE_URL',
  'COMPLETE_LIFECYCLE_ACTION_DELAY_SECONDS', 'DELETE_SQS_MSG_IF_NODE_NOT_FOUND', 'HEARTBEAT_INTERVAL', 'HEARTBEAT_UNTIL',
  'SQS_MSG_VISIBILITY_TIMEOUT_SEC'
]

/** Read by the Kubernetes client (in-cluster configuration) or by AWS tooling, not by the agent's options. */
const READ_ELSEWHERE = ['KUBERNETES_SERVICE_HOST', 'KUBERNETES_SERVICE_PORT', 'AWS_REGION']

function read (env: Record<string, string>): { values: ReturnType<typeof checkAgentConfig>, warnings: string[] } {
  const r = parseOptions(AGENT_OPTIONS, [], { NODE_NAME: 'n1', ...env })
  if (r.help) throw new Error('unexpected help')
  return { values: checkAgentConfig(r.values), warnings: r.warnings }
}

t.test('none of NTH\'s 57 variables is ignored silently', async t => {
  t.equal(NTH_VARIABLES.length, 57)
  const options = Object.values(AGENT_OPTIONS).flatMap(o => [o.env, ...(o.aliases ?? []).map(a => a.env)])
  for (const name of NTH_VARIABLES) {
    const where = [
      options.includes(name) && 'an option or alias',
      name in QUEUE_MODE_VARIABLES && 'queue mode (start-up error)',
      (UNUSED_NTH_VARIABLES as readonly string[]).includes(name) && 'unused (warning)',
      READ_ELSEWHERE.includes(name) && 'read elsewhere'
    ].filter(Boolean)
    t.equal(where.length, 1, `${name}: ${where.join(', ') || 'nowhere'}`)
  }
})

t.test('the stock NTH DaemonSet values start the agent with NTH\'s meaning', async t => {
  const { values } = read({
    NAMESPACE: 'kube-system', POD_NAME: 'nth-abc', LOG_LEVEL: 'INFO', JSON_LOGGING: 'false', DRY_RUN: '', TAINT_EFFECT: 'noschedule',
    POD_TERMINATION_GRACE_PERIOD: '-5', NODE_TERMINATION_GRACE_PERIOD: '0', ENABLE_PROBES_SERVER: 't', ENABLE_PROMETHEUS_SERVER: 'F',
    CORDON_ONLY: '0', TAINT_NODE: 'TRUE', EXCLUDE_FROM_LOAD_BALANCERS: 'True', PROBES_SERVER_ENDPOINT: '/healthz', ENABLE_SQS_TERMINATION_DRAINING: 'false'
  })
  t.equal(values.podNamespace, 'kube-system', 'NAMESPACE is the pod namespace')
  t.equal(values.logLevel, 'info', 'levels in any case')
  t.equal(values.jsonLogging, false)
  t.equal(values.dryRun, false, 'an empty variable is unset')
  t.equal(values.taintEffect, 'NoSchedule', 'effects in any case')
  t.equal(values.podTerminationGracePeriod, -1, 'any negative grace period is the pod\'s own')
  t.equal(values.nodeTerminationGracePeriod, 0, '0 is accepted: no limit')
  t.same([values.enableProbesServer, values.enablePrometheusServer, values.cordonOnly, values.taintNode, values.excludeFromLoadBalancers], [true, false, false, true, true], 'Go ParseBool spellings')
  t.equal(read({ LOG_LEVEL: 'DEBUG' }).values.logLevel, 'debug')
  t.equal(read({ POD_NAMESPACE: 'ours', NAMESPACE: 'theirs', POD_NAME: 'p' }).values.podNamespace, 'ours', 'our own name wins over the alias')
})

t.test('GRACE_PERIOD is the deprecated alias NTH has, with NTH\'s warnings', async t => {
  const alone = read({ GRACE_PERIOD: '30' })
  t.equal(alone.values.podTerminationGracePeriod, 30)
  t.same(alone.warnings, ['GRACE_PERIOD is deprecated; use POD_TERMINATION_GRACE_PERIOD instead'])
  const both = read({ GRACE_PERIOD: '30', POD_TERMINATION_GRACE_PERIOD: '10' })
  t.equal(both.values.podTerminationGracePeriod, 10)
  t.same(both.warnings, ['GRACE_PERIOD and its replacement POD_TERMINATION_GRACE_PERIOD are both set; using POD_TERMINATION_GRACE_PERIOD'])
  t.throws(() => read({ GRACE_PERIOD: 'soon' }), { name: 'ConfigError', message: /invalid value "soon" for --pod-termination-grace-period \(GRACE_PERIOD\)/ }, 'an error names the variable that was read')
})

t.test('queue-processor mode stops start-up saying so; unused variables make one warning', async t => {
  for (const env of [{ ENABLE_SQS_TERMINATION_DRAINING: 'true' }, { QUEUE_URL: 'https://sqs.eu-west-1.amazonaws.com/123/q' }, { HEARTBEAT_INTERVAL: '60' }]) {
    t.throws(() => checkNthVariables(env), { name: 'ConfigError', message: /asks for the Node Termination Handler's queue-processor mode .* Unset ENABLE_SQS_TERMINATION_DRAINING, QUEUE_URL, HEARTBEAT_INTERVAL, HEARTBEAT_UNTIL/ }, JSON.stringify(env))
  }
  t.throws(() => checkNthVariables({ ENABLE_SQS_TERMINATION_DRAINING: 'maybe' }), { name: 'ConfigError', message: /invalid value "maybe" for ENABLE_SQS_TERMINATION_DRAINING: expected true or false/ })
  t.equal(checkNthVariables({ ENABLE_SQS_TERMINATION_DRAINING: 'false', HEARTBEAT_INTERVAL: '-1', QUEUE_URL: '', AWS_REGION: 'eu-west-1', KUBERNETES_SERVICE_HOST: '10.0.0.1' }), undefined, 'IMDS-mode values and variables read elsewhere are quiet')
  t.equal(checkNthVariables({ WORKERS: '10', LOG_FORMAT_VERSION: '1', MANAGED_TAG: '' }), 'ignoring Node Termination Handler variables that have nothing to do in spot-agent (queue-processor mode, tag checks, log format versions, worker pools): LOG_FORMAT_VERSION, WORKERS')
})
