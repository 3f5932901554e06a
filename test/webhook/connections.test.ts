/**
 * Connections: slow and half-open clients are cut off by the handshake,
 * header and request timeouts; connections beyond the cap are closed on
 * accept; TLS 1.2 offers only forward-secret AEAD suites, also after a
 * certificate rotation. The timeouts are shortened through the start seam so
 * each case takes a second, and the shipped values are checked on the server.
 */
import t from 'tap'
import { once } from 'node:events'
import { connect as tcpConnect, type Socket } from 'node:net'
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls'
import { readFile } from 'node:fs/promises'
import { CONNECTION_LIMITS } from '../../webhook/app.ts'
import { generateServingCert } from '../../certs/generate.ts'
import { makeCertDir, TEST_SERVER_NAME, TEST_SERVICE } from '../helpers/certs.ts'
import { postReview } from '../helpers/https.ts'
import { makeSecretVolume, publishSecret } from '../helpers/secret-volume.ts'
import { startTestWebhook } from '../helpers/webhook.ts'

const { dir, set } = await makeCertDir(t)
const ca = set.ca.cert
const review = JSON.parse(await readFile(new URL('../fixtures/admission/workshop-example-v1.json', import.meta.url), 'utf8')).review
/** Longest a case waits for the server to hang up before it fails. */
const GUARD_MS = 5_000

/** Resolves with what the server sent when it closes `socket`; rejects after GUARD_MS. */
async function closedByServer (socket: Socket): Promise<string> {
  let received = ''
  socket.on('data', (chunk: Buffer) => { received += chunk.toString('utf8') })
  socket.on('error', () => {})
  const guard = setTimeout(() => socket.destroy(new Error('still open')), GUARD_MS)
  await once(socket, 'close')
  clearTimeout(guard)
  if (socket.errored?.message === 'still open') throw new Error(`the server kept the connection open for ${GUARD_MS} ms`)
  return received
}

/** A verified TLS connection to the webhook, resolved once the handshake is done. */
async function openTls (port: number, options: ConnectionOptions = {}): Promise<TLSSocket> {
  const socket = tlsConnect({ host: '127.0.0.1', port, ca, servername: TEST_SERVER_NAME, ...options })
  await once(socket, 'secureConnect')
  return socket
}

/** Writes `text` one character every `everyMs` until the socket closes. */
function trickle (socket: Socket, text: string, everyMs: number): void {
  let i = 0
  const timer = setInterval(() => {
    if (socket.destroyed || i >= text.length) { clearInterval(timer); return }
    socket.write(text[i++]!)
  }, everyMs)
}

t.test('the shipped limits are the ones the server runs with', async t => {
  const webhook = await startTestWebhook(t, dir)
  const server = webhook.httpsServer
  t.equal(server.headersTimeout, CONNECTION_LIMITS.headersTimeoutMs)
  t.equal(server.requestTimeout, CONNECTION_LIMITS.requestTimeoutMs)
  t.equal(server.keepAliveTimeout, CONNECTION_LIMITS.keepAliveTimeoutMs)
  t.equal(server.maxConnections, CONNECTION_LIMITS.maxConnections)
  t.ok(CONNECTION_LIMITS.keepAliveTimeoutMs > 90_000, 'idle connections outlive the API server client\'s 90 s idle timeout')
  t.ok(CONNECTION_LIMITS.requestTimeoutMs >= 30_000, 'no webhook call (at most 30 s) is cut short')
})

t.test('a client that connects and never starts TLS is closed at the handshake timeout', async t => {
  const webhook = await startTestWebhook(t, dir, [], { connectionLimits: { handshakeTimeoutMs: 300 } })
  const socket = tcpConnect({ host: '127.0.0.1', port: webhook.port })
  await once(socket, 'connect')
  t.equal(await closedByServer(socket), '', 'closed without a word')
})

t.test('a client that sends its headers slowly gets 408 at the headers timeout', async t => {
  const webhook = await startTestWebhook(t, dir, [], { connectionLimits: { headersTimeoutMs: 500, checkIntervalMs: 100 } })
  const socket = await openTls(webhook.port)
  socket.write('POST /mutate HTTP/1.1\r\nHost: x\r\n')
  trickle(socket, 'X-Slow: ' + 'a'.repeat(200), 50)
  t.match(await closedByServer(socket), /^HTTP\/1\.1 408 /)
})

t.test('a client that sends its body slowly gets 408 at the request timeout', async t => {
  const webhook = await startTestWebhook(t, dir, [], { connectionLimits: { headersTimeoutMs: 400, requestTimeoutMs: 800, checkIntervalMs: 100 } })
  const socket = await openTls(webhook.port)
  socket.write('POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n')
  trickle(socket, ' '.repeat(1000), 50)
  t.match(await closedByServer(socket), /^HTTP\/1\.1 408 /)
})

t.test('connections beyond the cap are closed on accept; a freed place is taken again', async t => {
  const webhook = await startTestWebhook(t, dir, [], { connectionLimits: { maxConnections: 3 } })
  const open = [await openTls(webhook.port), await openTls(webhook.port), await openTls(webhook.port)]
  const extra = tcpConnect({ host: '127.0.0.1', port: webhook.port })
  t.equal(await closedByServer(extra), '', 'the fourth connection is dropped')
  open[0]!.destroy()
  await once(open[0]!, 'close')
  await new Promise(resolve => setTimeout(resolve, 50))
  const res = await postReview(webhook.port, ca, review)
  t.equal(res.status, 200, 'a review is answered once a place is free')
  for (const socket of open) socket.destroy()
})

t.test('TLS 1.2 offers only forward-secret AEAD suites, before and after a rotation', async t => {
  const volume = await makeSecretVolume(t)
  await publishSecret(volume, { 'tls.crt': set.serving.cert, 'tls.key': set.serving.key })
  const webhook = await startTestWebhook(t, volume)
  const handshake = async (ciphers: string): Promise<string> => {
    try {
      const socket = await openTls(webhook.port, { maxVersion: 'TLSv1.2', ciphers })
      const cipher = socket.getCipher().standardName
      socket.destroy()
      return cipher
    } catch (err) {
      return `refused: ${(err as Error).message}`
    }
  }
  const check = async (when: string): Promise<void> => {
    for (const cbc of ['ECDHE-ECDSA-AES128-SHA', 'ECDHE-ECDSA-AES256-SHA', 'ECDHE-ECDSA-AES128-SHA256', 'ECDHE-ECDSA-AES256-SHA384']) {
      t.match(await handshake(cbc), /^refused: .*handshake failure/, `${cbc} is refused ${when}`)
    }
    t.equal(await handshake('ECDHE-ECDSA-AES128-GCM-SHA256'), 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256', `an AEAD suite is accepted ${when}`)
    const tls13 = await openTls(webhook.port)
    t.equal(tls13.getProtocol(), 'TLSv1.3', `TLS 1.3 is negotiated by default ${when}`)
    tls13.destroy()
  }
  await check('at start')
  const second = await generateServingCert(set.ca, { ...TEST_SERVICE, hosts: ['127.0.0.1'], days: 1, keyType: 'ecdsa' })
  const rotated = once(webhook.reloader, 'load')
  await publishSecret(volume, { 'tls.crt': second.cert, 'tls.key': second.key })
  await rotated
  await check('after a rotation')
})
