import t from 'tap'
import type { V1Node } from '@kubernetes/client-node'
import {
  activeRecords, cordoned, expiredRecords, findRecord, interruptedSince, nextRebalanceExpiry, parseUptime, readState, recordNotice, updateRecord, withEventUndone, withLbExclusion, withoutRehearsal, withOutOfService, withTaint,
  INTERRUPTED_LABEL, LB_EXCLUSION_LABEL, NTH_NAMES, OUT_OF_SERVICE_TAINT, REHEARSE_ANNOTATION, STATE_ANNOTATION, FINISHED_EVENTS_KEPT, type TaintEffect
} from '../../agent/node-state.ts'
import type { Notice } from '../../agent/notices.ts'

interface NodeActionOptions { taint: boolean, taintEffect: TaintEffect, excludeFromLoadBalancers: boolean }
const on: NodeActionOptions = { taint: true, taintEffect: 'NoSchedule', excludeFromLoadBalancers: true }

/** The node edits of the action table for `notice`, in its order (record, taint, label, cordon). */
function applyNotice (n: V1Node, notice: Notice, o: NodeActionOptions, now: number): V1Node {
  let next = recordNotice(n, notice, now)
  if (o.taint) next = withTaint(next, notice, o.taintEffect)
  if (o.excludeFromLoadBalancers) next = withLbExclusion(next)
  return cordoned(next, now)
}
const spot: Notice = { kind: 'spot-itn', eventId: 'itn-1', deadline: Date.parse('2026-01-01T00:02:00Z'), state: 'active', detail: 'x' }
const rebalance: Notice = { kind: 'rebalance-recommendation', eventId: 'rebalance-1', state: 'active', detail: 'y' }
const T0 = Date.parse('2026-01-01T00:00:00Z')

function node (extra: Partial<V1Node> = {}): V1Node {
  return { metadata: { name: 'n1', resourceVersion: '7', labels: { 'kubernetes.io/hostname': 'n1' } }, spec: { taints: [{ key: 'other', value: 'x', effect: 'NoExecute' }] }, ...extra }
}

t.test('acting on a notice taints, labels and cordons the node and records what it did', async t => {
  const after = applyNotice(node(), spot, on, T0)
  t.same(after.spec?.taints, [{ key: 'other', value: 'x', effect: 'NoExecute' }, { key: 'spot-handler.io/spot-itn', value: 'itn-1', effect: 'NoSchedule' }])
  t.equal(after.metadata?.labels?.[LB_EXCLUSION_LABEL], 'true')
  t.equal(after.metadata?.labels?.[INTERRUPTED_LABEL], 'spot-itn', 'labelled interrupted, so a reclaim can be counted with one list')
  t.equal(after.spec?.unschedulable, true)
  const state = readState(after)
  t.same(state, {
    events: [{ id: 'itn-1', kind: 'spot-itn', since: '2026-01-01T00:00:00.000Z', deadline: '2026-01-01T00:02:00.000Z' }],
    cordonedAt: '2026-01-01T00:00:00.000Z',
    lbLabelAdded: true
  })
  t.equal(readState(node()).events.length, 0, 'the input is not modified')
})

t.test('acting twice on the same notice changes nothing more', async t => {
  const once = applyNotice(node(), spot, on, T0)
  t.same(applyNotice(once, spot, on, T0 + 5000), once)
})

t.test('what someone else set is not claimed: an existing label or cordon stays theirs', async t => {
  const theirs = node({ metadata: { name: 'n1', labels: { [LB_EXCLUSION_LABEL]: 'yes' } }, spec: { unschedulable: true } })
  const after = applyNotice(theirs, spot, on, T0)
  const state = readState(after)
  t.equal(state.cordonedAt, undefined)
  t.equal(state.lbLabelAdded, undefined)
  const undone = withEventUndone(after, 'itn-1', T0 + 1000)
  t.equal(undone.spec?.unschedulable, true, 'still cordoned')
  t.equal(undone.metadata?.labels?.[LB_EXCLUSION_LABEL], 'yes')
  t.same(undone.spec?.taints, undefined, 'our taint is gone')
})

t.test('taint and label can be switched off; a newer notice of the same kind replaces the taint', async t => {
  const after = applyNotice(node({ metadata: { name: 'n1' }, spec: {} }), spot, { taint: false, taintEffect: 'NoSchedule', excludeFromLoadBalancers: false }, T0)
  t.same(after.spec?.taints, undefined)
  t.same(after.metadata?.labels, { [INTERRUPTED_LABEL]: 'spot-itn' }, 'no LB label; the interrupted label always')
  t.equal(after.spec?.unschedulable, true)
  const first = applyNotice(node(), spot, { ...on, taintEffect: 'NoExecute' }, T0)
  const second = applyNotice(first, { ...spot, eventId: 'itn-2' }, { ...on, taintEffect: 'NoExecute' }, T0)
  t.same(second.spec?.taints?.filter(x => x.key === 'spot-handler.io/spot-itn'), [{ key: 'spot-handler.io/spot-itn', value: 'itn-2', effect: 'NoExecute' }])
})

t.test('undo removes only what we added, and only when no other event holds the node', async t => {
  let n = applyNotice(node(), rebalance, on, T0)
  n = applyNotice(n, spot, on, T0 + 1000)
  n = withEventUndone(n, 'rebalance-1', T0 + 2000)
  t.equal(n.spec?.unschedulable, true, 'the spot event still holds it')
  t.same(n.spec?.taints?.map(x => x.key), ['other', 'spot-handler.io/spot-itn'])
  t.same(activeRecords(readState(n)).map(e => e.id), ['itn-1'])
  t.equal(n.metadata?.labels?.[INTERRUPTED_LABEL], 'spot-itn', 'still interrupted')
  n = withEventUndone(n, 'itn-1', T0 + 3000)
  t.equal(n.spec?.unschedulable, undefined)
  t.equal(n.metadata?.labels?.[LB_EXCLUSION_LABEL], undefined)
  t.equal(n.metadata?.labels?.[INTERRUPTED_LABEL], undefined, 'the interrupted label goes with the last event')
  t.same(n.spec?.taints, [{ key: 'other', value: 'x', effect: 'NoExecute' }])
  t.equal(findRecord(readState(n), 'itn-1')?.undone, new Date(T0 + 3000).toISOString())
  t.equal(withEventUndone(n, 'itn-1', T0 + 4000), n, 'undoing twice changes nothing')
  t.equal(withEventUndone(n, 'unknown', T0), n)
})

t.test('only the last finished events are remembered', async t => {
  let n = node()
  for (let i = 0; i < FINISHED_EVENTS_KEPT + 3; i++) {
    n = applyNotice(n, { ...spot, eventId: `itn-${i}` }, on, T0 + i)
    n = withEventUndone(n, `itn-${i}`, T0 + i)
  }
  const ids = readState(n).events.map(e => e.id)
  t.equal(ids.length, FINISHED_EVENTS_KEPT)
  t.equal(ids.at(-1), `itn-${FINISHED_EVENTS_KEPT + 2}`)
})

t.test('event records take drain results and the notification mark', async t => {
  let n = applyNotice(node(), spot, on, T0)
  n = updateRecord(n, 'itn-1', { drained: 'now', result: 'ok', notified: true })
  t.match(findRecord(readState(n), 'itn-1'), { drained: 'now', result: 'ok', notified: true })
  t.equal(updateRecord(n, 'nope', { notified: true }), n)
})

t.test('an unreadable state annotation counts as no state', async t => {
  t.same(readState(node({ metadata: { annotations: { [STATE_ANNOTATION]: '{oops' } } })), { events: [] })
  t.same(readState(node({ metadata: { annotations: { [STATE_ANNOTATION]: '{"events":5}' } } })), { events: [] })
})

t.test('the rehearsal annotation can be removed', async t => {
  const n = node({ metadata: { name: 'n1', annotations: { [REHEARSE_ANNOTATION]: 'spot-itn', keep: 'me' } } })
  t.same(withoutRehearsal(n).metadata?.annotations, { keep: 'me' })
  const plain = node()
  t.equal(withoutRehearsal(plain), plain)
})

t.test('uptime is the first number of /proc/uptime', async t => {
  t.equal(parseUptime('350735.47 234388.90\n'), 350735.47)
  t.throws(() => parseUptime('abc'), /not an uptime/)
  t.throws(() => parseUptime('-1 2'), /not an uptime/)
})

t.test('events expire after a reboot, and rebalance cordons after the configured time unless a spot notice followed', async t => {
  let n = applyNotice(node(), { kind: 'scheduled-maintenance', eventId: 'instance-event-1', deadline: T0 + 3_600_000, state: 'active', detail: '' }, on, T0)
  n = applyNotice(n, rebalance, on, T0)
  const state = readState(n)
  t.same(expiredRecords(state, T0 + 10_000, undefined, undefined), [])
  t.same(expiredRecords(state, T0 + 10_000, T0 - 1000, undefined), [], 'booted before we acted')
  t.same(expiredRecords(state, T0 + 10_000, T0 + 5000, undefined).map(e => `${e.record.id}:${e.why}`), ['instance-event-1:rebooted', 'rebalance-1:rebooted'])
  t.same(expiredRecords(state, T0 + 59_999, undefined, 60_000), [])
  t.same(expiredRecords(state, T0 + 60_000, undefined, 60_000).map(e => `${e.record.id}:${e.why}`), ['rebalance-1:rebalance-expired'])
  const withSpot = readState(applyNotice(n, spot, on, T0 + 1000))
  t.same(expiredRecords(withSpot, T0 + 120_000, undefined, 60_000), [], 'a spot notice keeps the rebalance cordon')
})

t.test('the next rebalance expiry is when the oldest active rebalance cordon runs out, unless a spot notice holds it or none expires', async t => {
  const first = applyNotice(node(), rebalance, on, T0)
  const second = applyNotice(first, { ...rebalance, eventId: 'rebalance-2' }, on, T0 + 5000)
  t.equal(nextRebalanceExpiry(readState(second), 60_000), T0 + 60_000)
  t.equal(nextRebalanceExpiry(readState(second), undefined), undefined, 'no expiry configured')
  t.equal(nextRebalanceExpiry(readState(applyNotice(second, spot, on, T0 + 1000)), 60_000), undefined, 'a spot notice holds the node')
  t.equal(nextRebalanceExpiry(readState(withEventUndone(second, 'rebalance-1', T0 + 2000)), 60_000), T0 + 65_000, 'undone ones do not count')
  t.equal(nextRebalanceExpiry(readState(node()), 60_000), undefined, 'nothing recorded')
})

t.test('with NTH\'s names the taint key and the label value are the Node Termination Handler\'s, and undo finds them', async t => {
  let n = recordNotice(node(), spot, T0)
  n = withLbExclusion(withTaint(n, spot, 'NoSchedule', NTH_NAMES), NTH_NAMES)
  t.same(n.spec?.taints?.at(-1), { key: 'aws-node-termination-handler/spot-itn', value: 'itn-1', effect: 'NoSchedule' })
  t.equal(n.metadata?.labels?.[LB_EXCLUSION_LABEL], 'aws-node-termination-handler')
  n = withEventUndone(n, 'itn-1', T0 + 1000)
  t.same(n.spec?.taints, [{ key: 'other', value: 'x', effect: 'NoExecute' }], 'removed whichever names were in use')
  t.equal(n.metadata?.labels?.[LB_EXCLUSION_LABEL], undefined)
})

t.test('the out-of-service taint is added once, and removed by undo only if we added it and nothing holds the node', async t => {
  let n = applyNotice(node(), spot, on, T0)
  n = withOutOfService(n)
  t.same(n.spec?.taints?.at(-1), { ...OUT_OF_SERVICE_TAINT })
  t.equal(withOutOfService(n), n, 'adding it twice changes nothing')
  t.equal(readState(n).outOfServiceAdded, true)
  n = applyNotice(n, rebalance, on, T0 + 500)
  n = withEventUndone(n, 'itn-1', T0 + 1000)
  t.ok(n.spec?.taints?.some(x => x.key === OUT_OF_SERVICE_TAINT.key), 'kept while another event holds the node')
  n = withEventUndone(n, 'rebalance-1', T0 + 2000)
  t.notOk(n.spec?.taints?.some(x => x.key === OUT_OF_SERVICE_TAINT.key), 'removed with the last event')
  const theirs = node({ spec: { taints: [{ ...OUT_OF_SERVICE_TAINT }] } })
  const kept = withEventUndone(withOutOfService(applyNotice(theirs, spot, on, T0)), 'itn-1', T0 + 1000)
  t.same(kept.spec?.taints, [{ ...OUT_OF_SERVICE_TAINT }], 'someone else\'s out-of-service taint stays')
})

t.test('a node joined the reclaim when it got its latest notice still in force', async t => {
  t.equal(interruptedSince(node()), undefined, 'no notice: not in a reclaim')
  let n = recordNotice(node(), rebalance, T0)
  n = recordNotice(n, spot, T0 + 5000)
  t.equal(interruptedSince(n), T0 + 5000, 'the latest of its notices')
  n = withEventUndone(n, 'itn-1', T0 + 6000)
  t.equal(interruptedSince(n), T0, 'an undone notice no longer counts')
  n = withEventUndone(n, 'rebalance-1', T0 + 7000)
  t.equal(interruptedSince(n), undefined, 'all undone')
  const unreadable = node({ metadata: { name: 'n', annotations: { [STATE_ANNOTATION]: JSON.stringify({ events: [{ id: 'x', kind: 'spot-itn', since: 'soon' }] }) } } })
  t.equal(interruptedSince(unreadable), undefined, 'a time that does not parse is left out')
})
