#!/usr/bin/env node
/**
 * `npm run imds-sim -- [--port 1338] [--host 127.0.0.1] [--imdsv2-only] [--spot-itn-after 10]`:
 * runs the IMDS simulator alone so an agent can be pointed at it
 * (`INSTANCE_METADATA_URL=http://127.0.0.1:1338`). Prints its URL on stdout,
 * logs (pino JSON) on stderr, serves until SIGTERM or SIGINT. Scenarios and
 * faults are then driven through the control API (see control.ts), e.g.
 * `curl -X POST localhost:1338/_sim/spot-interruption -d '{"afterMs":5000}'`.
 */
import { pino } from 'pino'
import { createLogger, LOG_LEVELS } from '#common/logger.ts'
import { boolean, duration, nonEmpty, oneOf, option, optional, port, readOptionsOrExit } from '#common/options.ts'
import { stopOnSignals } from '#common/signals.ts'
import { formatImdsTime, SPOT_ACTIONS } from './formats.ts'
import { startImdsSim } from './server.ts'

const PROGRAM = 'imds-sim'
const SUMMARY = 'EC2 instance metadata service simulator: the IMDS paths the agent reads, IMDSv2 tokens, scripted notices, fault injection (control API under /_sim/).'

const OPTIONS = {
  port: option({ flag: 'port', env: 'IMDS_SIM_PORT', default: 1338, parse: port, help: 'Port to listen on (0 picks a free one).' }),
  host: option({ flag: 'host', env: 'IMDS_SIM_HOST', default: '127.0.0.1', parse: nonEmpty, help: 'Address to listen on.' }),
  imdsv2Only: option({ flag: 'imdsv2-only', env: 'IMDS_SIM_IMDSV2_ONLY', default: false, parse: boolean, help: 'Require IMDSv2 session tokens (reads without one get 401).' }),
  spotItnAfter: option({
    flag: 'spot-itn-after',
    env: 'IMDS_SIM_SPOT_ITN_AFTER',
    default: undefined as number | undefined,
    parse: optional(duration('s')),
    help: 'Post a spot interruption notice this long after startup (seconds, or 500ms, 1m...); its action time is 2 minutes later.'
  }),
  spotAction: option({ flag: 'spot-action', env: 'IMDS_SIM_SPOT_ACTION', default: 'terminate' as const, parse: oneOf(SPOT_ACTIONS), help: 'Action in that notice.' }),
  logLevel: option({ flag: 'log-level', env: 'LOG_LEVEL', default: 'info' as const, parse: oneOf(LOG_LEVELS), help: 'Log level; debug logs every IMDS request.' })
}

const config = readOptionsOrExit(PROGRAM, SUMMARY, OPTIONS).values
const log = createLogger(PROGRAM, config.logLevel, pino.destination(2))
try {
  const sim = await startImdsSim({ host: config.host, port: config.port, imdsv2Only: config.imdsv2Only, logger: log })
  if (config.spotItnAfter !== undefined) {
    sim.postSpotInterruption({ action: config.spotAction, afterMs: config.spotItnAfter })
    log.info({ appearsAt: formatImdsTime(new Date(Date.now() + config.spotItnAfter)), action: config.spotAction }, 'spot interruption notice scheduled')
  }
  log.info({ url: sim.url, imdsv2Only: config.imdsv2Only, instanceId: sim.instance.instanceId }, 'imds-sim listening')
  process.stdout.write(`${PROGRAM} listening on ${sim.url}\n`)
  stopOnSignals(() => sim.close(), { logger: log, message: 'imds-sim stopping' })
} catch (err) {
  log.error({ err }, 'imds-sim failed to start')
  process.stderr.write(`${PROGRAM}: ${(err as Error).message}\n`)
  process.exitCode = 1
}
