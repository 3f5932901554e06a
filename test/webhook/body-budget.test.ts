/**
 * The body budget: concurrent large reviews cannot take the webhook past its
 * memory limit. The pure reservation rules in a table, then the real HTTPS
 * server: large reviews beyond the budget wait (their bodies unread), the
 * line beyond its length is answered 429 with Retry-After, a small review
 * never waits, and a client that leaves gives its place back.
 */
import t from 'tap'
import { once } from 'node:events'
import { readFile } from 'node:fs/promises'
import { setImmediate as tick } from 'node:timers/promises'
import { BodyBudget, LARGE_BODY_BUDGET_BYTES, MAX_WAITING_REVIEWS, SMALL_BODY_BYTES, reservedBytes } from '../../webhook/body-budget.ts'
import { makeCertDir } from '../helpers/certs.ts'
import { httpsRequest, postReview, type HttpsResponse } from '../helpers/https.ts'
import { metricValue } from '../helpers/metrics.ts'
import type { Counter, Registry } from '#common/metrics.ts'
import { startTestWebhook, type TestWebhook } from '../helpers/webhook.ts'
import { MAX_BODY_BYTES } from '../../webhook/server.ts'

t.test('reservedBytes: only bodies over the small size and within the limit reserve', async t => {
  const limit = 1000_000
  for (const [headers, expected, why] of [
    [{}, undefined, 'no body'],
    [{ 'content-length': String(SMALL_BODY_BYTES) }, undefined, 'a small body'],
    [{ 'content-length': String(SMALL_BODY_BYTES + 1) }, SMALL_BODY_BYTES + 1, 'a larger body reserves its length'],
    [{ 'content-length': String(limit) }, limit, 'a body at the limit'],
    [{ 'content-length': String(limit + 1) }, undefined, 'a body the limit refuses anyway'],
    [{ 'content-length': 'x' }, undefined, 'a length that is not a number'],
    [{ 'transfer-encoding': 'chunked' }, limit, 'a chunked body reserves the whole limit']
  ] as const) t.equal(reservedBytes(headers, limit), expected, why)
})

t.test('BodyBudget grants in arrival order, refuses a full line, and lets a waiter leave', async t => {
  const budget = new BodyBudget(10, 2)
  const never = new AbortController().signal
  t.equal(budget.reserve(6, never), 'granted')
  t.equal(budget.reserve(4, never), 'granted', 'what fits is granted at once')
  const first = budget.reserve(5, never)
  const leaving = new AbortController()
  const second = budget.reserve(1, leaving.signal)
  t.type(first, Promise, 'what does not fit waits')
  t.type(second, Promise, 'and a small one waits behind it, first come first served')
  t.equal(budget.reserve(1, never), 'refused', 'a full line refuses')
  leaving.abort()
  t.equal(await second, false, 'a waiter that gives up is told so')
  t.equal(budget.waiting, 1, 'and leaves the line')
  budget.release(4)
  t.equal(budget.waiting, 1, 'the head still does not fit')
  budget.release(6)
  t.equal(await first, true, 'granted once enough is released')
  t.equal(budget.inUse, 5)
})

t.test('BodyBudget: a body larger than the capacity fits alone, and a waiter whose signal already fired is refused', async t => {
  const budget = new BodyBudget(10, 1)
  const never = new AbortController().signal
  t.equal(budget.reserve(25, never), 'granted')
  t.equal(budget.inUse, 10, 'counted as the whole capacity')
  t.equal(budget.reserve(1, AbortSignal.abort()), 'refused')
  budget.release(25)
  t.equal(budget.inUse, 0)
})

const { dir, set } = await makeCertDir(t)
const ca = set.ca.cert
const valid = JSON.parse(await readFile(new URL('../fixtures/admission/workshop-example-v1.json', import.meta.url), 'utf8')).review

/** The value of the counter `name` for `labels` in `registry`. */
async function count (registry: Registry, name: string, labels: Record<string, string>): Promise<number> {
  return await metricValue(registry.getSingleMetric(name) as Counter<string>, labels)
}

/** The valid review padded (in an annotation) to `bytes`. */
function reviewOfSize (bytes: number): string {
  const review = structuredClone(valid)
  review.request.object.metadata.annotations = { padding: '' }
  const base = JSON.stringify(review).length
  review.request.object.metadata.annotations.padding = 'x'.repeat(bytes - base)
  return JSON.stringify(review)
}

/** Sends `body` with its body held back until `release` is called: its reservation holds the budget meanwhile. */
async function holdBudget (webhook: TestWebhook, body: string): Promise<{ release: () => void, answer: Promise<HttpsResponse> }> {
  let release = (): void => {}
  const sendBody = new Promise<void>(resolve => { release = resolve })
  const arrived = once(webhook.httpsServer, 'request')
  const answer = httpsRequest({ port: webhook.port, ca, body, beforeBody: async write => { await sendBody; write(body) } })
  await arrived
  return { release, answer }
}

t.test('over HTTPS: large reviews beyond the budget wait, the line beyond its length gets 429, small ones pass', async t => {
  const webhook = await startTestWebhook(t, dir)
  const near = reviewOfSize(MAX_BODY_BYTES - 1024)
  const medium = reviewOfSize(SMALL_BODY_BYTES * 2)
  t.ok(near.length <= LARGE_BODY_BUDGET_BYTES && 2 * near.length > LARGE_BODY_BUDGET_BYTES, 'one near-limit review fills the budget')

  // A near-limit review whose body is held back holds the whole budget.
  const held = await holdBudget(webhook, near)
  // The line fills with medium reviews, whose bodies are sent at once and left unread.
  const waiting: Array<Promise<HttpsResponse>> = []
  for (let i = 0; i < MAX_WAITING_REVIEWS; i++) {
    const arrived = once(webhook.httpsServer, 'request')
    waiting.push(httpsRequest({ port: webhook.port, ca, body: medium }))
    await arrived
    await tick()
  }
  const refused = await httpsRequest({ port: webhook.port, ca, body: medium })
  t.equal(refused.status, 429, 'the next large review is refused')
  t.equal(refused.headers['retry-after'], '1', 'with Retry-After')
  t.match(JSON.parse(refused.text).message, /^too many large reviews in flight \(8 waiting for 8388608 bytes\); retry later$/)

  const small = await postReview(webhook.port, ca, valid)
  t.equal(small.status, 200, 'a small review is answered while the large ones wait')
  t.equal(small.body.response.allowed, true)

  held.release()
  const answers = await Promise.all([held.answer, ...waiting])
  t.same(answers.map(a => a.status), Array(1 + MAX_WAITING_REVIEWS).fill(200), 'every waiting review is answered once the budget frees')
  for (const answer of answers) t.equal(JSON.parse(answer.text).response.allowed, true)

  t.equal(await count(webhook.registry, 'spot_webhook_large_reviews_total', { result: 'granted' }), 1)
  t.equal(await count(webhook.registry, 'spot_webhook_large_reviews_total', { result: 'waited' }), MAX_WAITING_REVIEWS)
  t.equal(await count(webhook.registry, 'spot_webhook_large_reviews_total', { result: 'refused' }), 1)
  t.equal(await count(webhook.registry, 'spot_webhook_admission_requests_total', { operation: 'unknown', outcome: 'throttled', mutated: 'false' }), 1, 'the 429 is counted as throttled')
  t.ok(webhook.logs.some(line => line.msg === 'request throttled' && line.status === 429), 'and logged')
})

t.test('over HTTPS: a waiting client that leaves gives its place back', async t => {
  const webhook = await startTestWebhook(t, dir)
  const near = reviewOfSize(MAX_BODY_BYTES - 1024)
  const held = await holdBudget(webhook, near)
  const arrived = once(webhook.httpsServer, 'request')
  // Headers only: a client that stops before its body and hangs up.
  const leaving = httpsRequest({ port: webhook.port, ca, body: near, timeoutMs: 300, beforeBody: async () => await new Promise(() => {}) })
  await arrived
  await t.rejects(leaving, { name: 'TimeoutError' }, 'the client gives up while waiting')
  while (await count(webhook.registry, 'spot_webhook_large_reviews_total', { result: 'gave_up' }) !== 1) await new Promise(resolve => setTimeout(resolve, 10))
  held.release()
  t.equal((await held.answer).status, 200)
  const after = await httpsRequest({ port: webhook.port, ca, body: near })
  t.equal(after.status, 200, 'the budget is whole again: a near-limit review is answered at once')
  t.equal(await count(webhook.registry, 'spot_webhook_large_reviews_total', { result: 'granted' }), 2)
})
