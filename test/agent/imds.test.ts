import t from 'tap'
import { startImdsSim } from '../sim/imds/server.ts'
import { ImdsClient, ImdsError } from '../../agent/imds.ts'
import { captureLogger } from './helpers.ts'

const noSleep = async (): Promise<void> => {}

t.test('IMDSv2: one token serves many reads and is refreshed before it expires', async t => {
  let now = 1_000_000
  const sim = await startImdsSim({ imdsv2Only: true, now: () => now })
  t.teardown(() => sim.close())
  const { logger } = captureLogger()
  const imds = new ImdsClient({ baseUrl: sim.url, tries: 3, logger, now: () => now, tokenTtlSeconds: 60, sleep: noSleep })
  t.same(await imds.get('/latest/meta-data/spot/instance-action'), { found: false }, '404 is no notice')
  t.same(await imds.get('/latest/meta-data/spot/instance-action'), { found: false })
  t.equal(sim.requests.filter(r => r.method === 'PUT').length, 1)
  now += 55_000
  await imds.get('/latest/meta-data/instance-id')
  t.equal(sim.requests.filter(r => r.method === 'PUT').length, 2, 'refreshed shortly before the 60 s expiry')
  t.equal(sim.requests.filter(r => r.status === 401).length, 0, 'never used an expired token')
})

t.test('a 401 drops the token and the read is retried once with a new one', async t => {
  const sim = await startImdsSim({ imdsv2Only: true })
  t.teardown(() => sim.close())
  const { logger } = captureLogger()
  const imds = new ImdsClient({ baseUrl: sim.url, tries: 3, logger, sleep: noSleep })
  const first = await imds.get('/latest/meta-data/instance-id')
  t.same(first, { found: true, body: sim.instance.instanceId })
  sim.expireTokens()
  t.same(await imds.get('/latest/meta-data/instance-id'), first)
  t.same(sim.requests.map(r => `${r.method} ${r.status}`), ['PUT 200', 'GET 200', 'GET 401', 'PUT 200', 'GET 200'])
})

t.test('without a token the client falls back to IMDSv1 and says so once', async t => {
  const sim = await startImdsSim()
  t.teardown(() => sim.close())
  sim.injectFault({ path: '/latest/api/token', kind: 'status', status: 403 })
  const { logger, lines } = captureLogger()
  const imds = new ImdsClient({ baseUrl: sim.url, tries: 2, logger, sleep: noSleep })
  t.same(await imds.get('/latest/meta-data/instance-type'), { found: true, body: 'm5.large' })
  t.same(await imds.get('/latest/meta-data/instance-type'), { found: true, body: 'm5.large' })
  t.equal(lines().filter(l => /falling back to IMDSv1/.test(String(l.msg))).length, 1)
  t.equal(sim.requests.filter(r => r.method === 'PUT').length, 1, 'no token attempt on every read')
  t.ok(sim.requests.filter(r => r.method === 'GET').every(r => r.token === 'none'))
})

t.test('transport errors and 5xx are retried with backoff; the last failure is an ImdsError', async t => {
  const sim = await startImdsSim()
  t.teardown(() => sim.close())
  const slept: number[] = []
  const errors: string[] = []
  const { logger } = captureLogger()
  const imds = new ImdsClient({ baseUrl: sim.url, tries: 3, logger, sleep: async ms => { slept.push(ms) }, random: () => 0.5, backoffBaseMs: 100, onError: (_p, reason) => errors.push(reason) })
  await imds.get('/latest/meta-data/instance-id')
  sim.injectFault({ path: '/latest/meta-data/instance-id', kind: 'status', status: 500, count: 1 })
  sim.injectFault({ path: '/latest/meta-data/instance-id', kind: 'drop', count: 1 })
  t.same(await imds.get('/latest/meta-data/instance-id'), { found: true, body: sim.instance.instanceId })
  t.same(slept, [150, 250], 'exponential with jitter')
  t.same(errors, ['http-500', 'transport'])
  sim.injectFault({ path: '/latest/meta-data/instance-id', kind: 'status', status: 503 })
  const err = await imds.get('/latest/meta-data/instance-id').catch(e => e)
  t.type(err, ImdsError)
  t.match(err.message, /HTTP 503 after 3 tries/)
  t.equal(err.status, 503)
})

t.test('a request slower than the timeout counts as a failed try', async t => {
  const sim = await startImdsSim()
  t.teardown(() => sim.close())
  sim.injectFault({ path: '/latest/api/token', kind: 'status', status: 404 })
  sim.injectFault({ path: '/latest/meta-data/instance-id', kind: 'latency', ms: 400 })
  const { logger } = captureLogger()
  const imds = new ImdsClient({ baseUrl: sim.url, tries: 2, timeoutMs: 50, logger, sleep: noSleep })
  const err = await imds.get('/latest/meta-data/instance-id').catch(e => e)
  t.type(err, ImdsError)
  t.equal(err.reason, 'timeout')
  t.match(err.message, /no answer within 50ms \(after 2 tries\)/)
})

t.test('unexpected 4xx answers are errors, not notices', async t => {
  const sim = await startImdsSim()
  t.teardown(() => sim.close())
  sim.injectFault({ path: '/latest/meta-data/spot/instance-action', kind: 'status', status: 400 })
  const { logger } = captureLogger()
  const imds = new ImdsClient({ baseUrl: sim.url, tries: 3, logger, sleep: noSleep })
  await t.rejects(imds.get('/latest/meta-data/spot/instance-action'), { name: 'ImdsError', reason: 'http-400' })
})

t.test('node metadata comes from the identity document, the rest from their own paths', async t => {
  const sim = await startImdsSim({ instance: { instanceId: 'i-0aaaabbbbccccdddd', availabilityZone: 'us-east-1b' } })
  t.teardown(() => sim.close())
  const { logger } = captureLogger()
  const imds = new ImdsClient({ baseUrl: sim.url, tries: 1, logger, sleep: noSleep })
  t.same(await imds.readNodeMetadata(), {
    instanceId: 'i-0aaaabbbbccccdddd',
    instanceType: 'm5.large',
    instanceLifeCycle: 'spot',
    availabilityZone: 'us-east-1b',
    region: 'us-east-1',
    localHostname: sim.instance.localHostname,
    localIp: sim.instance.localIpv4,
    accountId: sim.instance.accountId,
    publicHostname: '',
    publicIp: ''
  }, 'an instance without public addresses has them empty')
  const paths = sim.requests.filter(r => r.method === 'GET').map(r => r.path)
  t.notOk(paths.includes('/latest/meta-data/instance-id'), 'instance id taken from the document')
  t.ok(paths.includes('/latest/meta-data/instance-life-cycle'))
})

t.test('when the identity document is missing or garbage each field is read from its path, unknown if that fails too', async t => {
  const sim = await startImdsSim()
  t.teardown(() => sim.close())
  const { logger } = captureLogger()
  const imds = new ImdsClient({ baseUrl: sim.url, tries: 1, logger, sleep: noSleep })
  sim.injectFault({ path: '/latest/dynamic/instance-identity/document', kind: 'garbage', count: 1 })
  sim.injectFault({ path: '/latest/meta-data/placement/region', kind: 'status', status: 500 })
  const m = await imds.readNodeMetadata()
  t.equal(m.instanceId, sim.instance.instanceId)
  t.equal(m.availabilityZone, sim.instance.availabilityZone)
  t.equal(m.region, 'unknown')
  sim.clearFaults()
  sim.injectFault({ path: '/latest/dynamic/instance-identity/document', kind: 'status', status: 404, count: 1 })
  t.equal((await imds.readNodeMetadata()).instanceType, 'm5.large')
})
