/**
 * Prometheus metrics on prom-client, the registry dashboards and alerts
 * across the ecosystem are built against. Each program creates one registry
 * (with the standard process and Node.js metrics: CPU, memory, file
 * descriptors, event-loop lag, GC) and registers its own metrics on it, so
 * tests can inject a fresh registry per instance.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'

export { Counter, Gauge, Histogram, Registry }

/** A registry, with the standard process and Node.js metrics unless `processMetrics` is false. */
export function createRegistry (processMetrics = true): Registry {
  const registry = new Registry()
  if (processMetrics) collectDefaultMetrics({ register: registry })
  return registry
}

/** A counter registered on `registry`. */
export function counter<L extends string> (registry: Registry, name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
  return new Counter({ name, help, labelNames, registers: [registry] })
}

/** A gauge registered on `registry`. */
export function gauge<L extends string> (registry: Registry, name: string, help: string, labelNames: readonly L[] = []): Gauge<L> {
  return new Gauge({ name, help, labelNames, registers: [registry] })
}

/** A histogram with `buckets` registered on `registry`. */
export function histogram<L extends string> (registry: Registry, name: string, help: string, buckets: readonly number[], labelNames: readonly L[] = []): Histogram<L> {
  return new Histogram({ name, help, buckets: [...buckets], labelNames, registers: [registry] })
}
