/** The webhook's Prometheus metrics. */
import { counter, gauge, histogram, type Counter, type Gauge, type Histogram, type Registry } from '#common/metrics.ts'

/** Metrics updated by the HTTPS server and the certificate reloader. */
export interface WebhookMetrics {
  /** Reviews answered, by operation (`unknown` for bad input), outcome (`allowed`, `bad_request`, `throttled`, `error`) and mutated. */
  requests: Counter<'operation' | 'outcome' | 'mutated'>
  /** Time from request received to response sent, seconds. */
  duration: Histogram<'operation'>
  /** Certificate (re)loads by result (`loaded`, `rejected`). */
  certificateLoads: Counter<'result'>
  /** notAfter of the certificate being served, unix seconds. */
  certificateExpiry: Gauge
  /** Reviews over SMALL_BODY_BYTES by how they got their share of the body budget (`granted`, `waited`, `refused`, `gave_up`). */
  largeReviews: Counter<'result'>
}

/** Latency buckets in seconds: admission calls are expected in single-digit milliseconds, the API server gives up at 10 to 30 s. */
const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10]

/** Registers the webhook's metrics in `registry`. */
export function createWebhookMetrics (registry: Registry): WebhookMetrics {
  return {
    requests: counter(registry, 'spot_webhook_admission_requests_total', 'Admission reviews answered.', ['operation', 'outcome', 'mutated']),
    duration: histogram(registry, 'spot_webhook_admission_duration_seconds', 'Time to answer an admission request.', DURATION_BUCKETS, ['operation']),
    certificateLoads: counter(registry, 'spot_webhook_certificate_loads_total', 'Serving certificate loads from --cert-dir.', ['result']),
    certificateExpiry: gauge(registry, 'spot_webhook_certificate_expiry_timestamp_seconds', 'notAfter of the serving certificate, unix seconds.'),
    largeReviews: counter(registry, 'spot_webhook_large_reviews_total', 'Reviews over 64 KiB by how they got their share of the in-flight body budget: granted at once, after waiting, refused (line full) or gave up (waited too long or the client left).', ['result'])
  }
}
