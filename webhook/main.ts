#!/usr/bin/env node
/** Entry point of `spot-webhook`: parse options, start, stop gracefully on SIGTERM/SIGINT. */
import { readOptionsOrExit } from '#common/options.ts'
import { runProgram } from '#common/program.ts'
import { stopOnSignals } from '#common/signals.ts'
import { startWebhook } from './app.ts'
import { WEBHOOK_OPTIONS, WEBHOOK_PROGRAM, WEBHOOK_SUMMARY } from './options.ts'

await runProgram(WEBHOOK_PROGRAM, async () => {
  const webhook = await startWebhook(readOptionsOrExit(WEBHOOK_PROGRAM, WEBHOOK_SUMMARY, WEBHOOK_OPTIONS).values)
  stopOnSignals(() => webhook.stop())
})
