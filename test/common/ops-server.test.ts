import t from 'tap'
import { buildOpsServer } from '#common/ops-server.ts'
import { counter, createRegistry } from '#common/metrics.ts'

t.test('probes report readiness and metrics are scraped over plain HTTP', async t => {
  const registry = createRegistry(false)
  counter(registry, 'hits_total', 'Hits.').inc()
  let notReady: string | undefined = 'no certificate loaded yet'
  const app = buildOpsServer({ registry, notReadyReason: () => notReady })
  const base = await app.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(() => app.close())

  const health = await fetch(`${base}/healthz`)
  t.equal(health.status, 200)
  t.equal(health.headers.get('content-type'), 'application/json')
  t.equal(await health.text(), '{"health":"OK"}', 'the Node Termination Handler\'s liveness answer')

  const before = await fetch(`${base}/readyz`)
  t.equal(before.status, 503)
  t.equal(await before.text(), 'not ok: no certificate loaded yet\n')
  notReady = undefined
  t.equal((await fetch(`${base}/readyz`)).status, 200)

  const metrics = await fetch(`${base}/metrics`)
  t.equal(metrics.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8')
  t.match(await metrics.text(), /\nhits_total 1\n/)
})

t.test('other paths get 404, other methods 405, HEAD the headers only, and a failing registry a 500', async t => {
  const registry = createRegistry(false)
  const app = buildOpsServer({ registry })
  const base = await app.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(() => app.close())
  const missing = await fetch(`${base}/nope`)
  t.equal(missing.status, 404)
  t.equal(await missing.text(), 'not found: /nope; try /healthz, /readyz, /metrics\n')
  const post = await fetch(`${base}/metrics`, { method: 'POST' })
  t.equal(post.status, 405)
  t.equal(post.headers.get('allow'), 'GET, HEAD')
  const head = await fetch(`${base}/readyz?verbose=1`, { method: 'HEAD' })
  t.equal(head.status, 200, 'a query string does not matter')
  t.equal(head.headers.get('content-length'), '3')
  t.equal(await head.text(), '')
  registry.registerMetric({ name: 'broken', get: async () => { throw new Error('collector failed') } } as never)
  const failing = await fetch(`${base}/metrics`)
  t.equal(failing.status, 500)
  t.match(await failing.text(), /^internal error: /)
})

t.test('liveness also answers at the configured path, and says why when unhealthy', async t => {
  let unhealthy: string | undefined
  const app = buildOpsServer({ registry: createRegistry(false), unhealthyReason: () => unhealthy, healthPath: '/live' })
  const base = await app.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(() => app.close())
  for (const path of ['/live', '/healthz']) t.same(await (await fetch(`${base}${path}`)).json(), { health: 'OK' }, path)
  unhealthy = 'stopping'
  const sick = await fetch(`${base}/live`)
  t.equal(sick.status, 503)
  t.same(await sick.json(), { health: 'not ok: stopping' })
  t.equal(await (await fetch(`${base}/nope`)).text(), 'not found: /nope; try /healthz, /live, /readyz, /metrics\n')
})
