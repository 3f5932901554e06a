import t from 'tap'
import {
  earlierDeadline, eventIdFor, parseNoticeBody, parseScheduledEvents, parseSpotInstanceAction, parseTargetLifecycleState,
  NOTICE_KINDS, NOTICE_PATHS, type Notice
} from '../../agent/notices.ts'

const instance = { instanceId: 'i-1', bootId: 'b2c5a1e0-0000-4000-8000-000000000001' }
import { isLabelValue } from '#common/names.ts'

t.test('a spot interruption notice becomes one active notice whose deadline is the action time', async t => {
  const r = parseSpotInstanceAction('{"action":"terminate","time":"2017-09-18T08:22:00Z"}', instance)
  t.ok(r.ok)
  if (!r.ok) return
  t.equal(r.notices.length, 1)
  const n = r.notices[0]!
  t.equal(n.kind, 'spot-itn')
  t.equal(n.state, 'active')
  t.equal(n.deadline, Date.parse('2017-09-18T08:22:00Z'))
  t.match(n.eventId, /^itn-[0-9a-f]{16}$/)
  t.match(n.detail, /terminate at 2017-09-18T08:22:00.000Z/)
})

t.test('a spot interruption is known by the boot and the action: the same on every poll, whatever its time says', async t => {
  const a = parseSpotInstanceAction('{"action":"terminate","time":"2017-09-18T08:22:00Z"}', instance)
  const b = parseSpotInstanceAction('{ "time": "2017-09-18T08:22:00Z", "action": "terminate" }', instance)
  const moved = parseSpotInstanceAction('{"action":"terminate","time":"2017-09-18T08:24:00Z"}', instance)
  const stop = parseSpotInstanceAction('{"action":"stop","time":"2017-09-18T08:22:00Z"}', instance)
  const nextBoot = parseSpotInstanceAction('{"action":"terminate","time":"2017-09-18T08:22:00Z"}', { ...instance, bootId: 'another-boot' })
  const noBootId = parseSpotInstanceAction('{"action":"terminate","time":"2017-09-18T08:22:00Z"}', { instanceId: 'i-1' })
  const otherInstance = parseSpotInstanceAction('{"action":"terminate","time":"2017-09-18T08:22:00Z"}', { instanceId: 'i-2' })
  const id = (r: typeof a): string => r.ok ? r.notices[0]!.eventId : 'error'
  t.equal(id(a), id(b))
  t.equal(id(a), id(moved), 'a later time on the next poll is the same interruption')
  t.not(id(a), id(stop), 'another action is another event')
  t.not(id(a), id(nextBoot), 'after a stop and start, a new interruption is a new event')
  t.not(id(noBootId), id(otherInstance), 'without a boot id, the instance id tells instances apart')
  t.equal(moved.ok && moved.notices[0]!.deadline, Date.parse('2017-09-18T08:24:00Z'), 'each sighting keeps its own time as the deadline')
})

t.test('of two sightings, the earlier deadline is kept', async t => {
  const n = (deadline?: number): Notice => ({ kind: 'spot-itn', eventId: 'itn-1', state: 'active', detail: '', ...(deadline === undefined ? {} : { deadline }) })
  t.equal(earlierDeadline(n(5), n(7)).deadline, 5)
  t.equal(earlierDeadline(n(7), n(5)).deadline, 5)
  t.equal(earlierDeadline(n(), n(5)).deadline, 5)
  t.equal(earlierDeadline(n(5), n()).deadline, 5)
})

const garbage: Array<[typeof NOTICE_KINDS[number], string, RegExp]> = [
  ['spot-itn', '\uFFFD\u0000{"<!--', /not JSON/],
  ['spot-itn', '[]', /not a JSON object/],
  ['spot-itn', '{"action":"explode","time":"2017-09-18T08:22:00Z"}', /action must be/],
  ['spot-itn', '{"action":"terminate","time":"soon"}', /time is missing/],
  ['spot-itn', '{"action":"terminate"}', /time is missing/],
  ['rebalance-recommendation', 'nope', /not JSON/],
  ['rebalance-recommendation', '"x"', /not a JSON object/],
  ['rebalance-recommendation', '{"noticeTime":42}', /noticeTime/],
  ['scheduled-maintenance', '{"Code":"system-reboot"}', /not a JSON array/],
  ['scheduled-maintenance', '[1]', /entry 0 is not an object/],
  ['scheduled-maintenance', '[{"Code":"system-reboot","State":"active","NotBefore":"21 Jan 2019 09:00:43 GMT"}]', /lacks Code or EventId/],
  ['scheduled-maintenance', '[{"Code":"system-reboot","EventId":"e-1","State":"pending","NotBefore":"21 Jan 2019 09:00:43 GMT"}]', /State "pending"/],
  ['scheduled-maintenance', '[{"Code":"system-reboot","EventId":"e-1","State":"active","NotBefore":"someday"}]', /NotBefore/],
  ['asg-lifecycle-termination', '{"state":"Terminated"}', /lifecycle state word/]
]

t.test('bodies that do not mean what AWS documents are parse errors naming the problem', async t => {
  for (const [kind, body, problem] of garbage) {
    const r = parseNoticeBody(kind, body, instance)
    t.notOk(r.ok, `${kind}: ${body}`)
    if (r.ok) continue
    t.equal(r.error.kind, kind)
    t.match(r.error.message, problem, `${kind}: ${body}`)
    t.match(r.error.message, `unparseable ${kind}`)
  }
})

t.test('a long garbage body is cut short in the error', async t => {
  const r = parseNoticeBody('spot-itn', 'x'.repeat(500), instance)
  t.notOk(r.ok)
  if (!r.ok) t.ok(r.error.excerpt.length <= 121)
})

t.test('a rebalance recommendation has no deadline and an id from its notice time', async t => {
  const a = parseNoticeBody('rebalance-recommendation', '{"noticeTime":"2020-10-27T08:22:00Z"}', instance)
  t.ok(a.ok)
  if (!a.ok) return
  t.equal(a.notices[0]!.deadline, undefined)
  t.match(a.notices[0]!.eventId, /^rebalance-[0-9a-f]{16}$/)
})

t.test('scheduled events: every entry becomes a notice with its code and state', async t => {
  const body = JSON.stringify([
    { NotBefore: '21 Jan 2019 09:00:43 GMT', Code: 'system-reboot', Description: 'scheduled reboot', EventId: 'instance-event-0d59937288b749b32', NotAfter: '21 Jan 2019 09:17:23 GMT', State: 'active' },
    { NotBefore: '22 Jan 2019 09:00:43 GMT', Code: 'system-maintenance', Description: 'network', EventId: 'instance-event-1', State: 'active' },
    { NotBefore: '23 Jan 2019 09:00:43 GMT', Code: 'instance-stop', Description: '', EventId: 'instance-event-2', State: 'canceled' },
    { NotBefore: '24 Jan 2019 09:00:43 GMT', Code: 'instance-retirement', Description: 'x', EventId: 'not a label value!', State: 'completed' }
  ])
  const r = parseScheduledEvents(body)
  t.ok(r.ok)
  if (!r.ok) return
  t.same(r.notices.map(n => [n.eventId.startsWith('scheduled-') ? 'hashed' : n.eventId, n.code, n.state]), [
    ['instance-event-0d59937288b749b32', 'system-reboot', 'active'],
    ['instance-event-1', 'system-maintenance', 'active'],
    ['instance-event-2', 'instance-stop', 'canceled'],
    ['hashed', 'instance-retirement', 'completed']
  ])
  t.equal(r.notices[0]!.deadline, Date.parse('21 Jan 2019 09:00:43 GMT'))
  t.match(r.notices[0]!.detail, /system-reboot.*scheduled reboot/)
  t.ok(r.notices.every(n => isLabelValue(n.eventId)))
  t.same(parseScheduledEvents('[]'), { ok: true, notices: [] })
})

t.test('the ASG target lifecycle state is a notice only when Terminated', async t => {
  t.same(parseTargetLifecycleState('InService', 'i-1'), { ok: true, notices: [] })
  t.same(parseTargetLifecycleState('Warmed:Stopped', 'i-1'), { ok: true, notices: [] })
  const a = parseTargetLifecycleState('Terminated\n', 'i-1')
  const b = parseTargetLifecycleState('Terminated', 'i-2')
  t.ok(a.ok && b.ok)
  if (!a.ok || !b.ok) return
  t.equal(a.notices[0]!.kind, 'asg-lifecycle-termination')
  t.not(a.notices[0]!.eventId, b.notices[0]!.eventId, 'the id comes from the instance')
})

t.test('event ids are valid label values of at most 63 characters', async t => {
  for (const kind of NOTICE_KINDS) {
    const id = eventIdFor(kind, 'x'.repeat(1000))
    t.ok(isLabelValue(id), id)
  }
  t.notOk(isLabelValue('a'.repeat(64)))
  t.notOk(isLabelValue('-a'))
  t.ok(isLabelValue(''))
})

t.test('every kind has an IMDS path', async t => {
  for (const kind of NOTICE_KINDS) t.match(NOTICE_PATHS[kind], /^\/latest\/meta-data\//)
})
