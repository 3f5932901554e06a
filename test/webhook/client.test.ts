/** webhook/client.ts: verifies the server for the Service name and reports status, body and TLS version. */
import t from 'tap'
import { readFile } from 'node:fs/promises'
import { Agent } from 'node:https'
import { postJson } from '../../webhook/client.ts'
import { MUTATE_PATH } from '../../webhook/server.ts'
import { makeCertDir, TEST_SERVER_NAME, testCertificates } from '../helpers/certs.ts'
import { startTestWebhook } from '../helpers/webhook.ts'

const { dir, set } = await makeCertDir(t)
const webhook = await startTestWebhook(t, dir)
const review = (await readFile(new URL('../fixtures/admission/workshop-example-v1.json', import.meta.url), 'utf8'))
const post = { host: '127.0.0.1', port: webhook.port, path: MUTATE_PATH, ca: set.ca.cert, servername: TEST_SERVER_NAME, body: JSON.stringify(JSON.parse(review).review) }

t.test('answers with status, body and the TLS version, on a fresh or a kept-alive connection', async t => {
  const answer = await postJson(post)
  t.equal(answer.status, 200)
  t.equal(JSON.parse(answer.text).response.allowed, true)
  t.match(answer.tlsProtocol, /^TLSv1\.[23]$/)
  const agent = new Agent({ keepAlive: true })
  t.teardown(() => agent.destroy())
  t.equal((await postJson({ ...post, agent })).status, 200)
})

t.test('refuses a server whose certificate is not from the CA or not for the name', async t => {
  const other = await testCertificates()
  await t.rejects(postJson({ ...post, ca: other.ca.cert }), { code: /^(CERT_SIGNATURE_FAILURE|UNABLE_TO_VERIFY_LEAF_SIGNATURE)$/ }, 'another CA with the same name does not verify')
  await t.rejects(postJson({ ...post, servername: 'evil.example.com' }), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' })
})
