#!/usr/bin/env node
/**
 * Entry point of `spot-certs`: `npm run certs -- --service S --namespace N --out-dir DIR`,
 * or in-cluster `--secret NAME --webhook-config NAME` instead of `--out-dir`.
 */
import { readOptionsOrExit } from '#common/options.ts'
import { createLogger } from '#common/logger.ts'
import { runProgram } from '#common/program.ts'
import { CERTS_OPTIONS, CERTS_PROGRAM, CERTS_SUMMARY, selectCertsMode } from './options.ts'
import { runCerts } from './run.ts'

await runProgram(CERTS_PROGRAM, async () => {
  const selected = selectCertsMode(readOptionsOrExit(CERTS_PROGRAM, CERTS_SUMMARY, CERTS_OPTIONS).values)
  if (selected.mode === 'files') {
    const result = await runCerts(selected.config)
    process.stderr.write(`${CERTS_PROGRAM}: wrote ${result.paths.ca}, ${result.paths.cert}, ${result.paths.key}\n`)
    process.stdout.write(result.caBundle + '\n')
  } else {
    // Loaded only in-cluster: the Kubernetes client takes ~0.4 s to import.
    const { defaultClients, installCertificates } = await import('./install.ts')
    const { config } = selected
    const logger = createLogger(CERTS_PROGRAM, config.logLevel)
    await installCertificates(defaultClients(), { ...config, renewBeforeDays: config.renewBefore }, logger)
  }
})
