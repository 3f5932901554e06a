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
  t.equal(await health.text(), 'ok\n')

  const before = await fetch(`${base}/readyz`)
  t.equal(before.status, 503)
  t.equal(await before.text(), 'not ok: no certificate loaded yet\n')
  notReady = undefined
  t.equal((await fetch(`${base}/readyz`)).status, 200)

  const metrics = await fetch(`${base}/metrics`)
  t.equal(metrics.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8')
  t.match(await metrics.text(), /\nhits_total 1\n/)
})
