/**
 * pino JSON logging shared by the programs: one line per event on stdout,
 * `program` on every line, ISO timestamps, level names instead of numbers.
 */
import { pino, type Logger, type DestinationStream } from 'pino'

/** Log levels accepted by `--log-level` / `LOG_LEVEL`. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const

/**
 * stdout, written asynchronously in batches: lines are collected up to 4 KiB
 * and written by one system call, and whatever is collected goes out at least
 * every 200 ms, so a quiet program's lines are never late by more. (A line
 * per write cost the webhook about a tenth of its throughput.) With a
 * non-zero minLength, `logger.flush(cb)` also waits until the lines are
 * written; with pino's default of 0 it calls back at once, and a process
 * exiting in that callback reorders or loses its last lines.
 */
function stdoutDestination (): DestinationStream {
  return pino.destination({ dest: 1, minLength: 4096, periodicFlush: 200 })
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
