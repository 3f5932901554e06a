/**
 * Rehearsals (pure): the Node annotation `spot-handler.io/rehearse=<kind>`
 * stands for a notice of that kind posted now with a two-minute deadline, so
 * teams can watch their workloads move on a real cluster. A rehearsal already
 * recorded on the Node (by an agent that restarted) keeps its id and deadline.
 */
import type { V1Node } from '@kubernetes/client-node'
import { activeRecords, readState, REHEARSE_ANNOTATION } from './node-state.ts'
import { eventIdFor, NOTICE_KINDS, type Notice, type NoticeKind } from './notices.ts'

/** How far ahead a rehearsal's deadline is, like a Spot interruption's. */
export const REHEARSAL_DEADLINE_MS = 120_000

/** What the Node asks for: nothing, a rehearsal, or something the agent cannot rehearse. */
export type RehearsalRequest =
  | { kind: 'none' }
  | { kind: 'invalid', value: string }
  | { kind: 'rehearse', notice: Notice }

/** The notice a rehearsal started at `startedAt` stands for. */
export function rehearsalNotice (kind: NoticeKind, startedAt: number): Notice {
  return {
    kind,
    eventId: `rehearsal-${eventIdFor(kind, 'rehearsal', String(startedAt)).split('-')[1]!}`,
    deadline: startedAt + REHEARSAL_DEADLINE_MS,
    state: 'active',
    detail: `Rehearsal of ${kind} started ${new Date(startedAt).toISOString()}`,
    rehearsal: true
  }
}

/** Reads the rehearsal annotation of `node`; a new rehearsal starts at `now`. */
export function rehearsalRequest (node: V1Node, now: number): RehearsalRequest {
  const value = node.metadata?.annotations?.[REHEARSE_ANNOTATION]
  if (value === undefined) return { kind: 'none' }
  if (!(NOTICE_KINDS as readonly string[]).includes(value)) return { kind: 'invalid', value }
  const kind = value as NoticeKind
  const ongoing = activeRecords(readState(node)).find(e => e.rehearsal === true && e.kind === kind)
  if (ongoing === undefined) return { kind: 'rehearse', notice: rehearsalNotice(kind, now) }
  const startedAt = Date.parse(ongoing.since)
  return {
    kind: 'rehearse',
    notice: { ...rehearsalNotice(kind, startedAt), eventId: ongoing.id, deadline: ongoing.deadline !== undefined ? Date.parse(ongoing.deadline) : startedAt + REHEARSAL_DEADLINE_MS }
  }
}
