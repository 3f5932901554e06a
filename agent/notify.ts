/**
 * Chat/webhook notifications as the AWS Node Termination Handler sends them:
 * a Go text/template (template/) run on NTH's fields (`.Kind` is `SPOT_ITN`,
 * `.StartTime` the interruption time, `.Pods` a list, `.NodeLabels` a map)
 * plus ours (`.Deadline`, `.Result`, `.Blockers`), POSTed to WEBHOOK_URL,
 * through WEBHOOK_PROXY when set, with a short timeout and a few retries.
 * The template is parsed and run on empty data at start-up, so a bad one
 * stops the agent with its line and column. Failures to send are logged and
 * reported, never thrown: a notification must not hold up a drain.
 */
import { readFile } from 'node:fs/promises'
import { request as httpRequest, type IncomingMessage } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { isIP } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import type { Logger } from 'pino'
import { ConfigError } from '#common/options.ts'
import type { RecordedDrain } from './node-state.ts'
import type { NodeMetadata } from './imds.ts'
import { NTH_KINDS, type Notice } from './notices.ts'
import { compileTemplate, TemplateError } from './template/template.ts'

/** Slack-compatible default: one message with node, instance, kind, deadline, pods and result; values go through toJson, so the body is JSON whatever they contain. */
export const DEFAULT_WEBHOOK_TEMPLATE = '{"text":{{ printf "[spot-interrupt-handler] %s on node %s (instance %s, %s, %s), event %s, deadline %s. Pods: %s. Result: %s" .Kind .NodeName .InstanceID .InstanceType .AvailabilityZone .EventID .Deadline (join ", " .Pods | default "none") .Result | toJson }}}'

/** What a notification is about. */
export interface NotificationInput {
  nodeName: string
  /** The Node's labels when the event was acted on. */
  nodeLabels: Record<string, string>
  /** The Node's spec.providerID. */
  providerId: string
  notice: Notice
  metadata: NodeMetadata
  /** The drain's pods, or undefined when there was no drain. */
  drain: RecordedDrain | undefined
  result: string
  /** When the event was first seen (the start time of a notice without a deadline). */
  seenAt: number
}

/** The data a template runs on: NTH's InterruptionEvent and NodeMetadata fields, then ours. */
export function notificationData (input: NotificationInput): Record<string, unknown> {
  const { notice, metadata, drain } = input
  const start = new Date(notice.deadline ?? input.seenAt)
  const moved = drain === undefined ? [] : [...drain.evicted, ...drain.deletedAtDeadline.map(d => d.pod)]
  return {
    EventID: notice.eventId,
    Kind: NTH_KINDS[notice.kind],
    Monitor: `${NTH_KINDS[notice.kind]}_MONITOR`,
    Description: notice.detail,
    State: notice.state,
    AutoScalingGroupName: '',
    NodeName: input.nodeName,
    NodeLabels: new Map(Object.entries(input.nodeLabels)),
    Pods: moved.map(pod => pod.slice(pod.indexOf('/') + 1)),
    InstanceID: metadata.instanceId,
    ProviderID: input.providerId,
    InstanceType: metadata.instanceType,
    IsManaged: true,
    StartTime: start,
    EndTime: start,
    NodeProcessed: drain !== undefined,
    InProgress: false,
    AccountId: metadata.accountId,
    InstanceLifeCycle: metadata.instanceLifeCycle,
    PublicHostname: metadata.publicHostname,
    PublicIP: metadata.publicIp,
    LocalHostname: metadata.localHostname,
    LocalIP: metadata.localIp,
    AvailabilityZone: metadata.availabilityZone,
    Region: metadata.region,
    Deadline: notice.deadline === undefined ? 'none' : new Date(notice.deadline).toISOString(),
    Result: input.result,
    Blockers: drain === undefined ? [] : drain.blockers.map(b => `${b.pod} (${b.reason})`),
    EvictedPods: moved,
    PodsEvicted: drain?.evicted.length ?? 0,
    PodsDeletedAtDeadline: drain?.deletedAtDeadline.length ?? 0,
    Rehearsal: notice.rehearsal === true,
    NoticeKind: notice.kind
  }
}

/** A compiled notification template: renders the body for an event. */
export type NotificationTemplate = (input: NotificationInput) => string

/** Data with every field at its zero value, as NTH checks a template at start-up. */
function zeroInput (): NotificationInput {
  const metadata = { instanceId: '', instanceType: '', instanceLifeCycle: '', availabilityZone: '', region: '', localHostname: '', localIp: '', accountId: '', publicHostname: '', publicIp: '' }
  return { nodeName: '', nodeLabels: {}, providerId: '', notice: { kind: 'spot-itn', eventId: '', state: 'active', detail: '' }, metadata, drain: undefined, result: '', seenAt: 0 }
}

/**
 * The template to use (WEBHOOK_TEMPLATE, else the file, else the default),
 * parsed and run once on zero values; a ConfigError names the setting, the
 * line and the column when it does not parse or run.
 */
export async function loadTemplate (inline: string, file: string): Promise<NotificationTemplate> {
  let text = DEFAULT_WEBHOOK_TEMPLATE
  let source = 'the default template'
  if (inline !== '') {
    text = inline
    source = '--webhook-template (WEBHOOK_TEMPLATE)'
  } else if (file !== '') {
    source = `--webhook-template-file (WEBHOOK_TEMPLATE_FILE) ${file}`
    try {
      text = await readFile(file, 'utf8')
    } catch (err) {
      throw new ConfigError(`cannot read ${source}: ${(err as Error).message}`, { cause: err })
    }
  }
  try {
    const run = compileTemplate(text)
    run(notificationData(zeroInput()))
    return input => run(notificationData(input))
  } catch (err) {
    if (err instanceof TemplateError) throw new ConfigError(`invalid notification template in ${source}: ${err.message}`, { cause: err })
    throw err
  }
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
  /** An http:// proxy to send through (WEBHOOK_PROXY). */
  proxy?: string
  timeoutMs?: number
  tries?: number
  sleep: (ms: number) => Promise<void>
  logger: Logger
}

/** Status of a POST answered by `res`, once its body is read. */
function statusOnceRead (res: IncomingMessage): Promise<number> {
  return new Promise((resolve, reject) => {
    res.on('error', reject)
    res.on('end', () => resolve(res.statusCode ?? 0))
    res.resume()
  })
}

/**
 * POSTs through an HTTP proxy: to an http:// URL as an absolute-form request
 * to the proxy, to an https:// URL through a CONNECT tunnel (TLS end to end,
 * the target's certificate verified). Credentials in the proxy URL go as
 * Proxy-Authorization.
 */
function postViaProxy (target: URL, proxy: URL, headers: Headers, body: string, signal: AbortSignal): Promise<number> {
  const auth = proxy.username === '' ? {} : { 'proxy-authorization': `Basic ${Buffer.from(`${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`).toString('base64')}` }
  const sent = { ...Object.fromEntries(headers), 'content-length': String(Buffer.byteLength(body)) }
  const proxyAt = { host: proxy.hostname.replace(/^\[|\]$/g, ''), port: proxy.port === '' ? (proxy.protocol === 'https:' ? 443 : 80) : Number(proxy.port) }
  return new Promise((resolve, reject) => {
    if (target.protocol === 'http:') {
      const req = httpRequest({ ...proxyAt, method: 'POST', path: target.href, headers: { ...sent, host: target.host, ...auth }, signal }, res => { statusOnceRead(res).then(resolve, reject) })
      req.on('error', reject)
      req.end(body)
      return
    }
    const authority = `${target.hostname}:${target.port === '' ? 443 : target.port}`
    const connect = httpRequest({ ...proxyAt, method: 'CONNECT', path: authority, headers: { host: authority, ...auth }, signal })
    connect.on('error', reject)
    connect.on('connect', (res, socket) => {
      if (res.statusCode !== 200) {
        socket.destroy()
        reject(new Error(`the proxy refused the tunnel to ${authority} with HTTP ${res.statusCode}`))
        return
      }
      const servername = target.hostname.replace(/^\[|\]$/g, '')
      const req = httpsRequest({
        host: servername,
        method: 'POST',
        path: target.pathname + target.search,
        headers: { ...sent, host: target.host },
        createConnection: () => tlsConnect({ socket, host: servername, ...(isIP(servername) === 0 ? { servername } : {}) }),
        signal
      }, r => { statusOnceRead(r).then(resolve, reject) })
      req.on('error', reject)
      req.end(body)
    })
    connect.end()
  })
}

/** One POST: the status, or a thrown error when there was no answer. */
async function postOnce (target: WebhookTarget, headers: Headers, body: string): Promise<number> {
  const signal = AbortSignal.timeout(target.timeoutMs ?? 5000)
  if (target.proxy !== undefined) return await postViaProxy(new URL(target.url), new URL(target.proxy), headers, body, signal)
  const res = await fetch(target.url, { method: 'POST', headers, body, signal })
  await res.arrayBuffer()
  return res.status
}

/** POSTs `body`; true once a 2xx came back, false after the last try failed. */
export async function sendNotification (target: WebhookTarget, body: string): Promise<boolean> {
  const tries = target.tries ?? 3
  const contentType = /^\s*[[{]/.test(body) ? 'application/json' : 'text/plain; charset=utf-8'
  const headers = headersOf({ 'content-type': contentType, ...target.headers })
  for (let i = 0; i < tries; i++) {
    if (i > 0) await target.sleep(250 * 2 ** (i - 1))
    try {
      const status = await postOnce(target, headers, body)
      if (status >= 200 && status < 300) return true
      target.logger.warn({ status, attempt: i + 1 }, 'notification webhook answered with an error')
    } catch (err) {
      target.logger.warn({ err: { name: (err as Error).name, message: (err as Error).message }, attempt: i + 1 }, 'notification webhook request failed')
    }
  }
  return false
}
