/** The list-watch's reconnect delay: exponential, capped, with jitter between half and all of the step. */
import t from 'tap'
import { reconnectDelayMs } from '../../agent/watch.ts'

t.test('reconnect delays double from the base, stop at the cap, and jitter between half and all of the step', async t => {
  t.same([1, 2, 3, 4, 10].map(n => reconnectDelayMs(n, 500, 30_000, () => 1)), [500, 1000, 2000, 4000, 30_000])
  t.same([1, 2, 3].map(n => reconnectDelayMs(n, 500, 30_000, () => 0)), [250, 500, 1000])
  t.equal(reconnectDelayMs(0, 500, 30_000, () => 1), 500, 'no failure yet counts as the first')
})
