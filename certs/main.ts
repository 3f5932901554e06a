#!/usr/bin/env node
/** Entry point of `spot-certs` (`npm run certs -- --service S --namespace N --out-dir DIR`). */
import { ConfigError, readOptionsOrExit } from '../webhook/common/options.ts'
import { CERTS_OPTIONS, CERTS_PROGRAM, CERTS_SUMMARY, requireCertsOptions } from './options.ts'
import { runCerts } from './run.ts'

try {
  const config = requireCertsOptions(readOptionsOrExit(CERTS_PROGRAM, CERTS_SUMMARY, CERTS_OPTIONS))
  const result = await runCerts(config)
  process.stderr.write(`${CERTS_PROGRAM}: wrote ${result.paths.ca}, ${result.paths.cert}, ${result.paths.key}\n`)
  process.stdout.write(result.caBundle + '\n')
} catch (err) {
  process.stderr.write(`${CERTS_PROGRAM}: ${(err as Error).message}\n`)
  process.exitCode = err instanceof ConfigError ? 2 : 1
}
