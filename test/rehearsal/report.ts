/**
 * The closing report (pure): the facts gathered during a run turned into the
 * checks that decide the exit code, the `--json` object and the readable
 * summary.
 */
import type { ScenarioName } from './scenarios.ts'

/** Where a DaemonSet's pods landed. */
export interface Placement {
  namespace: string
  /** The DaemonSet's nodeSelector as admitted (undefined: none). */
  nodeSelector?: Record<string, string>
  /** Node of each of its pods. */
  nodes: string[]
}

/** One pod that had to leave the interrupted node. */
export interface Move {
  /** `namespace/name`. */
  pod: string
  /** Milliseconds after the notice when its eviction was accepted. */
  evictedMs?: number
  /** Its replacement (`namespace/name`) and where it runs. */
  replacement?: string
  to?: string
  /** Milliseconds after the notice when the replacement was Ready. */
  readyMs?: number
  /** Evicted only after a PodDisruptionBudget had refused further disruptions. */
  heldByBudget: boolean
}

/** Everything a run observed. Times are epoch milliseconds. */
export interface RehearsalFacts {
  scenario: ScenarioName
  mode: 'embedded' | 'kubeconfig'
  /** The interrupted node. */
  node: string
  /** Every node and whether it is Spot (lifecycle=Ec2Spot). */
  nodes: Array<{ name: string, spot: boolean }>
  withWebhook: Placement
  withoutWebhook: Placement
  noticeAt: number
  deadlineAt: number
  detectedAt?: number
  cordonedAt?: number
  drainedAt?: number
  /** Our taint on the node (`key=value:effect`), if any. */
  taint?: string
  lbExcluded: boolean
  cordoned: boolean
  /** The agent's closing Event message (CordonAndDrain/CordonAndDrainError). */
  agentResult?: string
  /** Non-DaemonSet pods still on the node at the end. */
  leftOnNode: string[]
  moves: Move[]
  /** Evictions the API refused because of a PodDisruptionBudget (429); the agent paces on the budget, so few or none. */
  pdbRefusals: number
  /** Whether the node held more pods of a budgeted app than the budget lets go at once. */
  budgetShouldHold: boolean
  wallMs: number
}

/** One expectation of the story. */
export interface Check {
  name: string
  ok: boolean
  detail: string
}

/** Spot and On-Demand pod counts. */
export interface Counts { spot: number, onDemand: number }

/** The report, as `--json` prints it. */
export interface RehearsalReport {
  ok: boolean
  scenario: ScenarioName
  mode: 'embedded' | 'kubeconfig' | 'unknown'
  node: string | null
  /** Handler pods with the webhook (labelled namespace). */
  handlerPods: Counts
  /** The same DaemonSet in an unlabelled namespace. */
  withoutWebhook: Counts
  /** nodeSelector the webhook added. */
  nodeSelector: Record<string, string> | null
  /** Notice in IMDS to the agent's first action (Event or taint). */
  detectionMs: number | null
  cordonMs: number | null
  drainedMs: number | null
  /** Time the notice gave (or the agent's drain budget when it has no deadline). */
  deadlineMs: number | null
  deadlineMet: boolean
  podsMoved: number
  moves: Move[]
  /** Pods whose eviction waited for the budget until a replacement was Ready. */
  pdbWaits: number
  pdbRefusals: number
  agentResult: string | null
  checks: Check[]
  /** Names and details of the failed checks, or the error that stopped the run. */
  failures: string[]
  wallMs: number
}

const since = (at: number | undefined, origin: number): number | null => at === undefined ? null : Math.round(at - origin)

/** Counts the nodes of `placement` by capacity type. */
export function countPlacement (placement: Placement, nodes: RehearsalFacts['nodes']): Counts {
  const spot = new Set(nodes.filter(n => n.spot).map(n => n.name))
  const onSpot = placement.nodes.filter(n => spot.has(n)).length
  return { spot: onSpot, onDemand: placement.nodes.length - onSpot }
}

/** The story's expectations, evaluated on the facts. */
export function evaluate (f: RehearsalFacts): Check[] {
  const withWebhook = countPlacement(f.withWebhook, f.nodes)
  const without = countPlacement(f.withoutWebhook, f.nodes)
  const hasOnDemand = f.nodes.some(n => !n.spot)
  const unreplaced = f.moves.filter(m => m.replacement === undefined || m.readyMs === undefined || m.to === f.node)
  const held = f.moves.filter(m => m.heldByBudget).length
  const drainedOk = f.drainedAt !== undefined && f.drainedAt <= f.deadlineAt
  return [
    {
      name: 'webhook pinned the handler',
      ok: f.withWebhook.nodeSelector?.lifecycle === 'Ec2Spot',
      detail: `nodeSelector as admitted in ${f.withWebhook.namespace}: ${JSON.stringify(f.withWebhook.nodeSelector ?? null)}`
    },
    {
      name: 'handler pods on Spot nodes only',
      ok: withWebhook.spot > 0 && withWebhook.onDemand === 0,
      detail: `${withWebhook.spot} on Spot, ${withWebhook.onDemand} on On-Demand`
    },
    {
      name: 'without the webhook it reaches On-Demand nodes',
      ok: !hasOnDemand || without.onDemand > 0,
      detail: hasOnDemand ? `${without.spot} on Spot, ${without.onDemand} on On-Demand in ${f.withoutWebhook.namespace}` : 'no On-Demand node in this cluster'
    },
    {
      name: 'notice detected',
      ok: f.detectedAt !== undefined,
      detail: f.detectedAt === undefined ? 'the agent never acted on the notice' : `${since(f.detectedAt, f.noticeAt)} ms after it appeared`
    },
    {
      name: 'node tainted, out of load balancers and cordoned',
      ok: f.taint !== undefined && f.lbExcluded && f.cordoned,
      detail: `taint ${f.taint ?? 'missing'}; load-balancer exclusion ${f.lbExcluded ? 'set' : 'missing'}; ${f.cordoned ? 'cordoned' : 'not cordoned'}`
    },
    {
      name: 'every non-DaemonSet pod off the node',
      ok: f.leftOnNode.length === 0,
      detail: f.leftOnNode.length === 0 ? `${f.moves.length} moved` : `still there: ${f.leftOnNode.join(', ')}`
    },
    {
      name: 'replacements Ready on other nodes',
      ok: unreplaced.length === 0,
      detail: unreplaced.length === 0 ? `${f.moves.length} replacement(s) Ready` : `without a Ready replacement elsewhere: ${unreplaced.map(m => m.pod).join(', ')}`
    },
    {
      name: 'PodDisruptionBudget held an eviction back',
      ok: !f.budgetShouldHold || held > 0,
      detail: f.budgetShouldHold ? `${held} pod(s) waited for a replacement; ${f.pdbRefusals} eviction(s) refused on the way` : 'no budgeted app had more pods on the node than its budget lets go at once'
    },
    {
      name: 'drained before the deadline',
      ok: drainedOk && f.agentResult?.includes('drain complete') === true,
      detail: `${f.drainedAt === undefined ? 'not drained' : `drained ${since(f.drainedAt, f.noticeAt)} ms after the notice`}, deadline ${Math.round(f.deadlineAt - f.noticeAt)} ms; agent: ${f.agentResult ?? 'no result'}`
    }
  ]
}

/** Builds the report of a finished run. */
export function buildReport (f: RehearsalFacts): RehearsalReport {
  const checks = evaluate(f)
  const failed = checks.filter(c => !c.ok)
  return {
    ok: failed.length === 0,
    scenario: f.scenario,
    mode: f.mode,
    node: f.node,
    handlerPods: countPlacement(f.withWebhook, f.nodes),
    withoutWebhook: countPlacement(f.withoutWebhook, f.nodes),
    nodeSelector: f.withWebhook.nodeSelector ?? null,
    detectionMs: since(f.detectedAt, f.noticeAt),
    cordonMs: since(f.cordonedAt, f.noticeAt),
    drainedMs: since(f.drainedAt, f.noticeAt),
    deadlineMs: Math.round(f.deadlineAt - f.noticeAt),
    deadlineMet: f.drainedAt !== undefined && f.drainedAt <= f.deadlineAt,
    podsMoved: f.moves.filter(m => m.replacement !== undefined).length,
    moves: f.moves,
    pdbWaits: f.moves.filter(m => m.heldByBudget).length,
    pdbRefusals: f.pdbRefusals,
    agentResult: f.agentResult ?? null,
    checks,
    failures: failed.map(c => `${c.name}: ${c.detail}`),
    wallMs: Math.round(f.wallMs)
  }
}

/** The report of a run stopped by an error before the story could finish. */
export function errorReport (scenario: ScenarioName, error: string, wallMs: number): RehearsalReport {
  return {
    ok: false,
    scenario,
    mode: 'unknown',
    node: null,
    handlerPods: { spot: 0, onDemand: 0 },
    withoutWebhook: { spot: 0, onDemand: 0 },
    nodeSelector: null,
    detectionMs: null,
    cordonMs: null,
    drainedMs: null,
    deadlineMs: null,
    deadlineMet: false,
    podsMoved: 0,
    moves: [],
    pdbWaits: 0,
    pdbRefusals: 0,
    agentResult: null,
    checks: [],
    failures: [error],
    wallMs: Math.round(wallMs)
  }
}

const ms = (v: number | null): string => v === null ? 'n/a' : `${v} ms`

/** The readable report printed after the timeline. */
export function formatReport (r: RehearsalReport): string {
  const lines = [`Report: ${r.scenario}${r.node === null ? '' : ` on ${r.node}`}${r.mode === 'unknown' ? '' : ` (${r.mode === 'embedded' ? 'embedded simulated cluster' : 'your cluster'})`}`]
  const row = (label: string, value: string): void => { lines.push(`  ${label.padEnd(19)} ${value}`) }
  if (r.mode !== 'unknown') {
    row('webhook effect', `nodeSelector ${r.nodeSelector === null ? 'not added' : Object.entries(r.nodeSelector).map(([k, v]) => `${k}=${v}`).join(',')}: handler pods ${r.handlerPods.spot} on Spot, ${r.handlerPods.onDemand} on On-Demand`)
    row('', `without it: ${r.withoutWebhook.spot} on Spot, ${r.withoutWebhook.onDemand} on On-Demand`)
    row('detection latency', `${ms(r.detectionMs)} (notice in IMDS to the agent's first action)`)
    row('time to cordon', ms(r.cordonMs))
    row('time to drained', `${ms(r.drainedMs)} (deadline ${ms(r.deadlineMs)}: ${r.deadlineMet ? `met, ${(r.deadlineMs ?? 0) - (r.drainedMs ?? 0)} ms to spare` : 'MISSED'})`)
    row('pods moved', String(r.podsMoved))
    for (const m of r.moves) {
      const where = m.replacement === undefined ? 'not replaced' : `-> ${m.to ?? '?'}${m.readyMs === undefined ? ' (not Ready)' : `, Ready at +${m.readyMs} ms`}`
      lines.push(`    ${m.pod.padEnd(46)} evicted at ${m.evictedMs === undefined ? '?' : `+${m.evictedMs} ms`} ${where}${m.heldByBudget ? ' [held by PodDisruptionBudget]' : ''}`)
    }
    row('PDB waits', `${r.pdbWaits} pod(s) held until a replacement was Ready, ${r.pdbRefusals} eviction(s) refused (429)`)
    row('agent result', r.agentResult ?? 'none')
    row('checks', `${r.checks.filter(c => c.ok).length}/${r.checks.length} passed`)
  }
  row('wall time', `${(r.wallMs / 1000).toFixed(1)} s`)
  lines.push(r.ok ? 'Rehearsal passed.' : `Rehearsal FAILED:\n${r.failures.map(f => `  - ${f}`).join('\n')}`)
  return lines.join('\n') + '\n'
}
