/**
 * Chat/webhook notifications: a template with `{{ .Field }}` placeholders (the
 * Node Termination Handler's simple templates), filled from the notice, the
 * instance and the drain result, POSTed to WEBHOOK_URL with a short timeout
 * and a few retries. Failures are logged and reported, never thrown: a
 * notification must not hold up a drain.
 */
import { readFile } from 'node:fs/promises'
import type { Logger } from 'pino'
import { ConfigError } from '#common/options.ts'
import type { RecordedDrain } from './node-state.ts'
import type { NodeMetadata } from './imds.ts'
import type { Notice } from './notices.ts'

/** Slack-compatible default: one message listing node, instance, kind, deadline, pods and result. */
export const DEFAULT_WEBHOOK_TEMPLATE = '{"text":"[spot-interrupt-handler] {{ .Kind }} on node {{ .NodeName }} (instance {{ .InstanceID }}, {{ .InstanceType }}, {{ .AvailabilityZone }}), event {{ .EventID }}, deadline {{ .Deadline }}. Pods: {{ .Pods }}. Result: {{ .Result }}"}'

/** Values the template can use. */
export type NotificationFields = Record<string, string>

/**
 * Replaces each `{{ .Field }}` with its value (unknown fields become empty).
 * Values are JSON-string escaped when the template is a JSON document, so the
 * result stays valid JSON whatever the pod names contain.
 */
export function renderTemplate (template: string, fields: NotificationFields): string {
  const json = /^\s*[[{]/.test(template)
  return template.replace(/\{\{\s*\.([A-Za-z][A-Za-z0-9_]*)\s*\}\}/g, (_m, name: string) => {
    const value = fields[name] ?? ''
    return json ? JSON.stringify(value).slice(1, -1) : value
  })
}

/** The template fields for one event. */
export function notificationFields (nodeName: string, notice: Notice, metadata: NodeMetadata, report: RecordedDrain | undefined, result: string, startedAt: number): NotificationFields {
  const deadline = notice.deadline !== undefined ? new Date(notice.deadline).toISOString() : 'none'
  return {
    NodeName: nodeName,
    InstanceID: metadata.instanceId,
    InstanceType: metadata.instanceType,
    InstanceLifeCycle: metadata.instanceLifeCycle,
    AvailabilityZone: metadata.availabilityZone,
    Region: metadata.region,
    LocalHostname: metadata.localHostname,
    LocalIP: metadata.localIp,
    Kind: notice.kind,
    EventID: notice.eventId,
    Description: notice.detail,
    State: notice.state,
    Rehearsal: String(notice.rehearsal === true),
    StartTime: new Date(startedAt).toISOString(),
    EndTime: deadline,
    Deadline: deadline,
    Pods: report === undefined ? 'not drained' : report.evicted.concat(report.deletedAtDeadline.map(d => d.pod)).join(', ') || 'none',
    PodsEvicted: String(report?.evicted.length ?? 0),
    PodsDeletedAtDeadline: String(report?.deletedAtDeadline.length ?? 0),
    Blockers: report?.blockers.map(b => `${b.pod} (${b.reason})`).join(', ') ?? '',
    Result: result
  }
}

/** The template to use: WEBHOOK_TEMPLATE, else the file, else the default. */
export async function loadTemplate (inline: string, file: string): Promise<string> {
  if (inline !== '') return inline
  if (file !== '') {
    try {
      return await readFile(file, 'utf8')
    } catch (err) {
      throw new ConfigError(`cannot read --webhook-template-file (WEBHOOK_TEMPLATE_FILE) ${file}: ${(err as Error).message}`, { cause: err })
    }
  }
  return DEFAULT_WEBHOOK_TEMPLATE
}

/** Header names compared as HTTP does, ignoring case: `Content-type` given by WEBHOOK_HEADERS replaces ours instead of being sent beside it. */
function headersOf (headers: Record<string, string>): Headers {
  const out = new Headers()
  for (const [name, value] of Object.entries(headers)) out.set(name, value)
  return out
}

/** Where and how to send. */
export interface WebhookTarget {
  url: string
  /** Headers to send; a name given twice in any case is sent once, the later value winning. */
  headers: Record<string, string>
  timeoutMs?: number
  tries?: number
  sleep: (ms: number) => Promise<void>
  logger: Logger
}

/** POSTs `body`; true once a 2xx came back, false after the last try failed. */
export async function sendNotification (target: WebhookTarget, body: string): Promise<boolean> {
  const tries = target.tries ?? 3
  const contentType = /^\s*[[{]/.test(body) ? 'application/json' : 'text/plain; charset=utf-8'
  for (let i = 0; i < tries; i++) {
    if (i > 0) await target.sleep(250 * 2 ** (i - 1))
    try {
      const res = await fetch(target.url, {
        method: 'POST',
        headers: headersOf({ 'content-type': contentType, ...target.headers }),
        body,
        signal: AbortSignal.timeout(target.timeoutMs ?? 5000)
      })
      await res.arrayBuffer()
      if (res.ok) return true
      target.logger.warn({ status: res.status, attempt: i + 1 }, 'notification webhook answered with an error')
    } catch (err) {
      target.logger.warn({ err: { name: (err as Error).name, message: (err as Error).message }, attempt: i + 1 }, 'notification webhook request failed')
    }
  }
  return false
}
