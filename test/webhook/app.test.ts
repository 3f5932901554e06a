/**
 * Lifecycle of the in-process webhook: stop() lets a request in flight finish
 * and refuses new connections; the shutdown timeout closes connections that
 * never finish; /metrics exposes the admission metrics.
 */
import t from 'tap'
import { once } from 'node:events'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import Fastify from 'fastify'
import { createRegistry } from '#common/metrics.ts'
import { createWebhookMetrics } from '../../webhook/metrics.ts'
import { webhookPlugin, type WebhookPluginOptions, type WebhookServer } from '../../webhook/server.ts'
import { makeCertDir } from '../helpers/certs.ts'
import { httpsRequest, postReview } from '../helpers/https.ts'
import { startTestWebhook, type TestWebhook } from '../helpers/webhook.ts'

const review = JSON.parse(await readFile(new URL('../fixtures/admission/workshop-example-v1.json', import.meta.url), 'utf8')).review
const body = JSON.stringify(review)

/**
 * Sends the review in two parts: the first 50 bytes, then, once the server has
 * the request, `during()`, then the rest of the body only when `finish` is true.
 */
function reviewInterruptedBy (webhook: TestWebhook, ca: string, during: () => Promise<unknown>, finish: boolean): ReturnType<typeof httpsRequest> {
  const received = once(webhook.httpsServer, 'request')
  return httpsRequest({
    port: webhook.port,
    ca,
    body,
    beforeBody: async write => {
      write(body.slice(0, 50))
      await received
      await during()
      if (finish) write(body.slice(50))
    }
  })
}

t.test('stop() finishes the request in flight, then refuses new connections', async t => {
  const { dir, set } = await makeCertDir(t)
  const webhook = await startTestWebhook(t, dir)
  let stopped!: Promise<void>
  const res = await reviewInterruptedBy(webhook, set.ca.cert, async () => {
    stopped = webhook.stop()
    const ready = await fetch(`http://127.0.0.1:${webhook.metricsPort}/readyz`)
    t.equal(ready.status, 503, 'not ready while shutting down')
    t.match(await ready.text(), /shutting down/)
  }, true)
  t.equal(res.status, 200, 'the in-flight request is answered')
  t.equal(JSON.parse(res.text).response.uid, review.request.uid)
  await stopped
  t.equal(webhook.stop(), stopped, 'stop() is idempotent')
  await t.rejects(postReview(webhook.port, set.ca.cert, review), { code: 'ECONNREFUSED' }, 'new connections are refused')
  t.ok(webhook.logs.some(l => l.msg === 'stopped'), 'logs that it stopped')
})

t.test('the shutdown timeout closes a connection whose request never completes', async t => {
  const { dir, set } = await makeCertDir(t)
  const webhook = await startTestWebhook(t, dir, ['--shutdown-timeout', '50ms'])
  const stuck = reviewInterruptedBy(webhook, set.ca.cert, () => webhook.stop(), false)
  await t.rejects(stuck, 'the stuck request is cut off')
  t.ok(webhook.logs.some(l => l.msg === 'shutdown timeout reached; closing remaining connections'))
})

t.test('/metrics counts reviews by operation, outcome and mutated, with a latency histogram', async t => {
  const { dir, set } = await makeCertDir(t)
  const webhook = await startTestWebhook(t, dir)
  await postReview(webhook.port, set.ca.cert, review)
  await postReview(webhook.port, set.ca.cert, { ...review, request: { ...review.request, operation: 'DELETE', object: null, oldObject: review.request.object } })
  const res = await fetch(`http://127.0.0.1:${webhook.metricsPort}/metrics`)
  const text = await res.text()
  t.match(text, /spot_webhook_admission_requests_total\{operation="CREATE",outcome="allowed",mutated="true"\} 1/)
  t.match(text, /spot_webhook_admission_requests_total\{operation="DELETE",outcome="allowed",mutated="false"\} 1/)
  t.match(text, /spot_webhook_admission_duration_seconds_count\{operation="CREATE"\} 1/)
  t.match(text, /spot_webhook_certificate_expiry_timestamp_seconds \d{10}/)
})

t.test('startup fails with the port in the error when the port is taken, and releases what it opened', async t => {
  const { dir } = await makeCertDir(t)
  const first = await startTestWebhook(t, dir)
  await t.rejects(startTestWebhook(t, dir, ['--port', String(first.port)]), { name: 'ConfigError', message: new RegExp(`^cannot listen on 127\\.0\\.0\\.1:${first.port} \\(--port \\(WEBHOOK_PORT\\)\\): .*\\(EADDRINUSE\\)$`) })
  const server = (await import('node:net')).createServer()
  server.listen(first.metricsPort, '127.0.0.1')
  await once(server, 'error').then(([err]) => t.equal((err as NodeJS.ErrnoException).code, 'EADDRINUSE', 'the first webhook still holds its ports'))
})

t.test('the plugin checks its options once, at registration, and closes its certificate reloader with fastify', async t => {
  const { dir } = await makeCertDir(t)
  const options = (change: Partial<WebhookPluginOptions['config']> = {}, certDir = dir): WebhookPluginOptions => ({
    config: { nodeSelector: { lifecycle: 'Ec2Spot' }, policy: { names: ['x'], labelKeys: ['app'], images: ['x'] }, ...change },
    metrics: createWebhookMetrics(createRegistry(false)),
    certDir,
    certDebounceMs: 10
  })
  const bad: Array<[WebhookPluginOptions, RegExp]> = [
    [options({ nodeSelector: {} }), /the nodeSelector to inject is empty/],
    [options({ nodeSelector: { 'Bad Key': 'x' } }), /nodeSelector: label key "Bad Key" has an invalid name/],
    [options({ nodeSelector: { lifecycle: 'not a value' } }), /nodeSelector: "not a value" of "lifecycle" is not a valid label value/],
    [options({ policy: { names: [], labelKeys: ['app'], images: ['x'] } }), /must not be empty/],
    [options({}, ' '), /certDir is empty/]
  ]
  for (const [o, message] of bad) {
    const app = Fastify({ https: {}, logger: false })
    await t.rejects(async () => { await app.register(webhookPlugin, o).ready() }, message)
    await app.close()
  }
  const app = Fastify({ https: {}, logger: false })
  await app.register(webhookPlugin, options())
  await app.ready()
  const reloader = (app as unknown as WebhookServer).certificates
  t.ok(reloader.current, 'the certificate was loaded at registration')
  let reloads = 0
  reloader.on('reject', () => reloads++)
  await app.close()
  await writeFile(join(dir, 'tls.crt'), 'garbage')
  await new Promise(resolve => setTimeout(resolve, 100))
  await reloader.reload()
  t.equal(reloads, 0, 'a stopped reloader reads nothing more')
})
