#!/usr/bin/env node
/**
 * `npm start -- [flags]`: the rehearsal of a Spot interruption end to end.
 * Prints the timeline as it happens and the report (or, with --json, one JSON
 * object); exits 0 when the story completed as expected, 1 otherwise (also
 * when interrupted, after putting the cluster back), 2 on a bad flag.
 */
import { readOptionsOrExit } from '#common/options.ts'
import { STOP_SIGNALS } from '#common/signals.ts'
import { createNarrator, SILENT_NARRATOR } from './output.ts'
import { REHEARSAL_OPTIONS, REHEARSAL_PROGRAM, REHEARSAL_SUMMARY } from './options.ts'
import { formatReport } from './report.ts'

const options = readOptionsOrExit(REHEARSAL_PROGRAM, REHEARSAL_SUMMARY, REHEARSAL_OPTIONS).values
// Loaded after the options so --help and flag errors answer at once.
const { runRehearsal } = await import('./rehearsal.ts')
const narrator = options.json
  ? SILENT_NARRATOR
  : createNarrator({ write: text => process.stdout.write(text), isTTY: process.stdout.isTTY === true }, Date.now())
if (!options.json) {
  process.stdout.write(`Rehearsing ${options.scenario}${options.kubeconfig === '' ? ' on an embedded simulated cluster' : ` on the cluster in ${options.kubeconfig}`}: webhook, agent and certs run for real; only the cloud and the cluster are simulated.\n`)
}
// Ctrl-C ends the story but still puts a real cluster back; a second one kills at once.
const interrupted = new AbortController()
for (const signal of STOP_SIGNALS) process.once(signal, () => interrupted.abort(signal))
const report = await runRehearsal(options, narrator, { signal: interrupted.signal })
if (options.json) process.stdout.write(JSON.stringify(report) + '\n')
else process.stdout.write('\n' + formatReport(report))
process.exitCode = report.ok ? 0 : 1
