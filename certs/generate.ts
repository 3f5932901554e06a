/**
 * Certificate generation for the webhook (pure of file and cluster I/O):
 * a CA and a serving certificate signed by it, SHA-256, ECDSA P-256 or RSA 2048,
 * with the DNS names the API server uses to reach a Service plus any extra hosts.
 */
import { randomBytes } from 'node:crypto'
import { isIP } from 'node:net'
import { generate, type CertificateExtension } from 'selfsigned'

/** Key algorithms offered by `--key-type`. */
export const KEY_TYPES = ['ecdsa', 'rsa'] as const

/** Key algorithm of the CA and the serving certificate (they always share one). */
export type KeyType = typeof KEY_TYPES[number]

/** A certificate and its private key, both PEM. */
export interface KeyPairPem {
  cert: string
  key: string
}

/** Everything `generateCertificates` makes: the CA (with its key, for later renewals) and the serving pair. */
export interface CertificateSet {
  ca: KeyPairPem
  serving: KeyPairPem
}

/** What the serving certificate is for and how long it lives. */
export interface ServingCertRequest {
  /** Service name, e.g. `spot-webhook`. */
  service: string
  /** Namespace of the Service. */
  namespace: string
  /** Extra host names or IP addresses (IPs become IP SANs). */
  hosts: readonly string[]
  /** Validity in days from `now`. */
  days: number
  keyType: KeyType
  /** Start of validity (defaults to the current time); notBefore is set a few minutes earlier for clock skew. */
  now?: Date
}

/** How far notBefore is moved back so nodes with a slightly late clock accept a fresh certificate. */
const CLOCK_SKEW_MS = 5 * 60_000
const DAY_MS = 24 * 60 * 60_000

/** The four names a Service is reachable by from inside the cluster, most specific last. */
export function serviceDnsNames (service: string, namespace: string): string[] {
  return [service, `${service}.${namespace}`, `${service}.${namespace}.svc`, `${service}.${namespace}.svc.cluster.local`]
}

/** Subject alternative names: the Service names, then each extra host (DNS or IP), without duplicates. */
export function subjectAltNames (request: Pick<ServingCertRequest, 'service' | 'namespace' | 'hosts'>): { dns: string[], ips: string[] } {
  const dns = serviceDnsNames(request.service, request.namespace)
  const ips: string[] = []
  for (const host of request.hosts) {
    const list = isIP(host) === 0 ? dns : ips
    if (!list.includes(host)) list.push(host)
  }
  return { dns, ips }
}

function keyOptions (keyType: KeyType): { keyType: 'ec', curve: 'P-256' } | { keyType: 'rsa', keySize: number } {
  return keyType === 'ecdsa' ? { keyType: 'ec', curve: 'P-256' } : { keyType: 'rsa', keySize: 2048 }
}

function validity (now: Date, days: number): { notBeforeDate: Date, notAfterDate: Date } {
  return { notBeforeDate: new Date(now.getTime() - CLOCK_SKEW_MS), notAfterDate: new Date(now.getTime() + days * DAY_MS) }
}

/** PEM text ending with a newline, so files and bundles concatenate into valid PEM. */
function pemLines (pem: string): string {
  return pem.endsWith('\n') ? pem : `${pem}\n`
}

/**
 * Creates a self-signed CA allowed to sign serving certificates. Its subject
 * is unique (the common name plus an OU with its creation time and a random
 * tag): during a rotation the bundle holds the old and the new CA, and
 * OpenSSL-based clients pick a leaf's issuer by subject (selfsigned 5 cannot
 * add key identifiers, which would also tell them apart).
 */
export async function generateCa (options: { commonName: string, days: number, keyType: KeyType, now?: Date }): Promise<KeyPairPem> {
  const extensions: CertificateExtension[] = [
    { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true }
  ]
  const now = options.now ?? new Date()
  const subject = [{ name: 'commonName', value: options.commonName }, { shortName: 'OU', value: `created ${now.toISOString()} ${randomBytes(4).toString('hex')}` }]
  const pems = await generate(subject, {
    ...keyOptions(options.keyType),
    ...validity(now, options.days),
    algorithm: 'sha256',
    extensions
  })
  return { cert: pemLines(pems.cert), key: pemLines(pems.private) }
}

/** Creates a serving certificate for the request, signed by `ca` (which must use the same key type). */
export async function generateServingCert (ca: KeyPairPem, request: ServingCertRequest): Promise<KeyPairPem> {
  const { dns, ips } = subjectAltNames(request)
  const extensions: CertificateExtension[] = [
    { name: 'basicConstraints', cA: false, critical: true },
    // keyEncipherment only makes sense for RSA key exchange.
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: request.keyType === 'rsa', critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames: [...dns.map(value => ({ type: 2 as const, value })), ...ips.map(ip => ({ type: 7 as const, ip }))] }
  ]
  const pems = await generate([{ name: 'commonName', value: dns[2]! }], {
    ...keyOptions(request.keyType),
    ...validity(request.now ?? new Date(), request.days),
    algorithm: 'sha256',
    extensions,
    ca
  })
  return { cert: pemLines(pems.cert), key: pemLines(pems.private) }
}

/** Creates a fresh CA and a serving certificate signed by it. */
export async function generateCertificates (request: ServingCertRequest): Promise<CertificateSet> {
  const ca = await generateCa({ commonName: `${request.service}.${request.namespace} webhook CA`, days: request.days, keyType: request.keyType, now: request.now })
  return { ca, serving: await generateServingCert(ca, request) }
}

/** The value for a webhook's `clientConfig.caBundle`: base64 of the CA certificate PEM. */
export function caBundle (caCert: string): string {
  return Buffer.from(caCert).toString('base64')
}
