import t from 'tap'
import { Registry } from '#common/metrics.ts'

t.test('counters, gauges and histograms render in the Prometheus text format', async t => {
  const r = new Registry(false)
  const c = r.counter('reviews_total', 'Reviews.', ['operation', 'mutated'])
  const g = r.gauge('in_flight', 'In flight.')
  const h = r.histogram('latency_seconds', 'Latency.', [0.01, 0.1], ['operation'])
  c.inc({ operation: 'CREATE', mutated: true })
  c.inc({ operation: 'CREATE', mutated: true }, 2)
  g.set({}, 4)
  g.inc({}, -1)
  h.observe({ operation: 'CREATE' }, 0.005)
  h.observe({ operation: 'CREATE' }, 0.05)
  h.observe({ operation: 'CREATE' }, 3)
  t.equal(c.get({ operation: 'CREATE', mutated: true }), 3)
  t.equal(h.count({ operation: 'CREATE' }), 3)
  t.equal(r.render(), [
    '# HELP reviews_total Reviews.',
    '# TYPE reviews_total counter',
    'reviews_total{operation="CREATE",mutated="true"} 3',
    '# HELP in_flight In flight.',
    '# TYPE in_flight gauge',
    'in_flight 3',
    '# HELP latency_seconds Latency.',
    '# TYPE latency_seconds histogram',
    'latency_seconds_bucket{operation="CREATE",le="0.01"} 1',
    'latency_seconds_bucket{operation="CREATE",le="0.1"} 2',
    'latency_seconds_bucket{operation="CREATE",le="+Inf"} 3',
    'latency_seconds_sum{operation="CREATE"} 3.055',
    'latency_seconds_count{operation="CREATE"} 3',
    ''
  ].join('\n'))
})

t.test('label values are escaped and unknown labels rejected', async t => {
  const r = new Registry(false)
  const c = r.counter('x_total', 'X.', ['reason'])
  c.inc({ reason: 'say "hi"\\\n' })
  t.match(r.render(), 'x_total{reason="say \\"hi\\"\\\\\\n"} 1')
  t.throws(() => c.inc({ other: 'a' }), { message: 'unknown label "other" (declared: reason)' })
  t.throws(() => c.inc({}, -1), { message: /cannot decrease/ })
  t.throws(() => r.counter('x_total', 'again'), { message: 'metric x_total registered twice' })
  t.throws(() => r.histogram('h', 'H.', [1, 1]), { message: /buckets must increase/ })
})

t.test('an untouched unlabelled counter renders as zero', async t => {
  const r = new Registry(false)
  r.counter('idle_total', 'Idle.')
  t.match(r.render(), /\nidle_total 0\n/)
})

t.test('process metrics are included by default', async t => {
  const text = new Registry().render()
  for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'process_start_time_seconds', 'nodejs_heap_used_bytes']) {
    t.match(text, new RegExp(`\\n${name} \\d`), name)
  }
})
