/** Reading prom-client metrics in tests and the rehearsal. */
import type { Counter, Gauge, Histogram } from '#common/metrics.ts'

/**
 * The value of `metric` for exactly `labels` (0 when that series was never
 * touched); for a histogram, the number of observations.
 */
export async function metricValue (metric: Counter<string> | Gauge<string> | Histogram<string>, labels: Record<string, string> = {}): Promise<number> {
  const { values } = await metric.get()
  const wanted = Object.entries(labels)
  const series = values.filter(v => {
    const name = (v as { metricName?: string }).metricName
    if (name !== undefined && !name.endsWith('_count')) return false
    const own = Object.entries(v.labels)
    return own.length === wanted.length && wanted.every(([k, value]) => String(v.labels[k]) === value)
  })
  return series.reduce((sum, v) => sum + v.value, 0)
}
