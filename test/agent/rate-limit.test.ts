import t from 'tap'
import { createApiGate, Semaphore, TokenBucket } from '../../agent/rate-limit.ts'

t.test('the token bucket lets a burst through and then paces at the rate', async t => {
  let now = 0
  const bucket = new TokenBucket(10, 3, () => now, async () => {})
  t.same([bucket.reserve(), bucket.reserve(), bucket.reserve()], [0, 0, 0])
  t.equal(bucket.reserve(), 100, 'the fourth waits one token time')
  t.equal(bucket.reserve(), 200)
  now = 1000
  t.equal(bucket.reserve(), 0, 'refilled after a second')
})

t.test('take sleeps for the reserved wait', async t => {
  const slept: number[] = []
  const bucket = new TokenBucket(2, 1, () => 0, async ms => { slept.push(ms) })
  await bucket.take()
  await bucket.take()
  t.same(slept, [500])
})

t.test('the semaphore never runs more tasks at once than its limit', async t => {
  const sem = new Semaphore(2)
  let active = 0
  let peak = 0
  const releases: Array<() => void> = []
  const task = (): Promise<number> => sem.run(async () => {
    active++
    peak = Math.max(peak, active)
    await new Promise<void>(resolve => releases.push(resolve))
    active--
    return 1
  })
  const all = Promise.all([task(), task(), task(), task()])
  while (releases.length > 0 || active > 0) {
    await new Promise(resolve => setImmediate(resolve))
    releases.shift()?.()
  }
  t.same(await all, [1, 1, 1, 1])
  t.equal(peak, 2)
})

t.test('the gate passes results and errors through', async t => {
  const gate = createApiGate(100, 10, 2, () => 0, async () => {})
  t.equal(await gate.run(async () => 42), 42)
  await t.rejects(gate.run(async () => { throw new Error('boom') }), /boom/)
})
