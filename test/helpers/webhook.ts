/** Test helper: start the real webhook in-process on free ports, with logs captured. */
import { Writable } from 'node:stream'
import { createLogger } from '#common/logger.ts'
import { parseOptions } from '#common/options.ts'
import { startWebhook, type RunningWebhook, type StartOptions } from '../../webhook/app.ts'
import { WEBHOOK_OPTIONS, WEBHOOK_PROGRAM } from '../../webhook/options.ts'

/** A started webhook plus its parsed log lines. */
export interface TestWebhook extends RunningWebhook {
  logs: Array<Record<string, unknown>>
}

/** Starts the webhook with `flags` (parsed like the CLI) and `start` seams on 127.0.0.1, ports 0; stopped on teardown. */
export async function startTestWebhook (t: { teardown: (fn: () => Promise<void>) => void }, certDir: string, flags: readonly string[] = [], start: Omit<StartOptions, 'logger'> = {}): Promise<TestWebhook> {
  const parsed = parseOptions(WEBHOOK_OPTIONS, ['--port', '0', '--metrics-port', '0', '--listen-address', '127.0.0.1', '--cert-dir', certDir, ...flags], {})
  if (parsed.help) throw new Error('unexpected --help')
  const logs: Array<Record<string, unknown>> = []
  const sink = new Writable({
    write (chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') logs.push(JSON.parse(line))
      done()
    }
  })
  const running = await startWebhook(parsed.values, { certDebounceMs: 20, ...start, logger: createLogger(WEBHOOK_PROGRAM, 'info', sink) })
  t.teardown(() => running.stop())
  return Object.assign(running, { logs })
}
