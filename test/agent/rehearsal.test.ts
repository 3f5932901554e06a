import t from 'tap'
import type { V1Node } from '@kubernetes/client-node'
import { rehearsalNotice, rehearsalRequest, REHEARSAL_DEADLINE_MS } from '../../agent/rehearsal.ts'
import { recordNotice, withEventUndone, REHEARSE_ANNOTATION } from '../../agent/node-state.ts'

const node = (annotations?: Record<string, string>): V1Node => ({ metadata: { name: 'n1', ...(annotations !== undefined ? { annotations } : {}) }, spec: {} })

t.test('a rehearsal notice is due two minutes after it started and is marked as a rehearsal', async t => {
  const n = rehearsalNotice('spot-itn', 1_000_000)
  t.equal(n.deadline, 1_000_000 + REHEARSAL_DEADLINE_MS)
  t.equal(n.rehearsal, true)
  t.match(n.eventId, /^rehearsal-[0-9a-f]{16}$/)
  t.equal(rehearsalNotice('spot-itn', 1_000_000).eventId, n.eventId)
  t.not(rehearsalNotice('spot-itn', 1_000_001).eventId, n.eventId)
})

t.test('the annotation asks for nothing, a new rehearsal, or something unknown', async t => {
  t.same(rehearsalRequest(node(), 5), { kind: 'none' })
  t.same(rehearsalRequest(node({ other: 'x' }), 5), { kind: 'none' })
  t.same(rehearsalRequest(node({ [REHEARSE_ANNOTATION]: 'meteor' }), 5), { kind: 'invalid', value: 'meteor' })
  const r = rehearsalRequest(node({ [REHEARSE_ANNOTATION]: 'scheduled-maintenance' }), 5000)
  t.same(r, { kind: 'rehearse', notice: rehearsalNotice('scheduled-maintenance', 5000) })
})

t.test('a rehearsal already recorded on the node keeps its id and deadline after a restart', async t => {
  const started = Date.parse('2026-01-01T00:00:00Z')
  const first = rehearsalNotice('spot-itn', started)
  const acted = recordNotice(node({ [REHEARSE_ANNOTATION]: 'spot-itn' }), first, started)
  const again = rehearsalRequest(acted, started + 30_000)
  t.same(again, { kind: 'rehearse', notice: first })
  const other = rehearsalRequest({ ...acted, metadata: { ...acted.metadata, annotations: { ...acted.metadata!.annotations, [REHEARSE_ANNOTATION]: 'rebalance-recommendation' } } }, started + 30_000)
  t.equal(other.kind === 'rehearse' && other.notice.eventId === first.eventId, false, 'another kind is another rehearsal')
  const finished = withEventUndone(acted, first.eventId, started + 60_000)
  const next = rehearsalRequest(finished, started + 90_000)
  t.ok(next.kind === 'rehearse' && next.notice.eventId !== first.eventId, 'a finished rehearsal is not resumed')
})
