/** Test helper: a temporary certificate directory made by certs/ (CA + serving cert for 127.0.0.1). */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { CertificateSet } from '../../certs/generate.ts'
import { writeCertificateFiles } from '../../certs/files.ts'

/** Service and namespace the test certificates are issued for. */
export const TEST_SERVICE = { service: 'spot-webhook', namespace: 'spot-system' } as const

/** The name the API server would use to reach the test webhook (checked against the SANs). */
export const TEST_SERVER_NAME = `${TEST_SERVICE.service}.${TEST_SERVICE.namespace}.svc`

/** A fresh certificate set for the test service plus 127.0.0.1 and localhost. */
export async function testCertificates (keyType: 'ecdsa' | 'rsa' = 'ecdsa'): Promise<CertificateSet> {
  // Loaded on first use: the simulator imports this module's names through https.ts and should not pay for certificate generation.
  const { generateCertificates } = await import('../../certs/generate.ts')
  return await generateCertificates({ ...TEST_SERVICE, hosts: ['localhost', '127.0.0.1'], days: 1, keyType })
}

/** Creates a temp directory (removed on teardown) holding ca.crt, tls.crt and tls.key. */
export async function makeCertDir (t: { teardown: (fn: () => Promise<void>) => void }): Promise<{ dir: string, set: CertificateSet }> {
  const dir = await mkdtemp(join(tmpdir(), 'spot-webhook-test-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const set = await testCertificates()
  await writeCertificateFiles(dir, set)
  return { dir, set }
}
