import t from 'tap'
import { Writable } from 'node:stream'
import { createLogger } from '#common/logger.ts'

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
