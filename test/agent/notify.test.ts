import t from 'tap'
import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DEFAULT_WEBHOOK_TEMPLATE, loadTemplate, notificationFields, renderTemplate, sendNotification } from '../../agent/notify.ts'
import type { DrainReport } from '../../agent/drain.ts'
import { captureLogger } from './helpers.ts'

const metadata = { instanceId: 'i-1', instanceType: 'm5.large', instanceLifeCycle: 'spot', availabilityZone: 'eu-west-1a', region: 'eu-west-1', localHostname: 'ip-10-0-0-1', localIp: '10.0.0.1' }
const notice = { kind: 'spot-itn' as const, eventId: 'itn-abc', deadline: Date.parse('2026-01-01T00:02:00Z'), state: 'active' as const, detail: 'Spot interruption' }
const report: DrainReport = { evicted: ['apps/web-1', 'apps/"quoted"'], deletedFinished: [], deletedAtDeadline: [{ pod: 'apps/db-0', pdb: 'db' }], skipped: [], blockers: [{ pod: 'apps/x', reason: 'emptyDir' }], stillTerminating: [], durationMs: 1234, complete: false, handedOver: false }

t.test('placeholders are filled in; unknown ones become empty', async t => {
  t.equal(renderTemplate('node {{ .NodeName }} / {{.Kind}} / {{ .Nope }}.', { NodeName: 'n1', Kind: 'spot-itn' }), 'node n1 / spot-itn / .')
})

t.test('in a JSON template values are escaped so the result stays JSON', async t => {
  const fields = notificationFields('n1', notice, metadata, report, 'drain "incomplete"\nsee logs', Date.parse('2026-01-01T00:00:00Z'))
  const body = renderTemplate(DEFAULT_WEBHOOK_TEMPLATE, fields)
  const parsed = JSON.parse(body) as { text: string }
  t.match(parsed.text, 'spot-itn on node n1 (instance i-1, m5.large, eu-west-1a), event itn-abc, deadline 2026-01-01T00:02:00.000Z')
  t.match(parsed.text, 'Pods: apps/web-1, apps/"quoted", apps/db-0.')
  t.match(parsed.text, 'Result: drain "incomplete"\nsee logs')
  t.equal(fields.Blockers, 'apps/x (emptyDir)')
  t.equal(fields.PodsDeletedAtDeadline, '1')
  t.equal(fields.StartTime, '2026-01-01T00:00:00.000Z')
})

t.test('fields without a drain or a deadline say so', async t => {
  const { deadline: _d, ...noDeadline } = notice
  const f = notificationFields('n1', noDeadline, metadata, undefined, 'cordoned', 0)
  t.equal(f.Deadline, 'none')
  t.equal(f.Pods, 'not drained')
  t.equal(f.PodsEvicted, '0')
  t.equal(f.Blockers, '')
  t.equal(notificationFields('n1', notice, metadata, { ...report, evicted: [], deletedAtDeadline: [] }, 'ok', 0).Pods, 'none')
})

t.test('the template comes from WEBHOOK_TEMPLATE, else the file, else the default', async t => {
  const dir = await mkdtemp(join(tmpdir(), 'agent-notify-'))
  const file = join(dir, 't.txt')
  await writeFile(file, 'from file {{ .NodeName }}')
  t.equal(await loadTemplate('inline', file), 'inline')
  t.equal(await loadTemplate('', file), 'from file {{ .NodeName }}')
  t.equal(await loadTemplate('', ''), DEFAULT_WEBHOOK_TEMPLATE)
  await t.rejects(loadTemplate('', join(dir, 'missing')), /cannot read --webhook-template-file \(WEBHOOK_TEMPLATE_FILE\) .*missing/)
})

t.test('the notification is POSTed with the configured headers and retried after a failure', async t => {
  const seen: Array<{ headers: IncomingMessage['headers'], body: string }> = []
  let failFirst = true
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', c => { body += c })
    req.on('end', () => {
      seen.push({ headers: req.headers, body })
      if (failFirst) { failFirst = false; res.writeHead(502).end(); return }
      res.writeHead(200).end('ok')
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>(resolve => server.close(() => resolve())))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`
  const slept: number[] = []
  const ok = await sendNotification({ url, headers: { authorization: 'Bearer x' }, sleep: async ms => { slept.push(ms) }, logger: captureLogger().logger }, '{"text":"hi"}')
  t.equal(ok, true)
  t.equal(seen.length, 2)
  t.equal(seen[1]!.headers.authorization, 'Bearer x')
  t.equal(seen[1]!.headers['content-type'], 'application/json')
  t.equal(seen[1]!.body, '{"text":"hi"}')
  t.same(slept, [250])
})

t.test('an unreachable webhook gives up after its tries without throwing', async t => {
  const server = createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  await new Promise<void>(resolve => server.close(() => resolve()))
  const { logger, lines } = captureLogger()
  const ok = await sendNotification({ url: `http://127.0.0.1:${port}/`, headers: {}, tries: 2, sleep: async () => {}, logger }, 'plain text')
  t.equal(ok, false)
  t.equal(lines().filter(l => l.msg === 'notification webhook request failed').length, 2)
})
