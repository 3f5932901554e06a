/** The tests' HTTPS client (test/helpers/https.ts): verifies the server for the Service name, reports status, headers, body, TLS version and peer, honours a timeout. */
import t from 'tap'
import { once } from 'node:events'
import { readFile } from 'node:fs/promises'
import { Agent, createServer } from 'node:https'
import { X509Certificate } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { MUTATE_PATH } from '../../webhook/server.ts'
import { makeCertDir, TEST_SERVER_NAME, testCertificates } from './certs.ts'
import { httpsCall } from './https.ts'
import { startTestWebhook } from './webhook.ts'

const { dir, set } = await makeCertDir(t)
const webhook = await startTestWebhook(t, dir)
const review = (await readFile(new URL('../fixtures/admission/workshop-example-v1.json', import.meta.url), 'utf8'))
const post = { port: webhook.port, path: MUTATE_PATH, ca: set.ca.cert, servername: TEST_SERVER_NAME, body: JSON.stringify(JSON.parse(review).review) }

t.test('answers with status, headers, body, the TLS version and the server certificate, on a fresh or a kept-alive connection', async t => {
  const answer = await httpsCall(post)
  t.equal(answer.status, 200)
  t.match(answer.headers['content-type'], /^application\/json/)
  t.equal(JSON.parse(answer.text).response.allowed, true)
  t.match(answer.tlsProtocol, /^TLSv1\.[23]$/)
  t.equal(answer.fingerprint256, new X509Certificate(set.serving.cert).fingerprint256)
  const agent = new Agent({ keepAlive: true })
  t.teardown(() => agent.destroy())
  t.equal((await httpsCall({ ...post, agent })).status, 200)
})

t.test('refuses a server whose certificate is not from the CA or not for the name', async t => {
  const other = await testCertificates()
  await t.rejects(httpsCall({ ...post, ca: other.ca.cert }), { code: /^(CERT_SIGNATURE_FAILURE|UNABLE_TO_VERIFY_LEAF_SIGNATURE)$/ }, 'another CA with the same name does not verify')
  await t.rejects(httpsCall({ ...post, servername: 'evil.example.com' }), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' })
  const { ca: _ca, ...withoutCa } = post
  await t.rejects(httpsCall(withoutCa), { code: /^(UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY|SELF_SIGNED_CERT_IN_CHAIN)$/ }, 'without a CA only the system roots are trusted')
})

t.test('a server that never answers is given up on after timeoutMs, and the connection is closed', async t => {
  const silent = createServer({ cert: set.serving.cert, key: set.serving.key }, () => {})
  const closed = new Promise<void>(resolve => silent.on('request', req => req.socket.once('close', () => resolve())))
  silent.listen(0, '127.0.0.1')
  await once(silent, 'listening')
  t.teardown(() => new Promise<void>(resolve => silent.close(() => resolve())))
  const { port } = silent.address() as AddressInfo
  await t.rejects(httpsCall({ ...post, port, timeoutMs: 200 }), { name: 'TimeoutError', message: `no complete answer from 127.0.0.1:${port} within 200 ms` })
  await closed // the server sees the connection go away (the test would time out otherwise)
})
