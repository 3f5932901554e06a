/**
 * The agent's Prometheus metrics, registered on the program's registry
 * (#common/metrics.ts) that /metrics renders.
 */
import { counter, createRegistry, gauge, histogram, type Counter, type Gauge, type Histogram, type Registry } from '#common/metrics.ts'

/** Every metric the agent updates. */
export interface AgentMetrics {
  registry: Registry
  /** Notices seen, by kind (counted once per event id). */
  notices: Counter<'kind'>
  /** Node actions by action (event, taint, label, cordon, drain, notify, undo, ...) and result (ok, error, skipped, dry-run). */
  actions: Counter<'action' | 'result'>
  /** Eviction outcomes: evicted, gone, blocked, deleted-at-deadline, deleted-finished, gave-up, error. */
  evictions: Counter<'outcome'>
  /** Drain duration in seconds, by kind. */
  drainDuration: Histogram<'kind'>
  /** Failed IMDS attempts by path and reason (timeout, transport, http-5xx, ...). */
  imdsErrors: Counter<'path' | 'reason'>
  /** IMDS bodies that did not parse, by kind. */
  unparseableNotices: Counter<'kind'>
  /** Unix time of the last successful IMDS poll. */
  lastImdsSuccess: Gauge
  /** The AWS Node Termination Handler's `actions_total`: node_action cordon, cordon-and-drain or uncordon, node_status success or error. */
  nthActions: Counter<'node_action' | 'node_status'>
  /** The Node Termination Handler's `events_error_total`: failed or unreadable polls, by monitor (SPOT_ITN_MONITOR, ...). */
  nthEventErrors: Counter<'event_error_where'>
}

/** Creates the agent's metrics on `registry` (a new one with process metrics by default). */
export function createAgentMetrics (registry = createRegistry()): AgentMetrics {
  return {
    registry,
    notices: counter(registry, 'spot_agent_notices_total', 'Interruption notices acted on, by kind.', ['kind']),
    actions: counter(registry, 'spot_agent_actions_total', 'Node actions taken, by action and result.', ['action', 'result']),
    evictions: counter(registry, 'spot_agent_evictions_total', 'Pod eviction outcomes during drains.', ['outcome']),
    drainDuration: histogram(registry, 'spot_agent_drain_duration_seconds', 'Time from drain start until every pod was gone or the drain stopped.', [1, 2, 5, 10, 20, 30, 45, 60, 90, 120, 180, 300], ['kind']),
    imdsErrors: counter(registry, 'spot_agent_imds_errors_total', 'Failed instance metadata requests, by path and reason.', ['path', 'reason']),
    unparseableNotices: counter(registry, 'spot_agent_unparseable_notices_total', 'IMDS notice bodies that did not parse, by kind.', ['kind']),
    lastImdsSuccess: gauge(registry, 'spot_agent_last_imds_success_timestamp_seconds', 'Unix time of the last successful IMDS poll.'),
    // Named and labelled as the Node Termination Handler exports them, so its dashboards and alerts carry over.
    nthActions: counter(registry, 'actions_total', 'Number of actions (the AWS Node Termination Handler\'s metric).', ['node_action', 'node_status']),
    nthEventErrors: counter(registry, 'events_error_total', 'Number of errors in events processing (the AWS Node Termination Handler\'s metric).', ['event_error_where'])
  }
}
