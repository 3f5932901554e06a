#!/usr/bin/env node
/**
 * Entry point of `spot-agent` (`npm run agent -- [flags]`): config, logger,
 * Kubernetes client, agent, signals. The Kubernetes client and the agent are
 * loaded only once the configuration is known to be good, so `--help` and
 * configuration errors answer at once.
 */
import { ConfigError, loggable, readOptionsOrExit } from '../webhook/common/options.ts'
import { createLogger } from '../webhook/common/logger.ts'
import { stopOnSignals } from '../webhook/common/signals.ts'
import { AGENT_OPTIONS, AGENT_PROGRAM, AGENT_SUMMARY, checkAgentConfig } from './config.ts'

let config
try {
  config = checkAgentConfig(readOptionsOrExit(AGENT_PROGRAM, AGENT_SUMMARY, AGENT_OPTIONS))
} catch (err) {
  if (!(err instanceof ConfigError)) throw err
  process.stderr.write(`${AGENT_PROGRAM}: ${err.message}\n`)
  process.exit(2)
}
const logger = createLogger(AGENT_PROGRAM, config.logLevel)
logger.info({ config: loggable(AGENT_OPTIONS, config) }, 'effective configuration')
const [{ KubeConfig }, { startAgent }] = await Promise.all([import('@kubernetes/client-node'), import('./agent.ts')])
const kubeConfig = new KubeConfig()
kubeConfig.loadFromDefault()
const agent = await startAgent(config, { kubeConfig, logger })
stopOnSignals(() => agent.stop(), { logger })
