/**
 * The `spot-certs` program as a function: generate, write, report.
 * `main.ts` only wires it to argv, the environment and stdout.
 */
import { caBundle, generateCertificates } from './generate.ts'
import { writeCertificateFiles } from './files.ts'
import type { CertsConfig } from './options.ts'

/** What a run produced. */
export interface CertsResult {
  paths: { ca: string, cert: string, key: string }
  caBundle: string
}

/** Generates a CA and serving certificate for `config` and writes them to `config.outDir`. */
export async function runCerts (config: CertsConfig): Promise<CertsResult> {
  const set = await generateCertificates({ service: config.service, namespace: config.namespace, hosts: config.hosts, days: config.days, keyType: config.keyType })
  const paths = await writeCertificateFiles(config.outDir, set)
  return { paths, caBundle: caBundle(set.ca.cert) }
}
