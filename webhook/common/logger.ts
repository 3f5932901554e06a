/**
 * pino logging shared by the programs: one line per event on stdout,
 * `program` on every line, ISO timestamps, level names instead of numbers;
 * JSON by default, or text lines in the console format the AWS Node
 * Termination Handler writes by default (`<time> INF <message> key=value`).
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

let stampedAt = -1
let stamp = ''

/**
 * pino's ISO timestamp field, formatted once per millisecond: a busy webhook
 * writes several lines a millisecond, and formatting a Date cost it more than
 * the rest of the line.
 */
export function isoTimestamp (): string {
  const now = Date.now()
  if (now !== stampedAt) {
    stampedAt = now
    stamp = `,"time":"${new Date(now).toISOString()}"`
  }
  return stamp
}

/** How log lines are written. */
export type LogFormat = 'json' | 'text'

const LEVEL_ABBREVIATIONS: Record<string, string> = { trace: 'TRC', debug: 'DBG', info: 'INF', warn: 'WRN', error: 'ERR', fatal: 'FTL' }

/** A field value in a text line: plain when it is a word, else JSON (quoted strings, objects). */
function textValue (value: unknown): string {
  if (typeof value === 'string' && /^[^\s"=]+$/.test(value)) return value
  return JSON.stringify(value) ?? String(value)
}

/** One pino JSON line as a text line: `<time> <LVL> <message> key=value ...` (the program name left out). */
export function textLine (json: string): string {
  const { time, level, msg, program: _program, ...fields } = JSON.parse(json) as Record<string, unknown>
  const parts = [String(time), LEVEL_ABBREVIATIONS[String(level)] ?? String(level).toUpperCase(), String(msg ?? '')]
  for (const [key, value] of Object.entries(fields)) parts.push(`${key}=${textValue(value)}`)
  return parts.join(' ') + '\n'
}

/** `inner` receiving text lines instead of pino's JSON ones; flushing goes through. */
function textDestination (inner: DestinationStream & { flush?: (cb?: (err?: Error) => void) => void, flushSync?: () => void }): DestinationStream {
  return {
    write: (line: string) => inner.write(textLine(line)),
    ...(inner.flush === undefined ? {} : { flush: (cb?: (err?: Error) => void) => inner.flush!(cb) }),
    ...(inner.flushSync === undefined ? {} : { flushSync: () => inner.flushSync!() })
  }
}

/** Creates the program's root logger; tests pass a destination to capture lines. */
export function createLogger (program: string, level: typeof LOG_LEVELS[number], destination?: DestinationStream, format: LogFormat = 'json'): Logger {
  const options = {
    level,
    base: { program },
    timestamp: isoTimestamp,
    formatters: { level: (label: string) => ({ level: label }) }
  }
  const out = destination ?? stdoutDestination()
  return pino(options, format === 'json' ? out : textDestination(out))
}

export type { Logger }
