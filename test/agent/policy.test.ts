/** The agent's decisions under its configuration: table tests over the pure policy. */
import t from 'tap'
import { actsOn, drainOptionsFor, drainsFor, imdsStaleAfterMs, isHandled, monitoredKinds, readinessProblem, settleDelayMs, waveLimitMs, waveStillArriving, type MonitorHealth, type ReadinessInput } from '../../agent/policy.ts'
import type { Notice } from '../../agent/notices.ts'
import type { InterruptionRecord } from '../../agent/node-state.ts'
import { agentConfig } from './world.ts'
import { AGENT_OPTIONS } from '../../agent/config.ts'

const spot: Notice = { kind: 'spot-itn', eventId: 'itn-1', deadline: 1_000_000, state: 'active', detail: '' }
const rebalance: Notice = { kind: 'rebalance-recommendation', eventId: 'rebalance-1', state: 'active', detail: '' }

t.test('monitored kinds follow the ENABLE_* switches; rebalance draining implies monitoring', async t => {
  const rows: Array<[Record<string, string>, string[]]> = [
    [{}, ['spot-itn', 'scheduled-maintenance']],
    [{ ENABLE_REBALANCE_MONITORING: 'true' }, ['spot-itn', 'rebalance-recommendation', 'scheduled-maintenance']],
    [{ ENABLE_REBALANCE_DRAINING: 'true' }, ['spot-itn', 'rebalance-recommendation', 'scheduled-maintenance']],
    [{ ENABLE_ASG_LIFECYCLE_DRAINING: 'true', ENABLE_SPOT_INTERRUPTION_DRAINING: 'false', ENABLE_SCHEDULED_EVENT_DRAINING: 'false' }, ['asg-lifecycle-termination']],
    [{ ENABLE_SPOT_INTERRUPTION_DRAINING: 'false', ENABLE_SCHEDULED_EVENT_DRAINING: 'false' }, []]
  ]
  for (const [env, kinds] of rows) t.same(monitoredKinds(agentConfig(env)), kinds, JSON.stringify(env))
})

t.test('which notices drain: all but rebalance unless asked, none with CORDON_ONLY', async t => {
  const rows: Array<[Record<string, string>, Notice['kind'], boolean]> = [
    [{}, 'spot-itn', true],
    [{}, 'scheduled-maintenance', true],
    [{}, 'asg-lifecycle-termination', true],
    [{}, 'rebalance-recommendation', false],
    [{ ENABLE_REBALANCE_DRAINING: 'true' }, 'rebalance-recommendation', true],
    [{ CORDON_ONLY: 'true' }, 'spot-itn', false],
    [{ CORDON_ONLY: 'true', ENABLE_REBALANCE_DRAINING: 'true' }, 'rebalance-recommendation', false]
  ]
  for (const [env, kind, drains] of rows) t.equal(drainsFor(kind, agentConfig(env)), drains, `${kind} ${JSON.stringify(env)}`)
})

t.test('drain options carry the notice deadline, the grace settings, the own pod and deletion at the deadline per kind', async t => {
  t.same(drainOptionsFor(spot, agentConfig({})), {
    ignoreDaemonSets: true, deleteLocalData: true, podTerminationGracePeriod: -1, ownPod: undefined, deadline: 1_000_000, noDeadlineBudgetMs: 120_000, safetyMarginMs: 5000, deleteAtDeadline: true
  })
  const custom = drainOptionsFor(rebalance, agentConfig({ POD_NAME: 'agent-x', POD_NAMESPACE: 'spot-handler', NODE_TERMINATION_GRACE_PERIOD: '60', POD_TERMINATION_GRACE_PERIOD: '10', IGNORE_DAEMON_SETS: 'false', DELETE_LOCAL_DATA: 'false', DEADLINE_SAFETY_MARGIN: '2s' }))
  t.same(custom, {
    ignoreDaemonSets: false, deleteLocalData: false, podTerminationGracePeriod: 10, ownPod: { namespace: 'spot-handler', name: 'agent-x' }, deadline: undefined, noDeadlineBudgetMs: 60_000, safetyMarginMs: 2000, deleteAtDeadline: false
  })
  t.equal(drainOptionsFor(rebalance, agentConfig({ DELETE_AT_DEADLINE: 'rebalance-recommendation' })).deleteAtDeadline, true)
  t.equal(drainOptionsFor({ ...spot, rehearsal: true }, agentConfig({})).deleteAtDeadline, false, 'a rehearsal never deletes a pod its budget protects')
})

t.test('an event is handled once undone, or drained with its notification sent or none to send; a rehearsal never until it put the node back', async t => {
  const record = (extra: Partial<InterruptionRecord>): InterruptionRecord => ({ id: 'itn-1', kind: 'spot-itn', since: '2026-01-01T00:00:00Z', ...extra })
  const withHook = agentConfig({ WEBHOOK_URL: 'http://127.0.0.1:9/hook' })
  const without = agentConfig({})
  const rows: Array<[string, InterruptionRecord | undefined, Notice, ReturnType<typeof agentConfig>, boolean]> = [
    ['nothing recorded', undefined, spot, withHook, false],
    ['recorded, not drained', record({}), spot, withHook, false],
    ['drained, not notified', record({ drained: 'x' }), spot, withHook, false],
    ['drained and notified', record({ drained: 'x', notified: true }), spot, withHook, true],
    ['drained, nothing to notify', record({ drained: 'x' }), spot, without, true],
    ['undone', record({ undone: 'x' }), spot, withHook, true],
    ['a rehearsal drained and notified is not done yet', record({ drained: 'x', notified: true }), { ...spot, rehearsal: true }, withHook, false],
    ['an undone rehearsal is', record({ undone: 'x' }), { ...spot, rehearsal: true }, withHook, true]
  ]
  for (const [name, r, notice, config, handled] of rows) t.equal(isHandled(r, notice, config), handled, name)
})

t.test('readiness: every IMDS monitor polled within the stale time, and a Node watch not down for long', async t => {
  const spot = (lastSuccess: number | undefined): MonitorHealth => ({ kind: 'spot-itn', lastSuccess })
  const ready: ReadinessInput = { now: 100_000, imdsMonitors: [spot(95_000), { kind: 'scheduled-maintenance', lastSuccess: 99_000 }], imdsStaleAfterMs: 30_000, nodeWatchDownSince: undefined, nodeWatchStaleAfterMs: 60_000 }
  const rows: Array<[string, Partial<ReadinessInput>, string | undefined]> = [
    ['all well', {}, undefined],
    ['never polled', { imdsMonitors: [spot(undefined)] }, 'no successful IMDS poll yet (spot-itn)'],
    ['polled long ago', { imdsMonitors: [spot(60_000)] }, 'no successful IMDS poll for 40s (spot-itn; each request may take --metadata-timeout)'],
    ['one monitor stale among good ones', { imdsMonitors: [{ kind: 'scheduled-maintenance', lastSuccess: 99_000 }, spot(50_000)] }, 'no successful IMDS poll for 50s (spot-itn; each request may take --metadata-timeout)'],
    ['just within the stale time', { imdsMonitors: [spot(70_000)] }, undefined],
    ['no IMDS monitor: IMDS does not matter', { imdsMonitors: [] }, undefined],
    ['the watch down a little', { nodeWatchDownSince: 50_000 }, undefined],
    ['the watch down long', { nodeWatchDownSince: 30_000 }, 'no watch on the Node for 70s (rehearsals and reboots go unnoticed)'],
    ['IMDS first', { imdsMonitors: [spot(undefined)], nodeWatchDownSince: 0 }, 'no successful IMDS poll yet (spot-itn)']
  ]
  for (const [name, change, problem] of rows) t.equal(readinessProblem({ ...ready, ...change }), problem, name)
})

t.test('a monitor is stale after three poll intervals, or one whole poll of timed-out tries when that is longer', async t => {
  t.equal(imdsStaleAfterMs({ pollInterval: 2000, metadataTimeout: 2000, metadataTries: 3 }), 8000)
  t.equal(imdsStaleAfterMs({ pollInterval: 10_000, metadataTimeout: 2000, metadataTries: 3 }), 30_000)
  t.equal(imdsStaleAfterMs({ pollInterval: 2000, metadataTimeout: 10_000, metadataTries: 1 }), 12_000)
})

t.test('scheduled events are acted on for every code by default, as the Node Termination Handler does, or for the codes listed', async t => {
  const scheduled = (code: string): Notice => ({ kind: 'scheduled-maintenance', eventId: 'instance-event-1', deadline: 1, state: 'active', detail: '', code })
  const rows: Array<[Record<string, string>, string, boolean]> = [
    [{}, 'system-maintenance', true],
    [{}, 'instance-stop', true],
    [{ SCHEDULED_EVENT_CODES: 'instance-stop,system-reboot' }, 'system-maintenance', false],
    [{ SCHEDULED_EVENT_CODES: 'instance-stop,system-reboot' }, 'system-reboot', true]
  ]
  for (const [env, code, acts] of rows) t.equal(actsOn(scheduled(code), agentConfig(env)), acts, `${code} under ${JSON.stringify(env)}`)
  t.equal(actsOn(spot, agentConfig({ SCHEDULED_EVENT_CODES: 'instance-stop' })), true, 'other kinds are not filtered')
})

t.test('NODE_TERMINATION_GRACE_PERIOD=0 means no time limit for a drain without a deadline', async t => {
  t.equal(drainOptionsFor(rebalance, agentConfig({ NODE_TERMINATION_GRACE_PERIOD: '0' })).noDeadlineBudgetMs, Infinity)
  t.equal(drainOptionsFor(rebalance, agentConfig({ NODE_TERMINATION_GRACE_PERIOD: '30' })).noDeadlineBudgetMs, 30_000)
})

t.test('a drain settles DRAIN_SETTLE_TIME after the cordon, at most a tenth of the time left, and not again when resumed', async t => {
  const settle = agentConfig({ DRAIN_SETTLE_TIME: '2s' })
  const rows: Array<[string, Notice, number, boolean, number]> = [
    ['two minutes left', spot, 1_000_000 - 118_000, false, 2000],
    ['ten seconds left: a tenth of them', spot, 1_000_000 - 10_000, false, 1000],
    ['past the deadline', spot, 1_000_100, false, 0],
    ['no deadline', rebalance, 0, false, 2000],
    ['resumed after a restart', spot, 1_000_000 - 118_000, true, 0]
  ]
  for (const [what, notice, now, resumed, expected] of rows) t.equal(settleDelayMs(notice, settle, now, resumed), expected, what)
  t.equal(settleDelayMs(spot, agentConfig({ DRAIN_SETTLE_TIME: '0' }), 0, false), 0, '0 evicts at once')
  t.equal(AGENT_OPTIONS.drainSettleTime.default, 2000, 'one poll interval by default')
})

t.test('a settling drain waits more rounds while the reclaim reaches more nodes, up to five settle times or a tenth of the time left', async t => {
  const settle = agentConfig({ DRAIN_SETTLE_TIME: '2s' })
  t.equal(waveLimitMs(spot, settle, 1_000_000 - 118_000), 10_000, 'five settle times')
  t.equal(waveLimitMs(spot, settle, 1_000_000 - 30_000), 3000, 'a tenth of the time left')
  t.equal(waveLimitMs(rebalance, settle, 0), 10_000, 'no deadline')
  const roundStart = 50_000
  const rows: Array<[string, number[] | undefined, number, boolean]> = [
    ['a node got its notice during the round', [48_000, 49_000, 50_500], 2000, true],
    ['every node got its notice before the round began', [48_000, 49_000, 50_000], 4000, false],
    ['no node left (all undone)', [], 4000, false],
    ['more, but the limit is reached', [48_000, 51_000], 10_000, false],
    ['the nodes could not be listed', undefined, 2000, false]
  ]
  for (const [what, joinedAt, settled, expected] of rows) t.equal(waveStillArriving(joinedAt, roundStart, settled, 10_000), expected, what)
})
