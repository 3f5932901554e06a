/** The event store's bookkeeping (pure) and its dispatcher (jobs run, ends fed back, close waits). */
import t from 'tap'
import { EventDispatcher, EventStore, type Job, type JobEnd, type UndoJob } from '../../agent/event-store.ts'
import { NoticeParseError, type Notice } from '../../agent/notices.ts'

const spot: Notice = { kind: 'spot-itn', eventId: 'itn-1', deadline: 120_000, state: 'active', detail: 'spot' }
const maintenance: Notice = { kind: 'scheduled-maintenance', eventId: 'ev-1', deadline: 600_000, state: 'active', detail: 'reboot' }
const rehearsal = (id: string): Notice => ({ kind: 'spot-itn', eventId: id, deadline: 120_000, state: 'active', detail: 'rehearsal', rehearsal: true })
const undoOf = (n: Notice, why: string): UndoJob => ({ type: 'undo', eventId: n.eventId, kind: n.kind, why })

/** Each row: what happens, then the job the store hands out for the last step (undefined: none). */
const rows: Array<{ name: string, steps: (s: EventStore) => Job | Job[] | undefined, expect: unknown }> = [
  { name: 'a new active notice starts an announcing action', steps: s => s.noticeSeen(spot), expect: { type: 'act', notice: spot, announce: true } },
  { name: 'the same notice while its action runs starts nothing', steps: s => { s.noticeSeen(spot); return s.noticeSeen(spot) }, expect: undefined },
  { name: 'a finished action is not repeated', steps: s => { s.jobEnded(s.noticeSeen(spot)!, 'finished'); return s.noticeSeen(spot) }, expect: undefined },
  { name: 'a failed action is retried on the next sighting, without announcing again', steps: s => { s.jobEnded(s.noticeSeen(spot)!, 'failed'); return s.noticeSeen(spot) }, expect: { type: 'act', announce: false } },
  { name: 'a handed-over action is not marked done', steps: s => { s.jobEnded(s.noticeSeen(spot)!, 'handed-over'); return s.noticeSeen(spot) }, expect: { type: 'act', announce: false } },
  { name: 'another event runs beside the first', steps: s => { s.noticeSeen(spot); return s.noticeSeen(maintenance) }, expect: { type: 'act', notice: maintenance } },
  { name: 'a canceled notice asks for an undo', steps: s => s.noticeSeen({ ...maintenance, state: 'canceled' }), expect: { type: 'undo', eventId: 'ev-1', why: 'canceled' } },
  { name: 'an undo asked while the action runs waits for it, then starts', steps: s => { const act = s.noticeSeen(maintenance)!; t.equal(s.undoAsked(undoOf(maintenance, 'canceled')), undefined); return s.jobEnded(act, 'finished') }, expect: [{ type: 'undo', why: 'canceled' }] },
  { name: 'a held undo also follows a failed action', steps: s => { const act = s.noticeSeen(maintenance)!; s.undoAsked(undoOf(maintenance, 'completed')); return s.jobEnded(act, 'failed') }, expect: [{ type: 'undo', why: 'completed' }] },
  { name: 'an undo is asked for once while it runs', steps: s => { s.undoAsked(undoOf(spot, 'rebooted')); return s.undoAsked(undoOf(spot, 'rebooted')) }, expect: undefined },
  { name: 'a finished undo ends the event: no action, no second undo', steps: s => { s.jobEnded(s.undoAsked(undoOf(maintenance, 'canceled'))!, 'finished'); return [s.noticeSeen(maintenance), s.undoAsked(undoOf(maintenance, 'canceled'))].filter(j => j !== undefined) }, expect: [] },
  { name: 'a failed undo is asked for again', steps: s => { s.jobEnded(s.undoAsked(undoOf(maintenance, 'canceled'))!, 'failed'); return s.undoAsked(undoOf(maintenance, 'canceled')) }, expect: { type: 'undo' } },
  { name: 'a second rehearsal waits while one runs', steps: s => { s.noticeSeen(rehearsal('rehearsal-a')); return s.noticeSeen(rehearsal('rehearsal-b')) }, expect: undefined },
  { name: 'a real notice is not held up by a rehearsal', steps: s => { s.noticeSeen(rehearsal('rehearsal-a')); return s.noticeSeen(spot) }, expect: { type: 'act', notice: spot } },
  { name: 'after close nothing starts', steps: s => { s.close(); return [s.noticeSeen(spot), s.undoAsked(undoOf(spot, 'x'))].filter(j => j !== undefined) }, expect: [] },
  { name: 'after close a held undo is dropped', steps: s => { const act = s.noticeSeen(maintenance)!; s.undoAsked(undoOf(maintenance, 'canceled')); s.close(); return s.jobEnded(act, 'handed-over') }, expect: [] }
]

for (const row of rows) {
  t.test(row.name, async t => {
    const got = row.steps(new EventStore())
    // Nothing expected means exactly nothing: t.match would accept any array for [].
    if (row.expect === undefined || (Array.isArray(row.expect) && row.expect.length === 0)) t.same(got, row.expect)
    else t.match(got, row.expect as object)
  })
}

t.test('unparseable bodies become an Event at most once per kind per ten minutes, the next one counting those left out', async t => {
  const s = new EventStore()
  const minute = 60_000
  t.same([0, 1, 2].map(i => s.unparseableSeen('spot-itn', i * 1000)), [{ report: true, suppressed: 0 }, { report: false, suppressed: 1 }, { report: false, suppressed: 2 }])
  t.same(s.unparseableSeen('scheduled-maintenance', 3000), { report: true, suppressed: 0 }, 'each kind on its own')
  t.same(s.unparseableSeen('spot-itn', 10 * minute - 1), { report: false, suppressed: 3 })
  t.same(s.unparseableSeen('spot-itn', 10 * minute), { report: true, suppressed: 3 }, 'after ten minutes, one Event with the count')
  t.same(s.unparseableSeen('spot-itn', 10 * minute + 1), { report: false, suppressed: 1 })
})

t.test('the running jobs are listed', async t => {
  const s = new EventStore()
  s.noticeSeen(spot)
  s.undoAsked(undoOf(maintenance, 'canceled'))
  t.same(s.running().map(j => j.type).sort(), ['act', 'undo'])
})

t.test('the dispatcher runs jobs, starts a held undo after the action, and close waits for running jobs', async t => {
  const ran: string[] = []
  let release = (): void => {}
  const gate = new Promise<void>(resolve => { release = resolve })
  const unparseable: boolean[] = []
  let clock = 0
  const d = new EventDispatcher({
    run: async (job): Promise<JobEnd> => {
      ran.push(job.type === 'act' ? `act ${job.notice.eventId}` : `undo ${job.eventId} ${job.why}`)
      if (job.type === 'act') await gate
      return 'finished'
    },
    unparseable: (_kind, _error, verdict) => { unparseable.push(verdict.report) }
  }, () => clock)
  d.notice(maintenance)
  d.notice({ ...maintenance, state: 'canceled' })
  d.notice(maintenance)
  t.same(ran, ['act ev-1'], 'the undo waits; the repeat is ignored')
  const closed = d.close()
  d.notice(spot)
  release()
  await closed
  t.same(ran, ['act ev-1'], 'closed: neither the held undo nor a new notice started')
  const error = new NoticeParseError('spot-itn', 'not JSON', 'garbage')
  d.unparseable('spot-itn', error)
  clock = 1000
  d.unparseable('spot-itn', error)
  clock = 600_000
  d.unparseable('spot-itn', error)
  t.same(unparseable, [true, false, true], 'reports at the dispatcher\'s clock')
})

t.test('a runner that throws counts as a failure: the notice is retried when seen again', async t => {
  let calls = 0
  const d = new EventDispatcher({
    run: async (): Promise<JobEnd> => { calls++; if (calls === 1) throw new Error('boom'); return 'finished' },
    unparseable: () => {}
  })
  d.notice(spot)
  await new Promise(resolve => setImmediate(resolve))
  d.notice(spot)
  await d.close()
  t.equal(calls, 2)
  d.notice(spot)
  t.equal(calls, 2, 'finished, and closed: nothing more')
})
