/**
 * pino JSON logging shared by the programs: one line per event on stdout,
 * `program` on every line, ISO timestamps, level names instead of numbers.
 */
import { pino, type Logger, type DestinationStream } from 'pino'

/** Log levels accepted by `--log-level` / `LOG_LEVEL`. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const

/** Creates the program's root logger; tests pass a destination to capture lines. */
export function createLogger (program: string, level: typeof LOG_LEVELS[number], destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { program },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) }
  }
  return destination === undefined ? pino(options) : pino(options, destination)
}

export type { Logger }
