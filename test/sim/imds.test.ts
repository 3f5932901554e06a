import t, { type Test } from 'tap'
import { startImdsSim, type ImdsSim, type ImdsSimOptions } from './imds/server.ts'
import { formatImdsTime, formatScheduledEventDate } from './imds/formats.ts'
import { parseTokenTtl } from './imds/tokens.ts'
import { regionOfZone } from './imds/instance.ts'
import { lookup } from './imds/metadata.ts'

const T0 = Date.parse('2026-03-01T12:00:00Z')

/** A simulator on a hand-driven clock; `clock.t` moves time. */
async function sim (t: Test, opts: ImdsSimOptions = {}): Promise<{ imds: ImdsSim, clock: { t: number } }> {
  const clock = { t: T0 }
  const imds = await startImdsSim({ now: () => clock.t, ...opts })
  t.teardown(() => imds.close())
  return { imds, clock }
}

async function token (imds: ImdsSim, ttl = '21600'): Promise<string> {
  const res = await fetch(`${imds.url}/latest/api/token`, { method: 'PUT', headers: { 'X-aws-ec2-metadata-token-ttl-seconds': ttl } })
  if (res.status !== 200) throw new Error(`token PUT answered ${res.status}`)
  return res.text()
}

async function get (imds: ImdsSim, path: string, tok?: string): Promise<{ status: number, body: string, type: string | null }> {
  const res = await fetch(imds.url + path, tok === undefined ? {} : { headers: { 'X-aws-ec2-metadata-token': tok } })
  return { status: res.status, body: await res.text(), type: res.headers.get('content-type') }
}

t.test('the token PUT issues a token and echoes the granted TTL', async t => {
  const { imds } = await sim(t)
  const res = await fetch(`${imds.url}/latest/api/token`, { method: 'PUT', headers: { 'X-aws-ec2-metadata-token-ttl-seconds': '300' } })
  t.equal(res.status, 200)
  t.equal(res.headers.get('x-aws-ec2-metadata-token-ttl-seconds'), '300')
  const tok = await res.text()
  t.match(tok, /^[A-Za-z0-9+/=]{40,}$/)
  t.not(await token(imds), tok, 'every PUT gets a fresh token')
  t.equal((await get(imds, '/latest/meta-data/instance-id', tok)).status, 200)
})

t.test('a TTL outside 1..21600 seconds, or none, is a 400', async t => {
  const { imds } = await sim(t)
  for (const ttl of ['0', '21601', '-5', 'abc', '1.5', '']) {
    const res = await fetch(`${imds.url}/latest/api/token`, { method: 'PUT', headers: { 'X-aws-ec2-metadata-token-ttl-seconds': ttl } })
    t.equal(res.status, 400, `ttl ${JSON.stringify(ttl)}`)
    t.match(await res.text(), /<h1>400 - Bad Request<\/h1>/)
  }
  const missing = await fetch(`${imds.url}/latest/api/token`, { method: 'PUT' })
  t.equal(missing.status, 400, 'no TTL header')
  for (const ttl of ['1', '21600']) {
    const res = await fetch(`${imds.url}/latest/api/token`, { method: 'PUT', headers: { 'X-aws-ec2-metadata-token-ttl-seconds': ttl } })
    t.equal(res.status, 200, `ttl ${ttl} is accepted`)
    await res.text()
  }
})

t.test('a token PUT carrying X-Forwarded-For is refused and GET on the token path is not allowed', async t => {
  const { imds } = await sim(t)
  const forwarded = await fetch(`${imds.url}/latest/api/token`, { method: 'PUT', headers: { 'X-aws-ec2-metadata-token-ttl-seconds': '60', 'X-Forwarded-For': '203.0.113.9' } })
  t.equal(forwarded.status, 403)
  await forwarded.text()
  const viaGet = await fetch(`${imds.url}/latest/api/token`, { headers: { 'X-aws-ec2-metadata-token-ttl-seconds': '60' } })
  t.equal(viaGet.status, 405)
  t.equal(viaGet.headers.get('allow'), 'PUT')
  await viaGet.text()
})

t.test('with IMDSv1 allowed, reads work without a token but not with a bad one', async t => {
  const { imds } = await sim(t)
  t.same(await get(imds, '/latest/meta-data/instance-id'), { status: 200, body: 'i-0123456789abcdef0', type: 'text/plain' })
  t.equal((await get(imds, '/latest/meta-data/instance-id', 'not-a-token')).status, 401)
  t.equal((await get(imds, '/latest/meta-data/instance-id', await token(imds))).status, 200)
})

t.test('with IMDSv2 required, reads without a valid token are 401, even for missing paths', async t => {
  const { imds } = await sim(t, { imdsv2Only: true })
  const none = await get(imds, '/latest/meta-data/instance-id')
  t.equal(none.status, 401)
  t.equal(none.type, 'text/html')
  t.match(none.body, /401 - Unauthorized/)
  t.equal((await get(imds, '/latest/meta-data/no-such-item')).status, 401)
  t.equal((await get(imds, '/latest/meta-data/instance-id', 'forged')).status, 401)
  const tok = await token(imds)
  t.equal((await get(imds, '/latest/meta-data/instance-id', tok)).body, 'i-0123456789abcdef0')
  t.equal((await get(imds, '/latest/meta-data/no-such-item', tok)).status, 404)
})

t.test('a token stops working once its TTL has passed on the simulator clock', async t => {
  const { imds, clock } = await sim(t, { imdsv2Only: true })
  const tok = await token(imds, '2')
  clock.t = T0 + 1999
  t.equal((await get(imds, '/latest/meta-data/instance-id', tok)).status, 200, 'valid just before expiry')
  clock.t = T0 + 2000
  t.equal((await get(imds, '/latest/meta-data/instance-id', tok)).status, 401, 'expired at issue time + TTL')
  const fresh = await token(imds, '2')
  t.equal((await get(imds, '/latest/meta-data/instance-id', fresh)).status, 200, 'a new token works')
})

t.test('expireTokens invalidates every token issued so far', async t => {
  const { imds } = await sim(t, { imdsv2Only: true })
  const a = await token(imds)
  const b = await token(imds)
  imds.expireTokens()
  t.equal((await get(imds, '/latest/meta-data/instance-id', a)).status, 401)
  t.equal((await get(imds, '/latest/meta-data/instance-id', b)).status, 401)
  t.equal((await get(imds, '/latest/meta-data/instance-id', await token(imds))).status, 200)
})

t.test('without notices, the notice paths are 404 with IMDS error page and scheduled events are []', async t => {
  const { imds } = await sim(t)
  for (const path of ['/latest/meta-data/spot/instance-action', '/latest/meta-data/spot/termination-time',
    '/latest/meta-data/events/recommendations/rebalance', '/latest/meta-data/autoscaling/target-lifecycle-state']) {
    const res = await get(imds, path)
    t.equal(res.status, 404, path)
    t.equal(res.type, 'text/html')
    t.match(res.body, /<title>404 - Not Found<\/title>/)
  }
  t.same(await get(imds, '/latest/meta-data/events/maintenance/scheduled'), { status: 200, body: '[]', type: 'text/plain' })
})

t.test('a spot interruption notice reads as AWS documents it and can be cleared', async t => {
  const { imds, clock } = await sim(t)
  clock.t = Date.parse('2017-09-18T08:20:00Z')
  imds.postSpotInterruption()
  t.equal((await get(imds, '/latest/meta-data/spot/instance-action')).body, '{"action":"terminate","time":"2017-09-18T08:22:00Z"}')
  t.equal((await get(imds, '/latest/meta-data/spot/termination-time')).body, '2017-09-18T08:22:00Z')
  t.equal((await get(imds, '/latest/meta-data/spot/')).body, 'instance-action\ntermination-time')
  imds.clearSpotInterruption()
  t.equal((await get(imds, '/latest/meta-data/spot/instance-action')).status, 404)
  t.equal((await get(imds, '/latest/meta-data/spot/')).status, 404)
})

t.test('stop and hibernate notices carry their action, an explicit time, and no termination-time', async t => {
  const { imds } = await sim(t)
  imds.postSpotInterruption({ action: 'stop', time: new Date('2026-03-01T12:05:30.750Z') })
  t.equal((await get(imds, '/latest/meta-data/spot/instance-action')).body, '{"action":"stop","time":"2026-03-01T12:05:30Z"}')
  t.equal((await get(imds, '/latest/meta-data/spot/termination-time')).status, 404)
  imds.postSpotInterruption({ action: 'hibernate' })
  t.same(JSON.parse((await get(imds, '/latest/meta-data/spot/instance-action')).body), { action: 'hibernate', time: '2026-03-01T12:02:00Z' })
})

t.test('a delayed spot notice appears when the clock reaches it, timed two minutes after it appears', async t => {
  const { imds, clock } = await sim(t)
  imds.postSpotInterruption({ afterMs: 10_000 })
  clock.t = T0 + 9_999
  t.equal((await get(imds, '/latest/meta-data/spot/instance-action')).status, 404, 'not yet')
  clock.t = T0 + 10_000
  const res = await get(imds, '/latest/meta-data/spot/instance-action')
  t.equal(res.status, 200)
  t.same(JSON.parse(res.body), { action: 'terminate', time: formatImdsTime(new Date(T0 + 10_000 + 120_000)) })
  t.throws(() => imds.postSpotInterruption({ afterMs: -1 }), /afterMs must be a non-negative/)
})

t.test('a rebalance recommendation is posted with its notice time and withdrawn', async t => {
  const { imds, clock } = await sim(t)
  imds.postRebalanceRecommendation()
  t.equal((await get(imds, '/latest/meta-data/events/recommendations/rebalance')).body, '{"noticeTime":"2026-03-01T12:00:00Z"}')
  clock.t = T0 + 60_000
  imds.postRebalanceRecommendation({ noticeTime: new Date('2020-10-27T08:22:00Z') })
  t.equal((await get(imds, '/latest/meta-data/events/recommendations/rebalance')).body, '{"noticeTime":"2020-10-27T08:22:00Z"}')
  t.equal((await get(imds, '/latest/meta-data/events/')).body, 'maintenance/\nrecommendations/')
  imds.withdrawRebalanceRecommendation()
  t.equal((await get(imds, '/latest/meta-data/events/recommendations/rebalance')).status, 404)
})

t.test('scheduled events use AWS keys, key order and the "21 Jan 2019 09:00:43 GMT" date format', async t => {
  const { imds } = await sim(t)
  imds.setScheduledEvents([
    { code: 'system-reboot', state: 'active', eventId: 'instance-event-0d59937288b749b32', notBefore: new Date('2019-01-21T09:00:43Z'), notAfter: new Date('2019-01-21T09:17:23Z'), description: 'scheduled reboot' },
    { code: 'instance-stop', state: 'canceled', eventId: 'instance-event-2', notBefore: new Date('2019-02-05T07:08:09Z'), description: '[Canceled] scheduled stop' },
    { code: 'system-maintenance', state: 'completed', eventId: 'instance-event-3', notBefore: new Date('2019-12-31T23:59:59Z'), notAfter: new Date('2020-01-01T00:30:00Z'), description: '[Completed] network maintenance' }
  ])
  const res = await get(imds, '/latest/meta-data/events/maintenance/scheduled')
  t.equal(res.status, 200)
  const first = '{\n    "NotBefore": "21 Jan 2019 09:00:43 GMT",\n    "Code": "system-reboot",\n    "Description": "scheduled reboot",\n' +
    '    "EventId": "instance-event-0d59937288b749b32",\n    "NotAfter": "21 Jan 2019 09:17:23 GMT",\n    "State": "active"\n  }'
  t.ok(res.body.startsWith('[\n  ' + first), res.body)
  const events = JSON.parse(res.body) as Array<Record<string, string>>
  t.same(events.map(e => Object.keys(e)), [
    ['NotBefore', 'Code', 'Description', 'EventId', 'NotAfter', 'State'],
    ['NotBefore', 'Code', 'Description', 'EventId', 'State'],
    ['NotBefore', 'Code', 'Description', 'EventId', 'NotAfter', 'State']
  ])
  t.same(events.map(e => [e.NotBefore, e.State]), [['21 Jan 2019 09:00:43 GMT', 'active'], ['05 Feb 2019 07:08:09 GMT', 'canceled'], ['31 Dec 2019 23:59:59 GMT', 'completed']])
  t.equal(events[2]!.NotAfter, '01 Jan 2020 00:30:00 GMT')
  const history = JSON.parse((await get(imds, '/latest/meta-data/events/maintenance/history')).body) as Array<Record<string, string>>
  t.same(history.map(e => e.EventId), ['instance-event-2', 'instance-event-3'], 'history holds the canceled and completed ones')
  imds.setScheduledEvents([])
  t.equal((await get(imds, '/latest/meta-data/events/maintenance/scheduled')).body, '[]')
})

t.test('the target lifecycle state is plain text and 404 once unset', async t => {
  const { imds } = await sim(t)
  imds.setTargetLifecycleState('InService')
  t.same(await get(imds, '/latest/meta-data/autoscaling/target-lifecycle-state'), { status: 200, body: 'InService', type: 'text/plain' })
  imds.setTargetLifecycleState('Terminated')
  t.equal((await get(imds, '/latest/meta-data/autoscaling/target-lifecycle-state')).body, 'Terminated')
  imds.setTargetLifecycleState(undefined)
  t.equal((await get(imds, '/latest/meta-data/autoscaling/target-lifecycle-state')).status, 404)
})

t.test('instance facts and the identity document come from defaults or overrides', async t => {
  const { imds } = await sim(t, { instance: { instanceId: 'i-0feedface0000001', instanceType: 'c5.xlarge', availabilityZone: 'us-east-1c', localIpv4: '10.1.2.3', localHostname: 'ip-10-1-2-3.ec2.internal' } })
  const expected: Record<string, string> = {
    'instance-id': 'i-0feedface0000001',
    'instance-type': 'c5.xlarge',
    'instance-life-cycle': 'spot',
    'local-hostname': 'ip-10-1-2-3.ec2.internal',
    'local-ipv4': '10.1.2.3',
    'placement/availability-zone': 'us-east-1c',
    'placement/region': 'us-east-1'
  }
  for (const [path, body] of Object.entries(expected)) t.equal((await get(imds, `/latest/meta-data/${path}`)).body, body, path)
  const doc = JSON.parse((await get(imds, '/latest/dynamic/instance-identity/document')).body) as Record<string, unknown>
  t.match(doc, { instanceId: 'i-0feedface0000001', instanceType: 'c5.xlarge', availabilityZone: 'us-east-1c', region: 'us-east-1', privateIp: '10.1.2.3', accountId: '123456789012', pendingTime: '2026-03-01T12:00:00Z', version: '2017-09-30' })
  t.equal(imds.instance.region, 'us-east-1')
  const onDemand = await sim(t, { instance: { instanceLifeCycle: 'on-demand' } })
  t.equal((await get(onDemand.imds, '/latest/meta-data/instance-life-cycle')).body, 'on-demand')
})

t.test('directories list their entries like IMDS, with or without the trailing slash', async t => {
  const { imds } = await sim(t)
  const base = 'ami-id\nevents/\nhostname\ninstance-id\ninstance-life-cycle\ninstance-type\nlocal-hostname\nlocal-ipv4\nplacement/'
  t.equal((await get(imds, '/latest/meta-data/')).body, base)
  t.equal((await get(imds, '/latest/meta-data')).body, base)
  imds.postSpotInterruption()
  imds.setTargetLifecycleState('InService')
  t.equal((await get(imds, '/latest/meta-data/')).body, 'ami-id\nautoscaling/\nevents/\nhostname\ninstance-id\ninstance-life-cycle\ninstance-type\nlocal-hostname\nlocal-ipv4\nplacement/\nspot/')
  t.equal((await get(imds, '/latest/meta-data/placement')).body, 'availability-zone\nregion')
  t.equal((await get(imds, '/latest/')).body, 'dynamic/\nmeta-data/')
  t.equal((await get(imds, '/latest/dynamic/instance-identity/')).body, 'document')
  t.equal((await get(imds, '/latest/meta-data/instance-id/')).status, 404, 'an item with a trailing slash is not found')
  t.equal((await get(imds, '/latest/meta-data//instance-id')).status, 404)
  t.equal((await get(imds, '/latest/meta-data/instance-id?x=1')).body, 'i-0123456789abcdef0', 'the query string is ignored')
})

t.test('only GET and HEAD read metadata', async t => {
  const { imds } = await sim(t)
  const post = await fetch(`${imds.url}/latest/meta-data/instance-id`, { method: 'POST', body: 'x' })
  t.equal(post.status, 405)
  t.equal(post.headers.get('allow'), 'GET, HEAD')
  await post.text()
  const head = await fetch(`${imds.url}/latest/meta-data/instance-id`, { method: 'HEAD' })
  t.equal(head.status, 200)
  t.equal(head.headers.get('content-length'), String('i-0123456789abcdef0'.length))
  t.equal(head.headers.get('server'), 'EC2ws')
})

t.test('every IMDS request is logged with its token state and status, control calls are not', async t => {
  const { imds, clock } = await sim(t, { imdsv2Only: true })
  await get(imds, '/latest/meta-data/instance-id')
  clock.t = T0 + 5
  const tok = await token(imds)
  clock.t = T0 + 10
  await get(imds, '/latest/meta-data/spot/instance-action', tok)
  await get(imds, '/latest/meta-data/instance-id', 'bogus')
  await fetch(`${imds.url}/_sim/requests`).then(r => r.text())
  t.same(imds.requests, [
    { method: 'GET', path: '/latest/meta-data/instance-id', token: 'none', status: 401, at: T0 },
    { method: 'PUT', path: '/latest/api/token', token: 'none', status: 200, at: T0 + 5 },
    { method: 'GET', path: '/latest/meta-data/spot/instance-action', token: 'valid', status: 404, at: T0 + 10 },
    { method: 'GET', path: '/latest/meta-data/instance-id', token: 'invalid', status: 401, at: T0 + 10 }
  ])
})

t.test('with the real clock by default, the simulator starts on 127.0.0.1 and closes cleanly', async t => {
  const before = Date.now()
  const imds = await startImdsSim()
  t.match(imds.url, /^http:\/\/127\.0\.0\.1:\d+$/)
  imds.postSpotInterruption()
  const body = JSON.parse((await get(imds, '/latest/meta-data/spot/instance-action')).body) as { time: string }
  t.ok(Date.parse(body.time) >= Math.floor(before / 1000) * 1000 + 120_000, 'time is about two minutes from now')
  await imds.close()
  await t.rejects(fetch(`${imds.url}/latest/meta-data/instance-id`), 'nothing listens after close')
})

t.test('pure helpers: date formats, TTL parsing, region derivation, lookup', async t => {
  t.equal(formatImdsTime(new Date('2017-09-18T08:22:00.999Z')), '2017-09-18T08:22:00Z')
  t.equal(formatScheduledEventDate(new Date('2019-01-21T09:00:43Z')), '21 Jan 2019 09:00:43 GMT')
  t.equal(formatScheduledEventDate(new Date('2019-03-02T00:00:00Z')), '02 Mar 2019 00:00:00 GMT')
  t.equal(parseTokenTtl(' 60 '), 60)
  t.equal(parseTokenTtl(undefined), undefined)
  t.equal(parseTokenTtl('21601'), undefined)
  t.equal(regionOfZone('us-west-2-lax-1a'), 'us-west-2')
  t.equal(regionOfZone('ap-southeast-2b'), 'ap-southeast-2')
  t.throws(() => regionOfZone('moon-base'), /cannot derive a region from availability zone "moon-base"/)
  const tree = { a: { b: () => 'x' } }
  t.same(lookup(tree, '/a/b'), { kind: 'item', body: 'x' })
  t.same(lookup(tree, '/a'), { kind: 'dir', listing: 'b' })
  t.equal(lookup(tree, '/a/b/c'), undefined)
  t.equal(lookup(tree, '/toString'), undefined, 'inherited properties are not items')
})

t.test('invalid dates are refused when posted, not when read', async t => {
  const { imds } = await sim(t)
  t.throws(() => imds.postSpotInterruption({ time: new Date('soon') }), /time is an invalid Date/)
  t.throws(() => imds.postRebalanceRecommendation({ noticeTime: new Date(NaN) }), /noticeTime is an invalid Date/)
  t.throws(() => imds.setScheduledEvents([{ code: 'system-reboot', state: 'active', eventId: 'e', notBefore: new Date(NaN), description: '' }]), /event 0 notBefore is an invalid Date/)
  t.throws(() => imds.setScheduledEvents([{ code: 'system-reboot', state: 'active', eventId: 'e', notBefore: new Date(T0), notAfter: new Date(NaN), description: '' }]), /event 0 notAfter is an invalid Date/)
  t.equal((await get(imds, '/latest/meta-data/spot/instance-action')).status, 404)
  t.equal((await get(imds, '/latest/meta-data/events/maintenance/scheduled')).body, '[]')
})

t.test('a failure inside the simulator answers 500 and keeps serving', async t => {
  const { imds } = await sim(t, { instance: { pendingTime: new Date(NaN) } })
  t.equal((await get(imds, '/latest/dynamic/instance-identity/document')).status, 500)
  t.equal((await get(imds, '/latest/meta-data/instance-id')).status, 200)
  t.same(imds.requests.map(r => r.status), [500, 200])
})
