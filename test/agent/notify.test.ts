import t, { type Test } from 'tap'
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { connect as netConnect, type Server, type Socket } from 'node:net'
import { getCACertificates, setDefaultCACertificates } from 'node:tls'
import type { AddressInfo } from 'node:net'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DEFAULT_WEBHOOK_TEMPLATE, loadTemplate, notificationData, sendNotification, type NotificationInput } from '../../agent/notify.ts'
import { compileTemplate } from '../../agent/template/template.ts'
import type { DrainReport } from '../../agent/drain.ts'
import { captureLogger } from './helpers.ts'
import { TEST_SERVICE, testCertificates } from '../helpers/certs.ts'
import { generateServingCert } from '../../certs/generate.ts'

const metadata = { instanceId: 'i-1', instanceType: 'm5.large', instanceLifeCycle: 'spot', availabilityZone: 'eu-west-1a', region: 'eu-west-1', localHostname: 'ip-10-0-0-1', localIp: '10.0.0.1', accountId: '123456789012', publicHostname: '', publicIp: '' }
const notice = { kind: 'spot-itn' as const, eventId: 'itn-abc', deadline: Date.parse('2026-01-01T00:02:00Z'), state: 'active' as const, detail: 'Spot interruption' }
const report: DrainReport = { evicted: ['apps/web-1', 'apps/"quoted"'], deletedFinished: [], deletedAtDeadline: [{ pod: 'apps/db-0', pdb: 'db' }], skipped: [], blockers: [{ pod: 'apps/x', reason: 'emptyDir' }], stillTerminating: [], durationMs: 1234, complete: false, handedOver: false }

const renderDefault = (): string => compileTemplate(DEFAULT_WEBHOOK_TEMPLATE)(notificationData(input()))
const input = (over: Partial<NotificationInput> = {}): NotificationInput => ({
  nodeName: 'n1',
  nodeLabels: { 'topology.kubernetes.io/zone': 'eu-west-1a', lifecycle: 'Ec2Spot' },
  providerId: 'aws:///eu-west-1a/i-1',
  notice,
  metadata,
  drain: report,
  result: 'drain "incomplete"\nsee logs',
  seenAt: Date.parse('2026-01-01T00:00:00Z'),
  ...over
})

t.test('the data has the Node Termination Handler\'s fields and values, then ours', async t => {
  const data = notificationData(input())
  t.equal(data.Kind, 'SPOT_ITN')
  t.equal(data.Monitor, 'SPOT_ITN_MONITOR')
  t.same(data.StartTime, new Date(notice.deadline), 'StartTime is the interruption time')
  t.same(data.Pods, ['web-1', '"quoted"', 'db-0'], 'Pods is a list of pod names')
  t.same(data.NodeLabels, new Map([['topology.kubernetes.io/zone', 'eu-west-1a'], ['lifecycle', 'Ec2Spot']]), 'NodeLabels is a map')
  t.equal(data.AccountId, '123456789012')
  t.equal(data.ProviderID, 'aws:///eu-west-1a/i-1')
  t.equal(data.Deadline, '2026-01-01T00:02:00.000Z')
  t.same(data.Blockers, ['apps/x (emptyDir)'])
  t.same(data.EvictedPods, ['apps/web-1', 'apps/"quoted"', 'apps/db-0'])
  t.equal(data.PodsDeletedAtDeadline, 1)
  const { deadline: _d, ...noDeadline } = notice
  const plain = notificationData(input({ notice: { ...noDeadline, kind: 'rebalance-recommendation' }, drain: undefined }))
  t.equal(plain.Kind, 'REBALANCE_RECOMMENDATION')
  t.same(plain.StartTime, new Date('2026-01-01T00:00:00Z'), 'without a deadline, when the notice was first seen')
  t.equal(plain.Deadline, 'none')
  t.same(plain.Pods, [])
})

t.test('the default template is JSON whatever the values contain', async t => {
  const render = await loadTemplate('', '')
  const parsed = JSON.parse(render(input())) as { text: string }
  t.equal(parsed.text, '[spot-interrupt-handler] SPOT_ITN on node n1 (instance i-1, m5.large, eu-west-1a), event itn-abc, deadline 2026-01-01T00:02:00.000Z. Pods: web-1, "quoted", db-0. Result: drain "incomplete"\nsee logs')
  t.match(JSON.parse(render(input({ drain: undefined }))).text, 'Pods: none.')
})

t.test('the template comes from WEBHOOK_TEMPLATE, else the file, else the default; a bad one stops start-up with its line and column', async t => {
  const dir = await mkdtemp(join(tmpdir(), 'agent-notify-'))
  const file = join(dir, 't.txt')
  await writeFile(file, 'from file {{ .NodeName }}')
  t.equal((await loadTemplate('inline {{ .Kind }}', file))(input()), 'inline SPOT_ITN')
  t.equal((await loadTemplate('', file))(input()), 'from file n1')
  t.equal((await loadTemplate('', ''))(input()), renderDefault())
  await t.rejects(loadTemplate('', join(dir, 'missing')), /cannot read --webhook-template-file \(WEBHOOK_TEMPLATE_FILE\) .*missing/)
  await t.rejects(loadTemplate('{"text":"{{ .Kind }\n{{ if .Pods }}"}', ''), { name: 'ConfigError', message: /^invalid notification template in --webhook-template \(WEBHOOK_TEMPLATE\): line 1, column 19: unexpected "}" in action$/ })
  await t.rejects(loadTemplate('{{ .NodeLabel }}', ''), { name: 'ConfigError', message: /line 1, column 4: can't evaluate field NodeLabel in type struct/ }, 'an unknown field is found by running the template on empty data, as NTH does')
  await writeFile(file, 'ok\n{{ range .Pods }}{{ . }}')
  await t.rejects(loadTemplate('', file), { message: /invalid notification template in --webhook-template-file \(WEBHOOK_TEMPLATE_FILE\) .*t\.txt: line 2, column 4: unexpected EOF/ })
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

/** Closes `server` on teardown, destroying its sockets first (tunnelled ones included, which closeAllConnections does not know). */
function stopWithTest (t: Test, server: Server): void {
  const sockets = new Set<Socket>()
  server.on('connection', (socket: Socket) => { sockets.add(socket); socket.on('close', () => sockets.delete(socket)) })
  t.teardown(() => new Promise<void>(resolve => {
    server.close(() => resolve())
    for (const socket of sockets) socket.destroy()
  }))
}

/** A forward proxy on 127.0.0.1: absolute-form requests are relayed, CONNECT is tunnelled; what it saw is kept. */
async function startProxy (t: Test, refuseConnect = false): Promise<{ url: string, seen: Array<{ method: string, url: string, auth?: string }> }> {
  const seen: Array<{ method: string, url: string, auth?: string }> = []
  const proxy = createServer((req, res) => {
    seen.push({ method: req.method!, url: req.url!, auth: req.headers['proxy-authorization'] })
    const target = new URL(req.url!)
    const upstream = httpRequest({ host: target.hostname, port: target.port, method: req.method, path: target.pathname, headers: req.headers }, up => {
      res.writeHead(up.statusCode!, up.headers)
      up.pipe(res)
    })
    req.pipe(upstream)
  })
  proxy.on('connect', (req, socket: Socket) => {
    seen.push({ method: 'CONNECT', url: req.url!, auth: req.headers['proxy-authorization'] })
    if (refuseConnect) { socket.end('HTTP/1.1 403 Forbidden\r\n\r\n'); return }
    const [host, port] = req.url!.split(':') as [string, string]
    const upstream = netConnect(Number(port), host, () => {
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n')
      upstream.pipe(socket)
      socket.pipe(upstream)
    })
    upstream.on('error', () => socket.destroy())
    socket.on('error', () => upstream.destroy())
  })
  await new Promise<void>(resolve => proxy.listen(0, '127.0.0.1', resolve))
  stopWithTest(t, proxy)
  return { url: `http://user:p%40ss@127.0.0.1:${(proxy.address() as AddressInfo).port}`, seen }
}

/** A receiver over HTTP or HTTPS (certificate for 127.0.0.1 from a test CA) that keeps the bodies it got. */
async function startReceiver (t: Test, tls?: { cert: string, key: string }): Promise<{ url: string, bodies: string[] }> {
  const bodies: string[] = []
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    let body = ''
    req.on('data', c => { body += c })
    req.on('end', () => { bodies.push(body); res.writeHead(200).end('ok') })
  }
  const server = tls === undefined ? createServer(handler) : createHttpsServer(tls, handler)
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  stopWithTest(t, server)
  return { url: `${tls === undefined ? 'http' : 'https'}://127.0.0.1:${(server.address() as AddressInfo).port}/hook?x=1`, bodies }
}

t.test('WEBHOOK_PROXY: an http:// notification goes to the proxy in absolute form, with the proxy credentials', async t => {
  const proxy = await startProxy(t)
  const receiver = await startReceiver(t)
  const ok = await sendNotification({ url: receiver.url, proxy: proxy.url, headers: {}, sleep: async () => {}, logger: captureLogger().logger }, '{"text":"via proxy"}')
  t.equal(ok, true)
  t.same(receiver.bodies, ['{"text":"via proxy"}'])
  t.same(proxy.seen, [{ method: 'POST', url: receiver.url, auth: `Basic ${Buffer.from('user:p@ss').toString('base64')}` }])
})

t.test('WEBHOOK_PROXY: an https:// notification is tunnelled with CONNECT, TLS end to end and verified', async t => {
  const set = await testCertificates()
  setDefaultCACertificates([...getCACertificates('default'), set.ca.cert])
  const proxy = await startProxy(t)
  const receiver = await startReceiver(t, set.serving)
  const ok = await sendNotification({ url: receiver.url, proxy: proxy.url, headers: {}, sleep: async () => {}, logger: captureLogger().logger }, 'tunnelled')
  t.equal(ok, true)
  t.same(receiver.bodies, ['tunnelled'])
  t.equal(proxy.seen[0]?.method, 'CONNECT')
  t.equal(proxy.seen[0]?.url, new URL(receiver.url).host, 'the proxy sees only host and port')

  const untrusted = await testCertificates()
  const impostor = await startReceiver(t, untrusted.serving)
  const { logger, lines } = captureLogger()
  t.equal(await sendNotification({ url: impostor.url, proxy: proxy.url, headers: {}, tries: 1, sleep: async () => {}, logger }, 'x'), false, 'a certificate from an unknown CA is refused through the tunnel too')
  t.same(impostor.bodies, [])
  t.match(lines().find(l => l.msg === 'notification webhook request failed')?.err, { message: /certificate/ })

  const elsewhere = await generateServingCert(set.ca, { ...TEST_SERVICE, hosts: ['10.9.9.9'], days: 1, keyType: 'ecdsa' })
  const misnamed = await startReceiver(t, elsewhere)
  t.equal(await sendNotification({ url: misnamed.url, proxy: proxy.url, headers: {}, tries: 1, sleep: async () => {}, logger }, 'x'), false, 'a trusted certificate for another address is refused')
  t.same(misnamed.bodies, [])
})

t.test('WEBHOOK_PROXY: a proxy that refuses the tunnel is a failed try, retried, then given up', async t => {
  const proxy = await startProxy(t, true)
  const { logger, lines } = captureLogger()
  const ok = await sendNotification({ url: 'https://127.0.0.1:9/hook', proxy: proxy.url, headers: {}, tries: 2, sleep: async () => {}, logger }, 'x')
  t.equal(ok, false)
  t.equal(proxy.seen.length, 2)
  t.match(lines().filter(l => l.msg === 'notification webhook request failed').map(l => (l.err as { message: string }).message), [/the proxy refused the tunnel to 127\.0\.0\.1:9 with HTTP 403/, /403/])
})
