import t, { type Test } from 'tap'
import { startImdsSim, type ImdsSim } from './imds/server.ts'

const T0 = Date.parse('2026-03-01T12:00:00Z')

async function sim (t: Test): Promise<{ imds: ImdsSim, clock: { t: number } }> {
  const clock = { t: T0 }
  const imds = await startImdsSim({ now: () => clock.t })
  t.teardown(() => imds.close())
  return { imds, clock }
}

/** Calls the control API; resolves to status and parsed JSON body (undefined when empty). */
async function control (imds: ImdsSim, method: string, name: string, body?: unknown): Promise<{ status: number, body: unknown }> {
  const res = await fetch(`${imds.url}/_sim/${name}`, {
    method,
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': 'application/json' } })
  })
  const text = await res.text()
  return { status: res.status, body: text === '' ? undefined : JSON.parse(text) }
}

async function read (imds: ImdsSim, path: string): Promise<{ status: number, body: string }> {
  const res = await fetch(`${imds.url}/latest/meta-data/${path}`)
  return { status: res.status, body: await res.text() }
}

t.test('spot interruptions are posted (now or delayed) and cleared over HTTP', async t => {
  const { imds, clock } = await sim(t)
  t.same(await control(imds, 'POST', 'spot-interruption'), { status: 204, body: undefined })
  t.equal((await read(imds, 'spot/instance-action')).body, '{"action":"terminate","time":"2026-03-01T12:02:00Z"}')
  t.equal((await control(imds, 'DELETE', 'spot-interruption')).status, 204)
  t.equal((await read(imds, 'spot/instance-action')).status, 404)
  t.equal((await control(imds, 'POST', 'spot-interruption', { action: 'stop', afterMs: 5000 })).status, 204)
  t.equal((await read(imds, 'spot/instance-action')).status, 404, 'not yet visible')
  clock.t = T0 + 5000
  t.equal((await read(imds, 'spot/instance-action')).body, '{"action":"stop","time":"2026-03-01T12:02:05Z"}')
  t.equal((await control(imds, 'POST', 'spot-interruption', { time: '2026-03-01T13:00:00Z' })).status, 204)
  t.equal((await read(imds, 'spot/termination-time')).body, '2026-03-01T13:00:00Z')
})

t.test('rebalance recommendations, scheduled events and the lifecycle state are set over HTTP', async t => {
  const { imds } = await sim(t)
  t.equal((await control(imds, 'POST', 'rebalance-recommendation', { noticeTime: '2020-10-27T08:22:00Z' })).status, 204)
  t.equal((await read(imds, 'events/recommendations/rebalance')).body, '{"noticeTime":"2020-10-27T08:22:00Z"}')
  t.equal((await control(imds, 'DELETE', 'rebalance-recommendation')).status, 204)
  t.equal((await read(imds, 'events/recommendations/rebalance')).status, 404)
  t.equal((await control(imds, 'POST', 'rebalance-recommendation')).status, 204, 'no body: notice time is now')
  t.equal((await read(imds, 'events/recommendations/rebalance')).body, '{"noticeTime":"2026-03-01T12:00:00Z"}')

  t.equal((await control(imds, 'PUT', 'scheduled-events', [
    { code: 'system-reboot', state: 'active', eventId: 'instance-event-1', notBefore: '2019-01-21T09:00:43Z', notAfter: '2019-01-21T09:17:23Z', description: 'scheduled reboot' },
    { code: 'instance-stop', state: 'completed', eventId: 'instance-event-2', notBefore: '2019-01-22T10:00:00Z' }
  ])).status, 204)
  t.same(JSON.parse((await read(imds, 'events/maintenance/scheduled')).body), [
    { NotBefore: '21 Jan 2019 09:00:43 GMT', Code: 'system-reboot', Description: 'scheduled reboot', EventId: 'instance-event-1', NotAfter: '21 Jan 2019 09:17:23 GMT', State: 'active' },
    { NotBefore: '22 Jan 2019 10:00:00 GMT', Code: 'instance-stop', Description: '', EventId: 'instance-event-2', State: 'completed' }
  ])

  t.equal((await control(imds, 'PUT', 'target-lifecycle-state', { state: 'InService' })).status, 204)
  t.equal((await read(imds, 'autoscaling/target-lifecycle-state')).body, 'InService')
  t.equal((await control(imds, 'PUT', 'target-lifecycle-state', { state: null })).status, 204)
  t.equal((await read(imds, 'autoscaling/target-lifecycle-state')).status, 404)
})

t.test('faults are injected and cleared over HTTP, by exact path or pattern', async t => {
  const { imds } = await sim(t)
  t.equal((await control(imds, 'POST', 'faults', { kind: 'status', status: 503, path: '/latest/meta-data/instance-id', method: 'GET', count: 1 })).status, 204)
  t.equal((await read(imds, 'instance-id')).status, 503)
  t.equal((await read(imds, 'instance-id')).status, 200)
  t.equal((await control(imds, 'POST', 'faults', { kind: 'status', pathPattern: '^/latest/meta-data/placement/' })).status, 204)
  t.equal((await read(imds, 'placement/region')).status, 500)
  t.equal((await read(imds, 'placement/availability-zone')).status, 500)
  t.equal((await read(imds, 'instance-type')).status, 200)
  t.equal((await control(imds, 'POST', 'faults', { kind: 'latency', ms: 1 })).status, 204)
  t.equal((await control(imds, 'DELETE', 'faults')).status, 204)
  t.equal((await read(imds, 'placement/region')).status, 200)
})

t.test('tokens are expired and the request log is read over HTTP', async t => {
  const { imds } = await sim(t)
  const tok = await fetch(`${imds.url}/latest/api/token`, { method: 'PUT', headers: { 'X-aws-ec2-metadata-token-ttl-seconds': '60' } }).then(r => r.text())
  t.equal((await control(imds, 'POST', 'expire-tokens')).status, 204)
  const res = await fetch(`${imds.url}/latest/meta-data/instance-id`, { headers: { 'X-aws-ec2-metadata-token': tok } })
  t.equal(res.status, 401)
  await res.text()
  t.same(await control(imds, 'GET', 'requests'), {
    status: 200,
    body: [
      { method: 'PUT', path: '/latest/api/token', token: 'none', status: 200, at: T0 },
      { method: 'GET', path: '/latest/meta-data/instance-id', token: 'invalid', status: 401, at: T0 }
    ]
  })
})

t.test('bad control requests get 400 or 404 with a message and change nothing', async t => {
  const { imds } = await sim(t)
  const cases: Array<[string, string, unknown, RegExp]> = [
    ['POST', 'spot-interruption', { action: 'explode' }, /action must be one of terminate, stop, hibernate/],
    ['POST', 'spot-interruption', { afterMs: '10' }, /afterMs must be a number/],
    ['POST', 'spot-interruption', { afterMs: -5 }, /afterMs must be a non-negative/],
    ['POST', 'spot-interruption', { time: 'soon' }, /time must be an ISO 8601 time, got "soon"/],
    ['POST', 'spot-interruption', [1], /body must be a JSON object/],
    ['POST', 'rebalance-recommendation', { noticeTime: 5 }, /noticeTime must be a string/],
    ['PUT', 'scheduled-events', { code: 'x' }, /body must be a JSON array of events/],
    ['PUT', 'scheduled-events', [{ code: 'x', eventId: 'e', notBefore: '2019-01-21T09:00:43Z' }], /event 0: state is required/],
    ['PUT', 'scheduled-events', [{ code: 'x', eventId: 'e', state: 'active' }], /event 0: notBefore is required/],
    ['PUT', 'scheduled-events', [{ eventId: 'e', state: 'active', notBefore: '2019-01-21T09:00:43Z' }], /code is required/],
    ['PUT', 'scheduled-events', [{ code: 'x', eventId: 'e', state: 'pending', notBefore: '2019-01-21T09:00:43Z' }], /state must be one of active, canceled, completed/],
    ['PUT', 'scheduled-events', ['x'], /event 0 must be a JSON object/],
    ['PUT', 'target-lifecycle-state', undefined, /body must be a JSON object/],
    ['POST', 'faults', { path: '/a' }, /kind is required/],
    ['POST', 'faults', { kind: 'drop', path: '/a', pathPattern: 'a' }, /give path or pathPattern, not both/],
    ['POST', 'faults', { kind: 'drop', pathPattern: '(' }, /Invalid regular expression/],
    ['POST', 'faults', { kind: 'status', status: 700 }, /fault status must be an HTTP status code/],
    ['POST', 'spot-interruption', '{not json', /body is not JSON/]
  ]
  for (const [method, name, body, message] of cases) {
    const res = await control(imds, method, name, body)
    t.equal(res.status, 400, `${method} ${name} ${JSON.stringify(body)}`)
    t.match(res.body, { error: message })
  }
  const unknown = await control(imds, 'GET', 'nothing-here')
  t.equal(unknown.status, 404)
  t.match(unknown.body, { error: /no control route GET \/_sim\/nothing-here/ })
  t.equal((await control(imds, 'GET', 'spot-interruption')).status, 404, 'a known route with the wrong method')
  t.equal((await read(imds, 'spot/instance-action')).status, 404, 'no notice was posted')
  t.equal((await read(imds, 'instance-id')).status, 200, 'no fault was injected')
  t.same(imds.requests.map(r => r.path), ['/latest/meta-data/spot/instance-action', '/latest/meta-data/instance-id'])
})
