#!/usr/bin/env node
/**
 * Entry point of `spot-agent` (`npm run agent -- [flags]`): config, logger,
 * Kubernetes client, agent, signals. The Kubernetes client and the agent are
 * loaded only once the configuration is known to be good, so `--help` and
 * configuration errors answer at once.
 */
import { loggable, readOptionsOrExit } from '#common/options.ts'
import { createLogger } from '#common/logger.ts'
import { runProgram } from '#common/program.ts'
import { stopOnSignals } from '#common/signals.ts'
import { AGENT_OPTIONS, AGENT_PROGRAM, AGENT_SUMMARY, checkAgentConfig } from './config.ts'
import { checkNthVariables } from './nth-variables.ts'

await runProgram(AGENT_PROGRAM, async () => {
  const { values, warnings } = readOptionsOrExit(AGENT_PROGRAM, AGENT_SUMMARY, AGENT_OPTIONS)
  const config = checkAgentConfig(values)
  const unused = checkNthVariables(process.env)
  const logger = createLogger(AGENT_PROGRAM, config.logLevel, undefined, config.jsonLogging ? 'json' : 'text')
  for (const warning of unused === undefined ? warnings : [...warnings, unused]) logger.warn(warning)
  logger.info({ config: loggable(AGENT_OPTIONS, config) }, 'effective configuration')
  // Named imports only: a dynamic import of the client package itself would keep all of it in the bundle.
  const [{ loadKubeConfig }, { startAgent }] = await Promise.all([import('./kube.ts'), import('./agent.ts')])
  const agent = await startAgent(config, { kubeConfig: loadKubeConfig(), logger })
  stopOnSignals(() => agent.stop(), { logger })
})
