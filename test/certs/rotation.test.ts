import t from 'tap'
import { X509Certificate } from 'node:crypto'
import { generateCa, generateCertificates, generateServingCert } from '../../certs/generate.ts'
import { caBundlePem, decideCertificateAction, splitPemCertificates, type TlsSecretPem } from '../../certs/rotation.ts'

const DAY = 24 * 60 * 60_000
const issued = new Date('2026-01-01T00:00:00Z')
const request = { service: 'spot-webhook', namespace: 'spot-handler', hosts: ['10.0.0.7'], days: 90, keyType: 'ecdsa' as const, now: issued }
const set = await generateCertificates(request)
const secret: Required<TlsSecretPem> = { 'ca.crt': set.ca.cert, 'tls.crt': set.serving.cert, 'tls.key': set.serving.key }
const needs = (daysLater: number, overrides: Partial<Parameters<typeof decideCertificateAction>[1]> = {}) =>
  ({ service: request.service, namespace: request.namespace, hosts: request.hosts, renewBeforeDays: 30, now: new Date(issued.getTime() + daysLater * DAY), ...overrides })

t.test('a missing Secret is created', async t => {
  t.equal(decideCertificateAction(undefined, needs(0)).action, 'create')
})

t.test('a valid certificate far from expiry is kept', async t => {
  const decision = decideCertificateAction(secret, needs(10))
  t.equal(decision.action, 'keep')
  t.match(decision.reason, /valid until/)
})

t.test('a certificate within the renewal window is renewed, and so is an expired one', async t => {
  t.equal(decideCertificateAction(secret, needs(61)).action, 'renew', '29 days left, renew-before 30')
  t.equal(decideCertificateAction(secret, needs(59)).action, 'keep', '31 days left')
  t.equal(decideCertificateAction(secret, needs(120)).action, 'renew', 'already expired')
  t.equal(decideCertificateAction(secret, needs(59, { renewBeforeDays: 40 })).action, 'renew', 'a wider window renews earlier')
})

t.test('an unusable Secret is replaced, with the reason', async t => {
  const other = await generateCertificates(request)
  const cases: Array<[string, TlsSecretPem, RegExp]> = [
    ['missing key', { 'ca.crt': secret['ca.crt'], 'tls.crt': secret['tls.crt'] }, /lacks/],
    ['garbage certificate', { ...secret, 'tls.crt': 'not a certificate' }, /tls\.crt is not a valid PEM certificate/],
    ['garbage key', { ...secret, 'tls.key': 'not a key' }, /tls\.key is not a valid PEM private key/],
    ['key of another certificate', { ...secret, 'tls.key': other.serving.key }, /does not belong/],
    ['CA that did not sign it', { ...secret, 'ca.crt': other.ca.cert }, /not signed by a CA/]
  ]
  for (const [name, pems, reason] of cases) {
    const decision = decideCertificateAction(pems, needs(1))
    t.equal(decision.action, 'replace', name)
    t.match(decision.reason, reason, name)
  }
})

t.test('a certificate that does not cover a requested host or the service name is replaced', async t => {
  const extraHost = decideCertificateAction(secret, needs(1, { hosts: ['webhook.example.com'] }))
  t.equal(extraHost.action, 'replace')
  t.match(extraHost.reason, /does not cover webhook\.example\.com/)
  const otherService = decideCertificateAction(secret, needs(1, { service: 'other' }))
  t.equal(otherService.action, 'replace')
  t.match(otherService.reason, /does not cover other, other\.spot-handler/)
  t.equal(decideCertificateAction(secret, needs(1, { hosts: ['10.0.0.8'] })).action, 'replace', 'an IP SAN is checked as an IP')
})

t.test('a certificate signed by the second CA of the bundle is accepted', async t => {
  const newCa = await generateCa({ commonName: 'new', days: 90, keyType: 'ecdsa', now: issued })
  t.equal(decideCertificateAction({ ...secret, 'ca.crt': newCa.cert + secret['ca.crt'] }, needs(1)).action, 'keep')
})

t.test('the CA bundle puts the new CA first, keeps unexpired earlier CAs once each and drops expired ones', async t => {
  const later = new Date(issued.getTime() + 60 * DAY)
  const shortCa = await generateCa({ commonName: 'short', days: 30, keyType: 'ecdsa', now: issued })
  const newCa = await generateCa({ commonName: 'new', days: 90, keyType: 'ecdsa', now: later })
  const previous = secret['ca.crt'] + shortCa.cert + secret['ca.crt'] + 'junk between blocks\n'
  const bundle = splitPemCertificates(caBundlePem(previous, later, newCa.cert))
  t.same(bundle.map(pem => new X509Certificate(pem).subject), [new X509Certificate(newCa.cert).subject, new X509Certificate(set.ca.cert).subject])
  t.equal(caBundlePem(previous, new Date(issued.getTime() + 100 * DAY)), '', 'everything expired')
  t.equal(caBundlePem(undefined, later, newCa.cert), newCa.cert.trimEnd() + '\n', 'no previous bundle')
})

t.test('a serving certificate from a CA with another key type still verifies against its own CA only', async t => {
  const rsaCa = await generateCa({ commonName: 'rsa', days: 90, keyType: 'rsa', now: issued })
  const rsaLeaf = await generateServingCert(rsaCa, { ...request, keyType: 'rsa' })
  t.equal(decideCertificateAction({ 'ca.crt': rsaCa.cert, 'tls.crt': rsaLeaf.cert, 'tls.key': rsaLeaf.key }, needs(1)).action, 'keep')
  t.equal(decideCertificateAction({ 'ca.crt': set.ca.cert, 'tls.crt': rsaLeaf.cert, 'tls.key': rsaLeaf.key }, needs(1)).action, 'replace')
})
