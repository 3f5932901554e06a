/**
 * A small Prometheus registry rendering the text exposition format (0.0.4):
 * counters, gauges and histograms with labels, plus process metrics.
 * Enough for /metrics of the webhook and the agent without another dependency.
 */

type Labels = Record<string, string | number | boolean>

function labelKey (names: readonly string[], labels: Labels): string {
  for (const name of Object.keys(labels)) {
    if (!names.includes(name)) throw new Error(`unknown label "${name}" (declared: ${names.join(', ') || 'none'})`)
  }
  return JSON.stringify(names.map(n => String(labels[n] ?? '')))
}

function escapeLabel (value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')
}

function formatLabels (names: readonly string[], values: readonly string[], extra = ''): string {
  const parts = names.map((n, i) => `${n}="${escapeLabel(values[i]!)}"`)
  if (extra !== '') parts.push(extra)
  return parts.length === 0 ? '' : `{${parts.join(',')}}`
}

function formatNumber (n: number): string {
  if (n === Infinity) return '+Inf'
  if (n === -Infinity) return '-Inf'
  return Number.isNaN(n) ? 'NaN' : String(n)
}

/** Something the registry can render. */
interface Metric {
  render (): string
}

abstract class Scalar implements Metric {
  protected readonly values = new Map<string, number>()
  readonly name: string
  readonly help: string
  readonly labelNames: readonly string[]
  private readonly type: string
  constructor (name: string, help: string, labelNames: readonly string[], type: string) {
    this.name = name
    this.help = help
    this.labelNames = labelNames
    this.type = type
  }

  protected add (labels: Labels, delta: number): void {
    const key = labelKey(this.labelNames, labels)
    this.values.set(key, (this.values.get(key) ?? 0) + delta)
  }

  /** Current value for the given labels (0 when never touched). */
  get (labels: Labels = {}): number {
    return this.values.get(labelKey(this.labelNames, labels)) ?? 0
  }

  render (): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} ${this.type}`]
    if (this.labelNames.length === 0 && this.values.size === 0) lines.push(`${this.name} 0`)
    for (const [key, value] of this.values) {
      lines.push(`${this.name}${formatLabels(this.labelNames, JSON.parse(key))} ${formatNumber(value)}`)
    }
    return lines.join('\n')
  }
}

/** A monotonically increasing count. */
export class Counter extends Scalar {
  constructor (name: string, help: string, labelNames: readonly string[] = []) { super(name, help, labelNames, 'counter') }
  /** Adds `by` (default 1, never negative). */
  inc (labels: Labels = {}, by = 1): void {
    if (by < 0) throw new Error(`counter ${this.name} cannot decrease`)
    this.add(labels, by)
  }
}

/** A value that goes up and down. */
export class Gauge extends Scalar {
  constructor (name: string, help: string, labelNames: readonly string[] = []) { super(name, help, labelNames, 'gauge') }
  /** Sets the value. */
  set (labels: Labels, value: number): void {
    this.values.set(labelKey(this.labelNames, labels), value)
  }

  /** Adds `by` (may be negative). */
  inc (labels: Labels = {}, by = 1): void { this.add(labels, by) }
}

/** Observations counted into cumulative buckets, with sum and count. */
export class Histogram implements Metric {
  private readonly series = new Map<string, { buckets: number[], sum: number, count: number }>()
  readonly name: string
  readonly help: string
  readonly buckets: readonly number[]
  readonly labelNames: readonly string[]
  constructor (name: string, help: string, buckets: readonly number[], labelNames: readonly string[] = []) {
    this.name = name
    this.help = help
    this.buckets = buckets
    this.labelNames = labelNames
    if (buckets.some((b, i) => i > 0 && b <= buckets[i - 1]!)) throw new Error(`histogram ${name}: buckets must increase`)
  }

  /** Records one observation. */
  observe (labels: Labels, value: number): void {
    const key = labelKey(this.labelNames, labels)
    let s = this.series.get(key)
    if (s === undefined) {
      s = { buckets: this.buckets.map(() => 0), sum: 0, count: 0 }
      this.series.set(key, s)
    }
    this.buckets.forEach((le, i) => { if (value <= le) s.buckets[i]!++ })
    s.sum += value
    s.count++
  }

  /** Number of observations for the given labels. */
  count (labels: Labels = {}): number {
    return this.series.get(labelKey(this.labelNames, labels))?.count ?? 0
  }

  render (): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`]
    for (const [key, s] of this.series) {
      const values: string[] = JSON.parse(key)
      this.buckets.forEach((le, i) => {
        lines.push(`${this.name}_bucket${formatLabels(this.labelNames, values, `le="${formatNumber(le)}"`)} ${s.buckets[i]}`)
      })
      lines.push(`${this.name}_bucket${formatLabels(this.labelNames, values, 'le="+Inf"')} ${s.count}`)
      lines.push(`${this.name}_sum${formatLabels(this.labelNames, values)} ${formatNumber(s.sum)}`)
      lines.push(`${this.name}_count${formatLabels(this.labelNames, values)} ${s.count}`)
    }
    return lines.join('\n')
  }
}

/** Standard process metrics, computed when scraped. */
class ProcessMetrics implements Metric {
  private readonly startSeconds = Math.round(Date.now() / 1000 - process.uptime())
  render (): string {
    const cpu = process.cpuUsage()
    const mem = process.memoryUsage()
    const rows: Array<[string, string, string, number]> = [
      ['process_cpu_seconds_total', 'counter', 'Total user and system CPU time spent in seconds.', (cpu.user + cpu.system) / 1e6],
      ['process_resident_memory_bytes', 'gauge', 'Resident memory size in bytes.', mem.rss],
      ['process_start_time_seconds', 'gauge', 'Start time of the process since unix epoch in seconds.', this.startSeconds],
      ['nodejs_heap_used_bytes', 'gauge', 'V8 heap used in bytes.', mem.heapUsed],
      ['nodejs_heap_total_bytes', 'gauge', 'V8 heap total in bytes.', mem.heapTotal]
    ]
    return rows.map(([name, type, help, v]) => `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n${name} ${formatNumber(v)}`).join('\n')
  }
}

/** A set of metrics rendered together on /metrics. */
export class Registry {
  private readonly metrics = new Map<string, Metric & { name?: string }>()
  constructor (withProcessMetrics = true) {
    if (withProcessMetrics) this.metrics.set('process', new ProcessMetrics())
  }

  private register<M extends Metric & { name: string }> (metric: M): M {
    if (this.metrics.has(metric.name)) throw new Error(`metric ${metric.name} registered twice`)
    this.metrics.set(metric.name, metric)
    return metric
  }

  /** Creates and registers a counter. */
  counter (name: string, help: string, labelNames: readonly string[] = []): Counter {
    return this.register(new Counter(name, help, labelNames))
  }

  /** Creates and registers a gauge. */
  gauge (name: string, help: string, labelNames: readonly string[] = []): Gauge {
    return this.register(new Gauge(name, help, labelNames))
  }

  /** Creates and registers a histogram. */
  histogram (name: string, help: string, buckets: readonly number[], labelNames: readonly string[] = []): Histogram {
    return this.register(new Histogram(name, help, buckets, labelNames))
  }

  /** The whole registry in Prometheus text format. */
  render (): string {
    return [...this.metrics.values()].map(m => m.render()).join('\n') + '\n'
  }
}

/** Content-Type of the text exposition format. */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'
