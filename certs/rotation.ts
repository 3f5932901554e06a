/**
 * Decisions of the in-cluster mode, free of cluster I/O: is the certificate in
 * the Secret still good, and which CAs belong in the caBundle. A Secret holds
 * `tls.crt`, `tls.key` and `ca.crt`, where `ca.crt` is the CA bundle: the
 * current CA first, then earlier CAs that have not expired yet, so the API
 * server keeps trusting webhook pods that still serve the previous certificate
 * while the new one reaches them.
 */
import { X509Certificate } from 'node:crypto'
import { isIP } from 'node:net'
import { matchKeyPair } from '#common/key-pair.ts'
import { serviceDnsNames } from './generate.ts'

/** PEM texts of a TLS Secret (decoded from base64); any may be missing. */
export interface TlsSecretPem {
  'ca.crt'?: string
  'tls.crt'?: string
  'tls.key'?: string
}

/** What the certificate job does with the Secret. */
export type CertificateAction =
  | { action: 'create', reason: string }
  | { action: 'keep', reason: string }
  | { action: 'renew', reason: string }
  | { action: 'replace', reason: string }

/** What the serving certificate must cover and when it counts as close to expiry. */
export interface CertificateNeeds {
  service: string
  namespace: string
  hosts: readonly string[]
  /** Replace the certificate when it expires within this many days. */
  renewBeforeDays: number
  now: Date
}

const DAY_MS = 24 * 60 * 60_000
const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g

/** The certificate PEM blocks of `text`, in order, each ending with a newline. */
export function splitPemCertificates (text: string): string[] {
  return [...text.matchAll(PEM_BLOCK)].map(m => m[0] + '\n')
}

function parseCertificate (pem: string): X509Certificate | undefined {
  try { return new X509Certificate(pem) } catch { return undefined }
}

/** Why `pems` cannot serve the webhook as requested, or undefined when they can (ignoring expiry). */
function unusableReason (pems: TlsSecretPem, needs: CertificateNeeds): string | undefined {
  const certPem = pems['tls.crt']
  const keyPem = pems['tls.key']
  if (certPem === undefined || keyPem === undefined || pems['ca.crt'] === undefined) return 'the Secret lacks tls.crt, tls.key or ca.crt'
  let leaf: X509Certificate
  try {
    leaf = matchKeyPair(certPem, keyPem).cert
  } catch (err) {
    return (err as Error).message
  }
  const cas = splitPemCertificates(pems['ca.crt']).map(parseCertificate)
  if (!cas.some(ca => ca !== undefined && leaf.checkIssued(ca) && leaf.verify(ca.publicKey))) return 'tls.crt is not signed by a CA in ca.crt'
  const names = [...serviceDnsNames(needs.service, needs.namespace), ...needs.hosts]
  const missing = names.filter(name => (isIP(name) === 0 ? leaf.checkHost(name, { wildcards: false }) : leaf.checkIP(name)) === undefined)
  if (missing.length > 0) return `tls.crt does not cover ${missing.join(', ')}`
  return undefined
}

/** Decides what to do with the Secret's current contents (`undefined`: there is no Secret). */
export function decideCertificateAction (pems: TlsSecretPem | undefined, needs: CertificateNeeds): CertificateAction {
  if (pems === undefined) return { action: 'create', reason: 'the Secret does not exist' }
  const unusable = unusableReason(pems, needs)
  if (unusable !== undefined) return { action: 'replace', reason: unusable }
  const expires = new X509Certificate(pems['tls.crt']!).validToDate
  const daysLeft = (expires.getTime() - needs.now.getTime()) / DAY_MS
  if (daysLeft <= needs.renewBeforeDays) {
    return { action: 'renew', reason: `tls.crt expires ${expires.toISOString()}, within ${needs.renewBeforeDays} days` }
  }
  return { action: 'keep', reason: `tls.crt is valid until ${expires.toISOString()}` }
}

/**
 * The CA bundle: `first` (when given), then each certificate of `previous`
 * that parses and has not expired at `now`, without duplicates.
 */
export function caBundlePem (previous: string | undefined, now: Date, first?: string): string {
  const kept: string[] = []
  const seen = new Set<string>()
  for (const pem of [...(first === undefined ? [] : splitPemCertificates(first)), ...splitPemCertificates(previous ?? '')]) {
    const cert = parseCertificate(pem)
    if (cert === undefined || cert.validToDate.getTime() <= now.getTime() || seen.has(cert.fingerprint256)) continue
    seen.add(cert.fingerprint256)
    kept.push(pem)
  }
  return kept.join('')
}
