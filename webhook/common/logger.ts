/**
 * pino JSON logging shared by the programs: one line per event on stdout,
 * `program` on every line, ISO timestamps, level names instead of numbers.
 */
import { pino, type Logger, type DestinationStream } from 'pino'

/** Log levels accepted by `--log-level` / `LOG_LEVEL`. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const

/**
 * stdout, written asynchronously. `minLength: 1` rather than pino's 0: every
 * line still goes out at once, but `logger.flush(cb)` then waits until the
 * lines are written (with 0, sonic-boom calls back at once, and a process
 * exiting in that callback reorders or loses its last lines).
 */
function stdoutDestination (): DestinationStream {
  return pino.destination({ dest: 1, minLength: 1 })
}

/** Creates the program's root logger; tests pass a destination to capture lines. */
export function createLogger (program: string, level: typeof LOG_LEVELS[number], destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { program },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) }
  }
  return pino(options, destination ?? stdoutDestination())
}

export type { Logger }
