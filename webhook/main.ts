#!/usr/bin/env node
/** Entry point of `spot-webhook`: parse options, start, stop gracefully on SIGTERM/SIGINT. */
import { readOptionsOrExit } from './common/options.ts'
import { stopOnSignals } from './common/signals.ts'
import { startWebhook } from './app.ts'
import { WEBHOOK_OPTIONS, WEBHOOK_PROGRAM, WEBHOOK_SUMMARY } from './options.ts'

const webhook = await startWebhook(readOptionsOrExit(WEBHOOK_PROGRAM, WEBHOOK_SUMMARY, WEBHOOK_OPTIONS)).catch((err: Error) => {
  process.stderr.write(`${WEBHOOK_PROGRAM}: cannot start: ${err.message}\n`)
  process.exit(1)
})
stopOnSignals(() => webhook.stop())
