/** The metrics kit on prom-client: one registry per program, metrics registered on it, the text format scraped. */
import t from 'tap'
import { counter, createRegistry, gauge, histogram } from '#common/metrics.ts'
import { metricValue } from '../helpers/metrics.ts'

t.test('counters, gauges and histograms register on the given registry and render in the Prometheus text format', async t => {
  const r = createRegistry(false)
  const c = counter(r, 'reviews_total', 'Reviews.', ['operation', 'mutated'])
  const g = gauge(r, 'in_flight', 'In flight.')
  const h = histogram(r, 'latency_seconds', 'Latency.', [0.01, 0.1], ['operation'])
  c.inc({ operation: 'CREATE', mutated: 'true' })
  c.inc({ operation: 'CREATE', mutated: 'true' }, 2)
  g.set(4)
  g.dec()
  h.observe({ operation: 'CREATE' }, 0.005)
  h.observe({ operation: 'CREATE' }, 0.05)
  h.observe({ operation: 'CREATE' }, 3)
  t.equal(await metricValue(c, { operation: 'CREATE', mutated: 'true' }), 3)
  t.equal(await metricValue(c, { operation: 'UPDATE', mutated: 'true' }), 0)
  t.equal(await metricValue(h, { operation: 'CREATE' }), 3, 'a histogram counts its observations')
  const text = await r.metrics()
  for (const line of [
    '# HELP reviews_total Reviews.',
    '# TYPE reviews_total counter',
    'reviews_total{operation="CREATE",mutated="true"} 3',
    '# TYPE in_flight gauge',
    'in_flight 3',
    '# TYPE latency_seconds histogram',
    'latency_seconds_bucket{le="0.01",operation="CREATE"} 1',
    'latency_seconds_bucket{le="0.1",operation="CREATE"} 2',
    'latency_seconds_bucket{le="+Inf",operation="CREATE"} 3',
    'latency_seconds_sum{operation="CREATE"} 3.055',
    'latency_seconds_count{operation="CREATE"} 3'
  ]) t.match(`\n${text}`, `\n${line}\n`, line)
  t.equal(r.contentType, 'text/plain; version=0.0.4; charset=utf-8')
})

t.test('each registry is its own: the same name on two registries, but not twice on one; unknown labels are refused', async t => {
  const a = createRegistry(false)
  const b = createRegistry(false)
  counter(a, 'x_total', 'X.', ['reason'])
  counter(b, 'x_total', 'X.', ['reason']).inc({ reason: 'b' })
  t.notMatch(await a.metrics(), /reason="b"/)
  t.throws(() => counter(a, 'x_total', 'again'), /already been registered/)
  t.throws(() => counter(b, 'y_total', 'Y.', ['reason']).inc({ other: 'a' } as never), /Added label "other" is not included/)
})

t.test('process and Node.js metrics are included by default', async t => {
  const text = await createRegistry().metrics()
  for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'process_start_time_seconds', 'nodejs_heap_size_used_bytes', 'nodejs_eventloop_lag_seconds', 'process_open_fds']) {
    t.match(text, new RegExp(`\\n${name} [\\d.e+-]+\\n`), name)
  }
  t.notMatch(await createRegistry(false).metrics(), /process_cpu/)
})
