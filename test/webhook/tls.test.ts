/**
 * Certificate loading and rotation against the real HTTPS server: the served
 * certificate follows the Secret volume, bad pairs are refused while the old
 * one keeps serving, connections already open are not disturbed, and /readyz
 * waits for a certificate.
 */
import t from 'tap'
import { once } from 'node:events'
import { Agent } from 'node:https'
import { X509Certificate } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { generateServingCert } from '../../certs/generate.ts'
import { TEST_SERVICE, testCertificates } from '../helpers/certs.ts'
import { httpsRequest, postReview } from '../helpers/https.ts'
import { makeSecretVolume, publishSecret } from '../helpers/secret-volume.ts'
import { startTestWebhook } from '../helpers/webhook.ts'
import { validateKeyPair } from '../../webhook/tls.ts'

const review = JSON.parse(await readFile(new URL('../fixtures/admission/workshop-example-v2.json', import.meta.url), 'utf8')).review
const fingerprint = (pem: string): string => new X509Certificate(pem).fingerprint256

async function readyz (port: number): Promise<{ status: number, text: string }> {
  const res = await fetch(`http://127.0.0.1:${port}/readyz`)
  return { status: res.status, text: await res.text() }
}

t.test('a rotated Secret volume changes the certificate new connections see, without disturbing open ones', async t => {
  const set = await testCertificates()
  const second = await generateServingCert(set.ca, { ...TEST_SERVICE, hosts: ['127.0.0.1'], days: 2, keyType: 'ecdsa' })
  const dir = await makeSecretVolume(t)
  await publishSecret(dir, { 'tls.crt': set.serving.cert, 'tls.key': set.serving.key, 'ca.crt': set.ca.cert })
  const webhook = await startTestWebhook(t, dir)
  const ca = set.ca.cert

  const first = await postReview(webhook.port, ca, review)
  t.equal(first.status, 200)
  t.equal(first.fingerprint256, fingerprint(set.serving.cert), 'serves the first certificate')

  // A keep-alive connection opened before the rotation, and a request whose body is still on its way.
  const agent = new Agent({ keepAlive: true, maxSockets: 1 })
  t.teardown(() => agent.destroy())
  const kept = await postReview(webhook.port, ca, review, agent)
  t.equal(kept.fingerprint256, fingerprint(set.serving.cert))
  const body = JSON.stringify(review)
  const received = once(webhook.httpsServer, 'request')
  const inFlight = httpsRequest({
    port: webhook.port,
    ca,
    body,
    beforeBody: async write => {
      write(body.slice(0, 100))
      await received
      const rotated = once(webhook.reloader, 'load')
      await publishSecret(dir, { 'tls.crt': second.cert, 'tls.key': second.key, 'ca.crt': ca })
      await rotated
      write(body.slice(100))
    }
  })
  const finished = await inFlight
  t.equal(finished.status, 200, 'the request in flight during the rotation completes')
  t.equal(finished.fingerprint256, fingerprint(set.serving.cert), 'on the connection it started on')

  const fresh = await postReview(webhook.port, ca, review)
  t.equal(fresh.status, 200)
  t.equal(fresh.fingerprint256, fingerprint(second.cert), 'a new connection sees the new certificate')
  const reused = await postReview(webhook.port, ca, review, agent)
  t.equal(reused.status, 200, 'the kept-alive connection still works')
  t.equal(reused.fingerprint256, fingerprint(set.serving.cert), 'and still uses the certificate it was opened with')
  t.equal(webhook.reloader.current?.fingerprint256, fingerprint(second.cert))
  t.match((await webhook.registry.metrics()), /spot_webhook_certificate_loads_total\{result="loaded"\} 2/)
})

t.test('a pair that is unusable is refused and the previous certificate keeps being served', async t => {
  const set = await testCertificates()
  const other = await testCertificates()
  const dir = await makeSecretVolume(t)
  await publishSecret(dir, { 'tls.crt': set.serving.cert, 'tls.key': set.serving.key })
  const webhook = await startTestWebhook(t, dir)

  for (const [what, files, reason] of [
    ['a half-written certificate', { 'tls.crt': set.serving.cert.slice(0, 200), 'tls.key': set.serving.key }, /tls\.crt is not a valid PEM certificate/],
    ['a key of another certificate', { 'tls.crt': other.serving.cert, 'tls.key': set.serving.key }, /tls\.key does not belong to the certificate in tls\.crt/],
    ['a garbage key', { 'tls.crt': set.serving.cert, 'tls.key': 'not a key' }, /tls\.key is not a valid PEM private key/]
  ] as const) {
    const rejected = once(webhook.reloader, 'reject')
    await publishSecret(dir, files)
    const [error] = await rejected as [Error]
    t.match(error.message, reason, `${what} is refused with a reason`)
    const res = await postReview(webhook.port, set.ca.cert, review)
    t.equal(res.status, 200, `still serving after ${what}`)
    t.equal(res.fingerprint256, fingerprint(set.serving.cert), 'with the previous certificate')
    t.equal((await readyz(webhook.metricsPort)).status, 200, 'and still ready')
  }
  t.match((await webhook.registry.metrics()), /spot_webhook_certificate_loads_total\{result="rejected"\} 3/)
})

t.test('the same refused pair is refused once, however often the directory changes', async t => {
  const set = await testCertificates()
  const dir = await makeSecretVolume(t)
  await publishSecret(dir, { 'tls.crt': set.serving.cert, 'tls.key': set.serving.key })
  const webhook = await startTestWebhook(t, dir)
  const rejected: Error[] = []
  webhook.reloader.on('reject', err => rejected.push(err))
  const bad = { 'tls.crt': set.serving.cert, 'tls.key': 'not a key' }
  const first = once(webhook.reloader, 'reject')
  await publishSecret(dir, bad)
  await first
  await webhook.reloader.reload()
  await publishSecret(dir, bad)
  await webhook.reloader.reload()
  t.equal(rejected.length, 1, 'one refusal for one bad content')
  t.match((await webhook.registry.metrics()), /spot_webhook_certificate_loads_total\{result="rejected"\} 1/)
  const loaded = once(webhook.reloader, 'load')
  const other = await testCertificates()
  await publishSecret(dir, { 'tls.crt': other.serving.cert, 'tls.key': other.serving.key })
  await loaded
  t.equal((await postReview(webhook.port, other.ca.cert, review)).fingerprint256, fingerprint(other.serving.cert), 'a good pair after it is served')
})

t.test('readyz is not ready until a certificate is loaded, then the server serves it', async t => {
  const set = await testCertificates()
  const dir = await makeSecretVolume(t)
  const webhook = await startTestWebhook(t, dir)
  const before = await readyz(webhook.metricsPort)
  t.equal(before.status, 503)
  t.match(before.text, /no valid tls\.crt\/tls\.key loaded \(from .+\)/)
  await t.rejects(postReview(webhook.port, set.ca.cert, review), 'no TLS handshake without a certificate')

  const loaded = once(webhook.reloader, 'load')
  await publishSecret(dir, { 'tls.crt': set.serving.cert, 'tls.key': set.serving.key })
  await loaded
  t.equal((await readyz(webhook.metricsPort)).status, 200, 'ready once loaded')
  const res = await postReview(webhook.port, set.ca.cert, review)
  t.equal(res.status, 200)
  t.equal(res.fingerprint256, fingerprint(set.serving.cert))
})

t.test('validateKeyPair reports the expiry and fingerprint of a good pair', async t => {
  const set = await testCertificates('rsa')
  const pair = validateKeyPair(set.serving.cert, set.serving.key)
  t.equal(pair.fingerprint256, fingerprint(set.serving.cert))
  t.ok(pair.notAfter.getTime() > Date.now(), 'expires in the future')
})

t.test('a certificate outside its validity is refused, counted, and the previous one keeps being served', async t => {
  const set = await testCertificates()
  const dir = await makeSecretVolume(t)
  await publishSecret(dir, { 'tls.crt': set.serving.cert, 'tls.key': set.serving.key })
  const webhook = await startTestWebhook(t, dir)
  const day = 24 * 3600_000
  for (const [what, now, reason] of [
    ['an expired certificate', new Date(Date.now() - 10 * day), /tls\.crt expired at 20/],
    ['a certificate not valid yet', new Date(Date.now() + 10 * day), /tls\.crt is not valid yet: valid from 20/]
  ] as const) {
    const pair = await generateServingCert(set.ca, { ...TEST_SERVICE, hosts: ['127.0.0.1'], days: 1, keyType: 'ecdsa', now })
    const rejected = once(webhook.reloader, 'reject')
    await publishSecret(dir, { 'tls.crt': pair.cert, 'tls.key': pair.key })
    const [error] = await rejected as [Error]
    t.match(error.message, reason, `${what} is refused with its date`)
    const res = await postReview(webhook.port, set.ca.cert, review)
    t.equal(res.fingerprint256, fingerprint(set.serving.cert), `the previous certificate is served after ${what}`)
    t.equal((await readyz(webhook.metricsPort)).status, 200, 'and the webhook stays ready')
  }
  t.match((await webhook.registry.metrics()), /spot_webhook_certificate_loads_total\{result="rejected"\} 2/)
  t.ok(webhook.logs.some(line => line.level === 'warn' && String(line.err).startsWith('tls.crt expired at')), 'the refusal is logged with its reason')
})

t.test('readyz says so when the only certificate left is expired', async t => {
  const set = await testCertificates()
  const dir = await makeSecretVolume(t)
  const expired = await generateServingCert(set.ca, { ...TEST_SERVICE, hosts: ['127.0.0.1'], days: 1, keyType: 'ecdsa', now: new Date(Date.now() - 10 * 24 * 3600_000) })
  await publishSecret(dir, { 'tls.crt': expired.cert, 'tls.key': expired.key })
  const webhook = await startTestWebhook(t, dir)
  const atStart = await readyz(webhook.metricsPort)
  t.equal(atStart.status, 503, 'an expired certificate at start-up is not loaded')
  t.match(atStart.text, /no valid tls\.crt\/tls\.key loaded/)

  // A certificate valid for three more seconds is loaded, then expires while it is served.
  const shortLived = await generateServingCert(set.ca, { ...TEST_SERVICE, hosts: ['127.0.0.1'], days: 3000 / (24 * 3600_000), keyType: 'ecdsa' })
  const loaded = once(webhook.reloader, 'load')
  await publishSecret(dir, { 'tls.crt': shortLived.cert, 'tls.key': shortLived.key })
  await loaded
  t.equal((await readyz(webhook.metricsPort)).status, 200, 'ready while it is valid')
  const notAfter = webhook.reloader.current?.notAfter.getTime() ?? 0
  await new Promise(resolve => setTimeout(resolve, Math.max(0, notAfter - Date.now()) + 1100))
  const after = await readyz(webhook.metricsPort)
  t.equal(after.status, 503, 'not ready once it has expired')
  t.match(after.text, /the serving certificate expired at .* and no valid replacement was found/)
})
