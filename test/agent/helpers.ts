/** Test helpers for the agent tests: captured loggers and waiting for conditions without fixed sleeps. */
import { Writable } from 'node:stream'
import { createLogger, type Logger } from '#common/logger.ts'

/** A pino logger whose JSON lines are kept for assertions. */
export function captureLogger (level: 'debug' | 'info' = 'debug'): { logger: Logger, lines: () => Array<Record<string, unknown>> } {
  const raw: string[] = []
  const stream = new Writable({
    write (chunk: Buffer, _enc, done) { raw.push(chunk.toString('utf8')); done() }
  })
  const logger = createLogger('spot-agent-test', level, stream)
  return {
    logger,
    lines: () => raw.join('').split('\n').filter(l => l.trim() !== '').map(l => JSON.parse(l) as Record<string, unknown>)
  }
}

/** Resolves once `check` returns a truthy value (polled every few ms); rejects after `timeoutMs`. */
export async function eventually<T> (check: () => T | Promise<T>, timeoutMs = 5000, what = 'condition'): Promise<NonNullable<T>> {
  const start = Date.now()
  for (;;) {
    const v = await check()
    if (v !== undefined && v !== null && v !== false) return v as NonNullable<T>
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 5))
  }
}
