/**
 * Flags and environment variables of the rehearsal (`npm start -- [flags]`),
 * read with the shared options kit like the three programs.
 */
import { boolean, decimal, duration, oneOf, option, text, type OptionValues } from '#common/options.ts'
import { SCENARIO_NAMES } from './scenarios.ts'

/** Program name used in `--help` and error messages. */
export const REHEARSAL_PROGRAM = 'spot-rehearsal'

/** One-paragraph summary for `--help`. */
export const REHEARSAL_SUMMARY = 'Rehearses a Spot interruption end to end: certificates, the admission webhook pinning the workshop\'s handler DaemonSet to Spot nodes, then an interruption notice in a simulated instance metadata service and the agent tainting, cordoning and draining a Spot node while PodDisruptionBudgets hold. Runs on an embedded simulated cluster, or with --kubeconfig on a kind or test cluster where deploy/ is installed (never a production cluster: the chosen node is drained for real).'

/** The options of the rehearsal. */
export const REHEARSAL_OPTIONS = {
  scenario: option({ flag: 'scenario', env: 'REHEARSAL_SCENARIO', default: 'spot-itn' as typeof SCENARIO_NAMES[number], help: `Which notice to post: ${SCENARIO_NAMES.join(', ')}.`, parse: oneOf(SCENARIO_NAMES) }),
  json: option({ flag: 'json', env: 'REHEARSAL_JSON', default: false, help: 'Print only one JSON object with the report at the end (no timeline).', parse: boolean }),
  speed: option({ flag: 'speed', env: 'REHEARSAL_SPEED', default: 1, help: 'Divide the waits (agent poll interval; on the embedded cluster also pod start and stop times) by this factor, from 1 to 100.', parse: decimal(1, 100) }),
  kubeconfig: option({ flag: 'kubeconfig', env: 'REHEARSAL_KUBECONFIG', default: '', shownDefault: 'unset: embedded simulated cluster', help: 'Run the story against this cluster instead (a kind or test cluster with deploy/ installed and Spot nodes labelled lifecycle=Ec2Spot); the agent runs locally against it with the IMDS simulator, and the chosen node is really drained.', parse: text }),
  logFile: option({ flag: 'log-file', env: 'REHEARSAL_LOG_FILE', default: '', shownDefault: 'unset: discarded', help: 'Append the pino JSON logs of the webhook, agent and simulators to this file.', parse: text }),
  timeout: option({ flag: 'timeout', env: 'REHEARSAL_TIMEOUT', default: 60_000, shownDefault: '60s', help: 'Longest wait for any one step (pods Ready, the drain, replacements) before the rehearsal fails.', parse: duration('s') })
}

/** Parsed values of REHEARSAL_OPTIONS. */
export type RehearsalOptions = OptionValues<typeof REHEARSAL_OPTIONS>
