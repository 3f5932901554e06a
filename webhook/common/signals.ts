/**
 * Graceful shutdown for the long-running programs: the first SIGTERM or
 * SIGINT runs the program's stop function once, then the process exits 0
 * when it resolved and 1 when it rejected.
 */
import type { Logger } from './logger.ts'

/** The signals that ask a program to stop (Kubernetes sends SIGTERM, a terminal SIGINT). */
export const STOP_SIGNALS = ['SIGTERM', 'SIGINT'] as const

/** How `stopOnSignals` reports. */
export interface StopOnSignalsOptions {
  /** Logs the signal and a failed stop; without one a failed stop is written to stderr. */
  logger?: Logger
  /** Message logged with the signal (default `stopping`). */
  message?: string
}

/** Runs `stop` once on the first SIGTERM or SIGINT, then exits 0 when it resolves and 1 when it rejects. */
export function stopOnSignals (stop: () => Promise<unknown>, options: StopOnSignalsOptions = {}): void {
  const { logger, message = 'stopping' } = options
  // pino writes asynchronously: let its lines out, in order, before exiting.
  const exit = (code: number): void => {
    if (logger === undefined) process.exit(code)
    else logger.flush(() => process.exit(code))
  }
  const onSignal = (signal: NodeJS.Signals): void => {
    for (const other of STOP_SIGNALS) process.removeListener(other, onSignal)
    logger?.info({ signal }, message)
    stop().then(() => exit(0), (err: unknown) => {
      if (logger === undefined) process.stderr.write(`stop failed: ${err instanceof Error ? err.message : String(err)}\n`)
      else logger.error({ err }, 'error while stopping')
      exit(1)
    })
  }
  for (const signal of STOP_SIGNALS) process.once(signal, onSignal)
}
