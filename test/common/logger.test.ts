import t from 'tap'
import { Writable } from 'node:stream'
import { createLogger, isoTimestamp, textLine } from '#common/logger.ts'

t.test('log lines are JSON with the program, a level name and an ISO time', async t => {
  const lines: string[] = []
  const sink = new Writable({ write (chunk, _enc, done) { lines.push(String(chunk)); done() } })
  const log = createLogger('spot-webhook', 'info', sink)
  log.debug('hidden below the level')
  log.child({ uid: 'u-1' }).info({ mutated: true }, 'review')
  await new Promise(resolve => setImmediate(resolve))
  t.equal(lines.length, 1)
  const line = JSON.parse(lines[0]!)
  t.match(line, { program: 'spot-webhook', level: 'info', uid: 'u-1', mutated: true, msg: 'review' })
  t.match(line.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
})

t.test('the time field is formatted once per millisecond but follows the clock', async t => {
  const timeOf = (field: string): number => Date.parse(JSON.parse(`{${field.slice(1)}}`).time)
  const before = Date.now()
  const first = isoTimestamp()
  t.ok(timeOf(first) >= before && timeOf(first) <= Date.now(), 'the current millisecond')
  await new Promise(resolve => setTimeout(resolve, 5))
  const later = isoTimestamp()
  t.ok(timeOf(later) >= timeOf(first) + 5, 'a later line gets a later time, not the cached one')
})

t.test('text lines: time, a three-letter level, the message, then key=value (the Node Termination Handler\'s console format)', async t => {
  const lines: string[] = []
  const sink = new Writable({ write (chunk, _enc, done) { lines.push(String(chunk)); done() } })
  const log = createLogger('spot-agent', 'info', sink, 'text')
  log.child({ eventId: 'itn-1' }).warn({ pods: 3, node: 'ip-10-0-0-1', detail: 'two words', cause: { message: 'x' } }, 'drain incomplete')
  await new Promise(resolve => setImmediate(resolve))
  t.equal(lines.length, 1)
  t.match(lines[0], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z WRN drain incomplete eventId=itn-1 pods=3 node=ip-10-0-0-1 detail="two words" cause=\{"message":"x"\}\n$/)
  t.equal(textLine('{"level":"info","time":"t","program":"p","msg":"m"}'), 't INF m\n', 'the program name is left out')
})
