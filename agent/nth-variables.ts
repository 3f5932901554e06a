/**
 * The AWS Node Termination Handler's variables that have no setting here
 * (pure): those of its queue-processor mode stop start-up with a message
 * saying what to run instead, and those with nothing to do on this agent are
 * named in one warning line, so no variable is ignored silently. Every other
 * NTH variable is an option of config.ts or an alias of one;
 * KUBERNETES_SERVICE_HOST and _PORT are read by the Kubernetes client, and
 * AWS_REGION, which AWS tooling sets in many pods, is left to it.
 */
import { boolean, ConfigError } from '#common/options.ts'

/** Queue-processor variables, each with the test that says it asks for that mode. */
export const QUEUE_MODE_VARIABLES: Readonly<Record<string, (value: string) => boolean>> = {
  ENABLE_SQS_TERMINATION_DRAINING: value => boolean(value),
  QUEUE_URL: () => true,
  HEARTBEAT_INTERVAL: value => value.trim() !== '-1',
  HEARTBEAT_UNTIL: value => value.trim() !== '-1'
}

/** NTH variables for what this agent does not do (queue-mode details, tag checks, log format versions, worker pools). */
export const UNUSED_NTH_VARIABLES = [
  'AWS_ENDPOINT', 'CHECK_ASG_TAG_BEFORE_DRAINING', 'CHECK_TAG_BEFORE_DRAINING', 'COMPLETE_LIFECYCLE_ACTION_DELAY_SECONDS',
  'DELETE_SQS_MSG_IF_NODE_NOT_FOUND', 'LOG_FORMAT_VERSION', 'MANAGED_ASG_TAG', 'MANAGED_TAG',
  'SQS_MSG_VISIBILITY_TIMEOUT_SEC', 'USE_APISERVER_CACHE', 'USE_PROVIDER_ID', 'WORKERS'
] as const

/**
 * Checks `env` for NTH variables without a setting here: throws a ConfigError
 * for any that asks for queue-processor mode, and returns a warning naming
 * the unused ones that are set (undefined when none is). Empty counts as unset.
 */
export function checkNthVariables (env: NodeJS.ProcessEnv): string | undefined {
  for (const [name, asksForQueueMode] of Object.entries(QUEUE_MODE_VARIABLES)) {
    const value = env[name]
    if (value === undefined || value === '') continue
    let asks: boolean
    try {
      asks = asksForQueueMode(value)
    } catch (err) {
      throw new ConfigError(`invalid value ${JSON.stringify(value)} for ${name}: ${(err as Error).message}`)
    }
    if (asks) {
      throw new ConfigError(`${name}=${value} asks for the Node Termination Handler's queue-processor mode (EventBridge and SQS), which spot-agent does not have: it acts on each node from the instance metadata service. Unset ${Object.keys(QUEUE_MODE_VARIABLES).join(', ')} to run it as a DaemonSet, or keep NTH's queue processor for this cluster.`)
    }
  }
  const set = UNUSED_NTH_VARIABLES.filter(name => env[name] !== undefined && env[name] !== '')
  if (set.length === 0) return undefined
  return `ignoring Node Termination Handler variables that have nothing to do in spot-agent (queue-processor mode, tag checks, log format versions, worker pools): ${set.join(', ')}`
}
