import t, { type Test } from 'tap'
import { request } from 'node:http'
import { startImdsSim, type ImdsSim } from './imds/server.ts'
import { GARBAGE_BODY } from './imds/faults.ts'

async function sim (t: Test): Promise<ImdsSim> {
  const imds = await startImdsSim()
  t.teardown(() => imds.close())
  return imds
}

interface RawAnswer {
  status: number
  contentLength: number
  body: Buffer
  /** Whether the whole promised body arrived. */
  complete: boolean
}

/** A GET over a fresh connection that reports a short body instead of failing. */
function rawGet (imds: ImdsSim, path: string): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(imds.url + path, { agent: false }, res => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('error', () => { /* reported through complete === false */ })
      res.on('close', () => resolve({
        status: res.statusCode ?? 0,
        contentLength: Number(res.headers['content-length']),
        body: Buffer.concat(chunks),
        complete: res.complete
      }))
    })
    req.on('error', reject)
    req.end()
  })
}

const ACTION = '/latest/meta-data/spot/instance-action'

t.test('a status fault answers the chosen status with the IMDS error page, for the chosen count', async t => {
  const imds = await sim(t)
  imds.injectFault({ path: '/latest/meta-data/instance-id', kind: 'status', status: 503, count: 2 })
  const statuses = []
  for (let i = 0; i < 3; i++) {
    const res = await fetch(`${imds.url}/latest/meta-data/instance-id`)
    statuses.push(res.status)
    if (res.status === 503) t.match(await res.text(), /503 - Service Unavailable/)
    else t.equal(await res.text(), 'i-0123456789abcdef0')
  }
  t.same(statuses, [503, 503, 200])
  t.same(imds.requests.map(r => r.status), [503, 503, 200], 'the log shows what was sent')
})

t.test('a status fault defaults to 500, applies until cleared, and only to its path and method', async t => {
  const imds = await sim(t)
  imds.injectFault({ path: ACTION, method: 'get', kind: 'status' })
  imds.postSpotInterruption()
  t.equal((await fetch(imds.url + ACTION).then(async r => { await r.text(); return r.status })), 500)
  t.equal((await fetch(imds.url + ACTION).then(async r => { await r.text(); return r.status })), 500)
  t.equal((await fetch(`${imds.url}/latest/meta-data/instance-id`).then(async r => { await r.text(); return r.status })), 200, 'other paths unaffected')
  const head = await fetch(imds.url + ACTION, { method: 'HEAD' })
  t.equal(head.status, 200, 'other methods unaffected')
  imds.clearFaults()
  t.equal((await fetch(imds.url + ACTION).then(async r => { await r.text(); return r.status })), 200)
})

t.test('a fault can match paths by pattern and hit the token PUT', async t => {
  const imds = await sim(t)
  imds.injectFault({ path: /^\/latest\/api\//g, kind: 'status', status: 502, count: 1 })
  const put = (): Promise<number> => fetch(`${imds.url}/latest/api/token`, { method: 'PUT', headers: { 'X-aws-ec2-metadata-token-ttl-seconds': '60' } }).then(async r => { await r.text(); return r.status })
  t.equal(await put(), 502)
  t.equal(await put(), 200, 'count 1 is used up')
})

t.test('a drop fault closes the connection without an answer', async t => {
  const imds = await sim(t)
  imds.injectFault({ kind: 'drop', count: 1 })
  await t.rejects(fetch(`${imds.url}/latest/meta-data/instance-id`), { message: 'fetch failed' })
  t.equal(await fetch(`${imds.url}/latest/meta-data/instance-id`).then(r => r.text()), 'i-0123456789abcdef0', 'the next request is answered')
  t.same(imds.requests.map(r => r.status), [0, 200])
})

t.test('a truncate fault sends the real headers and only half the body', async t => {
  const imds = await sim(t)
  imds.postSpotInterruption()
  imds.injectFault({ path: ACTION, kind: 'truncate', count: 2 })
  const cut = await rawGet(imds, ACTION)
  t.equal(cut.status, 200)
  t.equal(cut.complete, false)
  t.ok(cut.body.length > 0 && cut.body.length < cut.contentLength, `${cut.body.length} of ${cut.contentLength} bytes arrived`)
  t.throws(() => JSON.parse(cut.body.toString('utf8')), SyntaxError, 'not valid JSON')
  await t.rejects(fetch(imds.url + ACTION).then(r => r.json()), 'fetch sees the body end early')
  const whole = await rawGet(imds, ACTION)
  t.equal(whole.complete, true, 'count 2 is used up')
  t.equal(whole.body.length, whole.contentLength)
  t.match(JSON.parse(whole.body.toString('utf8')), { action: 'terminate' })
})

t.test('a garbage fault answers 200 with bytes that are neither UTF-8 nor JSON', async t => {
  const imds = await sim(t)
  imds.postRebalanceRecommendation()
  imds.injectFault({ path: '/latest/meta-data/events/recommendations/rebalance', kind: 'garbage', count: 1 })
  const junk = await rawGet(imds, '/latest/meta-data/events/recommendations/rebalance')
  t.equal(junk.status, 200)
  t.equal(junk.complete, true)
  t.same(junk.body, GARBAGE_BODY)
  t.throws(() => new TextDecoder('utf-8', { fatal: true }).decode(junk.body), TypeError, 'invalid UTF-8')
  t.throws(() => JSON.parse(junk.body.toString('latin1')), SyntaxError, 'not JSON')
  const good = await rawGet(imds, '/latest/meta-data/events/recommendations/rebalance')
  t.match(JSON.parse(good.body.toString('utf8')), { noticeTime: String })
})

t.test('a latency fault answers normally after the delay', async t => {
  const imds = await sim(t)
  imds.injectFault({ path: '/latest/meta-data/instance-id', kind: 'latency', ms: 150, count: 1 })
  const started = performance.now()
  const res = await fetch(`${imds.url}/latest/meta-data/instance-id`)
  const waited = performance.now() - started
  t.equal(await res.text(), 'i-0123456789abcdef0')
  t.ok(waited >= 100, `answered after ${Math.round(waited)} ms`)
  t.same(imds.requests.map(r => [r.path, r.status]), [['/latest/meta-data/instance-id', 200]])
})

t.test('close does not wait for answers held back by latency', async t => {
  const imds = await startImdsSim()
  imds.injectFault({ kind: 'latency', ms: 60_000 })
  const pending = rawGet(imds, '/latest/meta-data/instance-id')
  // Give the request time to reach the server and be held (the assertions hold either way).
  await new Promise(resolve => setTimeout(resolve, 50))
  await imds.close()
  await t.rejects(pending, 'the held request fails instead of hanging')
})

t.test('invalid fault specs are refused with the field named', async t => {
  const imds = await sim(t)
  t.throws(() => imds.injectFault({ kind: 'explode' as 'drop' }), /fault kind must be one of latency, status, drop, truncate, garbage/)
  t.throws(() => imds.injectFault({ kind: 'latency', ms: -1 }), /fault ms must be a non-negative number/)
  t.throws(() => imds.injectFault({ kind: 'status', status: 99 }), /fault status must be an HTTP status code/)
  t.throws(() => imds.injectFault({ kind: 'drop', count: 0 }), /fault count must be a positive integer/)
  t.throws(() => imds.injectFault({ kind: 'drop', count: 1.5 }), /fault count must be a positive integer/)
  t.equal(await fetch(`${imds.url}/latest/meta-data/instance-id`).then(r => r.status), 200, 'nothing was injected')
})
