/**
 * The HTTP shell of the simulated API server: reads the request, applies faults,
 * routes REST paths to the Cluster, streams watches, writes JSON and `Status`
 * bodies with the API server's codes, `Warning: 299 - "..."` headers, and records
 * every request in the request log.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Logger } from 'pino'
import type { Cluster } from './cluster.ts'
import { coreVersions, group, groupList, openApiDocument, openApiIndex, resourceList, SIM_VERSION } from './discovery.ts'
import type { FaultTable, Verb } from './faults.ts'
import { apiVersionOf, parsePath, type ResourcePath } from './resources.ts'
import { decodeProtobufObject, PROTOBUF_CONTENT_TYPE } from './protobuf.ts'
import { toMetadataList, toTable, wantsMetadataList, wantsTable } from './tables.ts'
import { matchesFields, matchesRequirements, parseFieldSelector, parseLabelSelector } from './selectors.ts'
import { ApiError, badRequest, internalError, methodNotSupported, statusForCode, unsupportedMediaType, type Status } from './status.ts'
import type { KubeObject, StoreEvent } from './store.ts'

/** One entry of the request log. */
export interface RequestRecord {
  /** ISO time the request arrived. */
  time: string
  method: string
  /** Kubernetes verb, or `discovery`/`other` for non-resource paths. */
  verb: Verb | 'discovery' | 'other'
  path: string
  query: Record<string, string>
  contentType?: string
  /** The Accept header, when sent. */
  accept?: string
  /** Resource plural, namespace, name and subresource when the path names a resource. */
  resource?: string
  namespace?: string
  name?: string
  subresource?: string
  /** The parsed JSON body of writes (create, update, patch, delete options), for asserting what a client sent. */
  body?: unknown
  status: number
  durationMs: number
  userAgent?: string
}

/** What the handler needs. */
export interface HttpApiDeps {
  cluster: Cluster
  faults: FaultTable
  requests: RequestRecord[]
  /** Open watch responses, ended when the simulator closes. */
  watches: Set<ServerResponse>
  /** `host:port` for discovery's serverAddressByClientCIDRs. */
  serverAddress: () => string
  /** Called once a request's status is known (the response head is being written). */
  onRecord?: (record: RequestRecord) => void
  /** How often a watch that allows bookmarks gets one (the API server's watch cache: about once a minute). */
  bookmarkIntervalMs: number
  log: Logger
}

/** The patch content types the API server accepts (server-side apply is not simulated). */
const PATCH_TYPES = ['application/json-patch+json', 'application/merge-patch+json', 'application/strategic-merge-patch+json']

/** Largest accepted request body (the API server's limit is 3 MiB). */
const MAX_BODY = 3 * 1024 * 1024

const NOT_FOUND: Status = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'the server could not find the requested resource', reason: 'NotFound', details: {}, code: 404 } as Status

interface Reply {
  code: number
  body: unknown
  warnings: string[]
  /** Set for bodies that are sent as-is (not JSON). */
  contentType?: string
}

function reply (code: number, body: unknown, warnings: string[] = []): Reply {
  return { code, body, warnings }
}

/**
 * `GET /openapi/v2`: an empty protobuf OpenAPI v2 document. Clients that validate
 * manifests client-side (helm, kubectl when the v3 index does not know a kind)
 * download it and skip validation for kinds it does not describe.
 */
const EMPTY_OPENAPI_V2: Reply = { code: 200, body: '', warnings: [], contentType: 'application/com.github.proto-openapi.spec.v2@v1.0+protobuf' }

function readBody (req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (c: Buffer) => {
      size += c.length
      if (size > MAX_BODY) { reject(new ApiError({ ...statusForCode(413).status, reason: 'RequestEntityTooLarge', message: 'the request body is too large' })); req.destroy(); return }
      chunks.push(c)
    })
    req.on('end', () => resolve(Buffer.concat(chunks)))
    req.on('error', reject)
  })
}

function parseJson (body: Buffer, contentType: string, required: boolean): any {
  if (body.length === 0) {
    if (required) throw badRequest('the body of the request was empty')
    return undefined
  }
  const base = contentType.split(';')[0]!.trim().toLowerCase()
  if (base === PROTOBUF_CONTENT_TYPE) return decodeProtobufObject(body)
  if (base !== '' && base !== 'application/json' && !base.endsWith('+json') && base !== '*/*') throw unsupportedMediaType(contentType)
  try {
    return JSON.parse(body.toString('utf8'))
  } catch (err) {
    throw badRequest(`error decoding request body: ${(err as Error).message}`)
  }
}

function verbOf (method: string, path: ResourcePath, query: URLSearchParams): Verb | undefined {
  const watch = query.get('watch') === 'true' || query.get('watch') === '1'
  switch (method) {
    case 'GET': return path.name !== undefined ? 'get' : watch ? 'watch' : 'list'
    case 'POST': return 'create'
    case 'PUT': return 'update'
    case 'PATCH': return 'patch'
    case 'DELETE': return path.name !== undefined ? 'delete' : 'deletecollection'
    default: return undefined
  }
}

/** Formats one warning as the API server does: `299 - "<text>"` with quotes and backslashes escaped. */
export function warningHeader (text: string): string {
  return `299 - "${text.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`
}

function stripTypeMeta (obj: KubeObject): KubeObject {
  const { apiVersion: _a, kind: _k, ...rest } = obj
  return rest as KubeObject
}

function integerParam (query: URLSearchParams, name: string): number | undefined {
  const raw = query.get(name)
  if (raw === null || raw === '') return undefined
  if (!/^-?\d+$/.test(raw)) throw badRequest(`invalid value for ${name}: ${JSON.stringify(raw)}`)
  return Number(raw)
}

/** Builds the request handler for node:http / node:https. */
export function createHttpApi (deps: HttpApiDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const { cluster, log } = deps

  async function resourceRequest (method: string, path: ResourcePath, query: URLSearchParams, req: IncomingMessage, res: ServerResponse, record: RequestRecord): Promise<Reply | undefined> {
    const readJson = async (contentType: string, required: boolean): Promise<any> => {
      const body = parseJson(await readBody(req), contentType, required)
      if (body !== undefined) record.body = body
      return body
    }
    const { type, namespace, name, subresource } = path
    const contentType = req.headers['content-type'] ?? ''
    const dryRun = query.getAll('dryRun').includes('All')
    const fieldManager = query.get('fieldManager') ?? undefined
    const writeOpts = { dryRun, ...(fieldManager === undefined ? {} : { fieldManager }) }
    if (type.namespaced && name !== undefined && namespace === undefined) return reply(404, NOT_FOUND)
    switch (method) {
      case 'GET': {
        const table = wantsTable(req.headers.accept) && subresource === undefined
        const tableOf = (objects: KubeObject[]): Record<string, unknown> => toTable(`${type.group}/${type.plural}`, objects, cluster.store.resourceVersion, Date.now())
        if (name !== undefined) {
          const obj = cluster.get(type, namespace, name)
          return reply(200, table ? tableOf([obj]) : obj)
        }
        const selectors = { labelSelector: query.get('labelSelector') ?? '', fieldSelector: query.get('fieldSelector') ?? '' }
        if (query.get('watch') === 'true' || query.get('watch') === '1') { watch(path, query, selectors, res, table ? obj => tableOf([obj]) : obj => obj); return undefined }
        const { items, resourceVersion } = cluster.list(type, namespace, selectors)
        if (table) return reply(200, tableOf(items))
        if (wantsMetadataList(req.headers.accept)) return reply(200, toMetadataList(items, resourceVersion))
        return reply(200, { kind: `${type.kind}List`, apiVersion: apiVersionOf(type), metadata: { resourceVersion }, items: items.map(stripTypeMeta) })
      }
      case 'POST': {
        const body = await readJson(contentType, true)
        if (name === undefined) {
          if (type.namespaced && namespace === undefined) throw methodNotSupported(type, 'create')
          const r = await cluster.create(type, namespace, body, writeOpts)
          return reply(201, r.object, r.warnings)
        }
        if (subresource === 'eviction') return reply(201, cluster.evict(namespace!, name, body, { dryRun }).object)
        throw methodNotSupported(type, 'create')
      }
      case 'PUT': {
        if (name === undefined) throw methodNotSupported(type, 'update')
        const body = await readJson(contentType, true)
        const r = await cluster.update(type, namespace, name, body, { ...writeOpts, ...(subresource === undefined ? {} : { subresource }) })
        return reply(200, r.object, r.warnings)
      }
      case 'PATCH': {
        if (name === undefined) throw methodNotSupported(type, 'patch')
        // The patch type is checked before the body is read: an unknown one is 415, as the API server answers.
        if (!PATCH_TYPES.includes(contentType.split(';')[0]!.trim().toLowerCase())) throw unsupportedMediaType(contentType)
        const patch = await readJson('application/json', true)
        const r = await cluster.patch(type, namespace, name, contentType, patch, { ...writeOpts, ...(subresource === undefined ? {} : { subresource }) })
        return reply(200, r.object, r.warnings)
      }
      case 'DELETE': {
        const body = (await readJson(contentType, false) ?? {}) as Record<string, any>
        const grace = integerParam(query, 'gracePeriodSeconds') ?? body.gracePeriodSeconds
        const policy = query.get('propagationPolicy') ?? body.propagationPolicy
        const opts = { dryRun: dryRun || (body.dryRun as string[] | undefined)?.includes('All') === true, ...(grace === undefined ? {} : { gracePeriodSeconds: grace }), ...(policy === undefined ? {} : { propagationPolicy: policy }), ...(body.preconditions === undefined ? {} : { preconditions: body.preconditions }) }
        if (name !== undefined) return reply(200, cluster.delete(type, namespace, name, opts).object)
        const { items } = cluster.list(type, namespace, { labelSelector: query.get('labelSelector') ?? '', fieldSelector: query.get('fieldSelector') ?? '' })
        for (const item of items) cluster.delete(type, item.metadata.namespace, item.metadata.name, opts)
        return reply(200, { kind: `${type.kind}List`, apiVersion: apiVersionOf(type), metadata: { resourceVersion: cluster.store.resourceVersion }, items: items.map(stripTypeMeta) })
      }
      default:
        throw methodNotSupported(type, method.toLowerCase())
    }
  }

  /**
   * A watch: newline-delimited `{type, object}` events (objects rendered as one-row Tables when asked). Without a resourceVersion
   * (or with "0") the current objects come first as ADDED; with one, the changes
   * after it are replayed (410 Expired as an ERROR event when it is too old).
   */
  function watch (path: ResourcePath, query: URLSearchParams, selectors: { labelSelector: string, fieldSelector: string }, res: ServerResponse, render: (obj: KubeObject) => unknown): void {
    const { type, namespace } = path
    const labels = parseLabelSelector(selectors.labelSelector)
    const fields = parseFieldSelector(selectors.fieldSelector, ['metadata.name', 'metadata.namespace', ...(type.fields ?? [])], type.kind)
    /** The object as this watch shows it, when the change concerns it. */
    const shown = (e: StoreEvent): KubeObject | undefined => {
      const obj = cluster.watchedObject(type, e)
      const visible = obj !== undefined && (namespace === undefined || obj.metadata.namespace === namespace) &&
        matchesRequirements(labels, obj.metadata.labels) && matchesFields(fields, obj)
      return visible ? obj : undefined
    }
    const send = (eventType: string, object: KubeObject): void => {
      if (!res.writableEnded) res.write(JSON.stringify({ type: eventType, object: eventType === 'ERROR' ? object : render(object) }) + '\n')
    }
    const forward = (e: StoreEvent): void => {
      const obj = shown(e)
      if (obj !== undefined) send(e.type, obj)
    }
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked', 'cache-control': 'no-cache, private' })
    // Headers go out at once, as the API server flushes them: a client waiting for the response of a quiet watch is not left hanging.
    res.flushHeaders()
    deps.watches.add(res)
    const rv = query.get('resourceVersion') ?? ''
    if (rv === '' || rv === '0') {
      for (const obj of cluster.list(type, namespace, selectors).items) send('ADDED', obj)
    } else {
      const past = /^\d+$/.test(rv) ? cluster.store.eventsSince(Number(rv)) : undefined
      if (past === undefined) {
        send('ERROR', { ...statusForCode(410, `too old resource version: ${rv} (${cluster.store.resourceVersion})`).status, reason: 'Expired' } as unknown as KubeObject)
        deps.watches.delete(res)
        res.end()
        return
      }
      for (const e of past) forward(e)
    }
    const unsubscribe = cluster.store.subscribe(forward)
    const timeoutSeconds = integerParam(query, 'timeoutSeconds')
    const timer = timeoutSeconds === undefined ? undefined : setTimeout(() => res.end(), timeoutSeconds * 1000)
    // A bookmark carries only the current resourceVersion, in an object of the watched kind.
    const bookmarks = query.get('allowWatchBookmarks') === 'true'
      ? setInterval(() => { if (!res.writableEnded) res.write(JSON.stringify({ type: 'BOOKMARK', object: { kind: type.kind, apiVersion: apiVersionOf(type), metadata: { resourceVersion: cluster.store.resourceVersion } } }) + '\n') }, deps.bookmarkIntervalMs)
      : undefined
    res.on('close', () => {
      unsubscribe()
      if (timer !== undefined) clearTimeout(timer)
      clearInterval(bookmarks)
      deps.watches.delete(res)
    })
  }

  function discovery (pathname: string): Reply {
    if (pathname === '/version' || pathname === '/version/') return reply(200, SIM_VERSION)
    if (['/healthz', '/readyz', '/livez'].includes(pathname)) return reply(200, 'ok')
    if (pathname === '/api' || pathname === '/api/') return reply(200, coreVersions(deps.serverAddress()))
    if (pathname === '/apis' || pathname === '/apis/') return reply(200, groupList())
    if (pathname === '/openapi/v2') return EMPTY_OPENAPI_V2
    if (pathname === '/openapi/v3' || pathname === '/openapi/v3/') return reply(200, openApiIndex())
    if (pathname.startsWith('/openapi/v3/')) {
      const doc = openApiDocument(pathname.slice('/openapi/v3/'.length))
      return doc === undefined ? reply(404, NOT_FOUND) : reply(200, doc)
    }
    const parsed = parsePath(pathname)
    if (parsed.kind !== 'discovery') return reply(404, NOT_FOUND)
    if (parsed.version !== undefined) return reply(200, resourceList(parsed.group, parsed.version))
    const doc = group(parsed.group)
    return doc === undefined ? reply(404, NOT_FOUND) : reply(200, doc)
  }

  function send (res: ServerResponse, answer: Reply): void {
    if (answer.warnings.length > 0) res.setHeader('warning', answer.warnings.map(warningHeader))
    if (typeof answer.body === 'string') {
      res.writeHead(answer.code, { 'content-type': answer.contentType ?? 'text/plain; charset=utf-8' })
      res.end(answer.body)
      return
    }
    const text = JSON.stringify(answer.body)
    res.writeHead(answer.code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
    res.end(text)
  }

  async function handle (req: IncomingMessage, res: ServerResponse, record: RequestRecord): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://sim')
    const method = req.method ?? 'GET'
    const parsed = parsePath(url.pathname)
    if (parsed.kind === 'resource') {
      const p = parsed.path
      record.resource = p.type.plural
      if (p.namespace !== undefined) record.namespace = p.namespace
      if (p.name !== undefined) record.name = p.name
      if (p.subresource !== undefined) record.subresource = p.subresource
      record.verb = verbOf(method, p, url.searchParams) ?? 'other'
    } else {
      record.verb = method === 'GET' ? 'discovery' : 'other'
    }
    if (record.verb !== 'discovery' && record.verb !== 'other') {
      const fault = deps.faults.take(record.verb, url.pathname)
      if (fault?.latencyMs !== undefined) await new Promise(resolve => setTimeout(resolve, fault.latencyMs))
      if (fault?.drop === true) { req.socket.destroy(); return }
      if (fault?.status !== undefined) {
        const retry = fault.retryAfterSeconds ?? 0
        if (retry > 0) res.setHeader('retry-after', String(retry))
        send(res, reply(fault.status, statusForCode(fault.status, fault.message, retry).status))
        return
      }
    }
    let answer: Reply | undefined
    try {
      answer = parsed.kind === 'resource'
        ? await resourceRequest(method, parsed.path, url.searchParams, req, res, record)
        : method === 'GET' ? discovery(url.pathname) : reply(404, NOT_FOUND)
    } catch (err) {
      if (err instanceof ApiError) answer = reply(err.status.code, err.status)
      else {
        log.error({ err, method, path: url.pathname }, 'unexpected error handling request')
        answer = reply(500, internalError((err as Error).message).status)
      }
    }
    if (answer !== undefined) send(res, answer)
  }

  return (req, res) => {
    const started = performance.now()
    const url = new URL(req.url ?? '/', 'http://sim')
    const record: RequestRecord = {
      time: new Date().toISOString(),
      method: req.method ?? 'GET',
      verb: 'other',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      status: 0,
      durationMs: 0
    }
    if (req.headers['content-type'] !== undefined) record.contentType = req.headers['content-type']
    if (req.headers.accept !== undefined) record.accept = req.headers.accept
    if (req.headers['user-agent'] !== undefined) record.userAgent = req.headers['user-agent']
    deps.requests.push(record)
    // The record is complete as soon as the head is written, before the client can see the answer.
    const writeHead = res.writeHead.bind(res) as (...args: unknown[]) => ServerResponse
    res.writeHead = ((...args: unknown[]) => {
      record.status = args[0] as number
      record.durationMs = Math.round((performance.now() - started) * 1000) / 1000
      const out = writeHead(...args)
      deps.onRecord?.(record)
      return out
    }) as typeof res.writeHead
    handle(req, res, record).catch(err => {
      log.error({ err }, 'request handler crashed')
      if (!res.headersSent) send(res, reply(500, internalError((err as Error).message).status))
      else res.destroy()
    })
  }
}
