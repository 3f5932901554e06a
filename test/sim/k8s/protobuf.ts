/**
 * Decoding of `application/vnd.kubernetes.protobuf` request bodies (pure) for the
 * few kinds typed clients send that way to create simple objects: `kubectl create
 * namespace|secret|configmap|serviceaccount`, helm's release Secrets and typed
 * clients' DeleteOptions. The body
 * is the `k8s\0` magic followed by a runtime.Unknown envelope (typeMeta, raw);
 * `raw` is decoded with the field numbers from k8s.io/api's generated.proto into
 * the object's JSON form. Other kinds are a 415, as before.
 */
import { ApiError } from './status.ts'

/** The content type typed clients use for protobuf. */
export const PROTOBUF_CONTENT_TYPE = 'application/vnd.kubernetes.protobuf'

const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00])

type FieldType = 'string' | 'bytes' | 'int' | 'bool' | 'time' | 'stringMap' | 'bytesMap' | Schema
interface FieldSpec { name: string, type: FieldType, repeated?: boolean }
type Schema = Record<number, FieldSpec>

const TIME_FIELDS = 'time' as const
const OWNER_REFERENCE: Schema = {
  1: { name: 'kind', type: 'string' }, 3: { name: 'name', type: 'string' }, 4: { name: 'uid', type: 'string' },
  5: { name: 'apiVersion', type: 'string' }, 6: { name: 'controller', type: 'bool' }, 7: { name: 'blockOwnerDeletion', type: 'bool' }
}
const OBJECT_META: Schema = {
  1: { name: 'name', type: 'string' }, 2: { name: 'generateName', type: 'string' }, 3: { name: 'namespace', type: 'string' },
  5: { name: 'uid', type: 'string' }, 6: { name: 'resourceVersion', type: 'string' }, 7: { name: 'generation', type: 'int' },
  8: { name: 'creationTimestamp', type: TIME_FIELDS }, 9: { name: 'deletionTimestamp', type: TIME_FIELDS },
  10: { name: 'deletionGracePeriodSeconds', type: 'int' }, 11: { name: 'labels', type: 'stringMap' },
  12: { name: 'annotations', type: 'stringMap' }, 13: { name: 'ownerReferences', type: OWNER_REFERENCE, repeated: true },
  14: { name: 'finalizers', type: 'string', repeated: true }
}
const OBJECT_REFERENCE: Schema = {
  1: { name: 'kind', type: 'string' }, 2: { name: 'namespace', type: 'string' }, 3: { name: 'name', type: 'string' },
  4: { name: 'uid', type: 'string' }, 5: { name: 'apiVersion', type: 'string' }
}

/** meta/v1 DeleteOptions, sent as the body of deletes by typed clients (helm uninstall). */
const DELETE_OPTIONS: Schema = {
  1: { name: 'gracePeriodSeconds', type: 'int' },
  2: { name: 'preconditions', type: { 1: { name: 'uid', type: 'string' }, 2: { name: 'resourceVersion', type: 'string' } } },
  3: { name: 'orphanDependents', type: 'bool' },
  4: { name: 'propagationPolicy', type: 'string' },
  5: { name: 'dryRun', type: 'string', repeated: true }
}

/** Schemas of the kinds accepted as protobuf, by `apiVersion/kind`. */
const KINDS: Record<string, Schema> = {
  'v1/DeleteOptions': DELETE_OPTIONS,
  'meta.k8s.io/v1/DeleteOptions': DELETE_OPTIONS,
  'v1/Namespace': {
    1: { name: 'metadata', type: OBJECT_META },
    2: { name: 'spec', type: { 1: { name: 'finalizers', type: 'string', repeated: true } } }
  },
  'v1/Secret': {
    1: { name: 'metadata', type: OBJECT_META }, 2: { name: 'data', type: 'bytesMap' }, 3: { name: 'type', type: 'string' },
    4: { name: 'stringData', type: 'stringMap' }, 5: { name: 'immutable', type: 'bool' }
  },
  'v1/ConfigMap': {
    1: { name: 'metadata', type: OBJECT_META }, 2: { name: 'data', type: 'stringMap' }, 3: { name: 'binaryData', type: 'bytesMap' },
    4: { name: 'immutable', type: 'bool' }
  },
  'v1/ServiceAccount': {
    1: { name: 'metadata', type: OBJECT_META }, 2: { name: 'secrets', type: OBJECT_REFERENCE, repeated: true },
    3: { name: 'imagePullSecrets', type: { 1: { name: 'name', type: 'string' } }, repeated: true },
    4: { name: 'automountServiceAccountToken', type: 'bool' }
  }
}

interface WireField { num: number, wire: number, varint?: bigint, bytes?: Buffer }

function readVarint (buf: Buffer, start: number): [bigint, number] {
  let result = 0n
  let shift = 0n
  let pos = start
  for (;;) {
    if (pos >= buf.length) throw new Error('truncated varint')
    const byte = buf[pos++]!
    result |= BigInt(byte & 0x7f) << shift
    if ((byte & 0x80) === 0) return [result, pos]
    shift += 7n
  }
}

/** Splits a protobuf message into its wire fields. */
function wireFields (buf: Buffer): WireField[] {
  const out: WireField[] = []
  let pos = 0
  while (pos < buf.length) {
    const [key, afterKey] = readVarint(buf, pos)
    const num = Number(key >> 3n)
    const wire = Number(key & 7n)
    pos = afterKey
    if (wire === 0) {
      const [value, next] = readVarint(buf, pos)
      out.push({ num, wire, varint: value }); pos = next
    } else if (wire === 2) {
      const [length, next] = readVarint(buf, pos)
      const end = next + Number(length)
      if (end > buf.length) throw new Error('truncated length-delimited field')
      out.push({ num, wire, bytes: buf.subarray(next, end) }); pos = end
    } else if (wire === 1) {
      pos += 8
    } else if (wire === 5) {
      pos += 4
    } else {
      throw new Error(`unsupported wire type ${wire}`)
    }
  }
  return out
}

function decodeTime (buf: Buffer): string | undefined {
  let seconds = 0n
  for (const f of wireFields(buf)) if (f.num === 1 && f.varint !== undefined) seconds = f.varint
  return seconds === 0n ? undefined : new Date(Number(seconds) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z')
}

function decodeMap (buf: Buffer, bytesValues: boolean): [string, string] {
  let key = ''
  let value = ''
  for (const f of wireFields(buf)) {
    if (f.num === 1) key = f.bytes?.toString('utf8') ?? ''
    if (f.num === 2) value = bytesValues ? (f.bytes ?? Buffer.alloc(0)).toString('base64') : f.bytes?.toString('utf8') ?? ''
  }
  return [key, value]
}

function decodeMessage (buf: Buffer, schema: Schema): Record<string, unknown> {
  const out: Record<string, any> = {}
  for (const f of wireFields(buf)) {
    const spec = schema[f.num]
    if (spec === undefined) continue
    let value: unknown
    switch (spec.type) {
      case 'string': value = f.bytes?.toString('utf8'); break
      case 'bytes': value = f.bytes?.toString('base64'); break
      case 'int': value = Number(BigInt.asIntN(64, f.varint ?? 0n)); break
      case 'bool': value = f.varint !== 0n; break
      case 'time': value = decodeTime(f.bytes ?? Buffer.alloc(0)); break
      case 'stringMap':
      case 'bytesMap': {
        const [k, v] = decodeMap(f.bytes ?? Buffer.alloc(0), spec.type === 'bytesMap')
        out[spec.name] = { ...out[spec.name], [k]: v }
        continue
      }
      default: value = decodeMessage(f.bytes ?? Buffer.alloc(0), spec.type)
    }
    if (spec.repeated === true) out[spec.name] = [...(out[spec.name] ?? []), value]
    // Go writes unset optional scalars as zero values; JSON (omitempty) leaves them out.
    else if (value !== undefined && value !== '' && value !== 0 && value !== false) out[spec.name] = value
  }
  return out
}

function unsupported (message: string): ApiError {
  return new ApiError({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason: 'UnsupportedMediaType', code: 415 })
}

/** Decodes a protobuf request body into the object's JSON form; 415 for kinds without a schema here, 400 for garbage. */
export function decodeProtobufObject (body: Buffer): Record<string, unknown> {
  if (!body.subarray(0, 4).equals(MAGIC)) throw unsupported('protobuf body without the k8s\\0 envelope')
  let apiVersion = ''
  let kind = ''
  let raw: Buffer = Buffer.alloc(0)
  try {
    for (const f of wireFields(body.subarray(4))) {
      if (f.num === 1 && f.bytes !== undefined) {
        for (const t of wireFields(f.bytes)) {
          if (t.num === 1) apiVersion = t.bytes?.toString('utf8') ?? ''
          if (t.num === 2) kind = t.bytes?.toString('utf8') ?? ''
        }
      }
      if (f.num === 2 && f.bytes !== undefined) raw = f.bytes
    }
    const schema = KINDS[`${apiVersion}/${kind}`]
    if (schema === undefined) throw unsupported(`the simulator does not decode protobuf bodies of ${apiVersion} ${kind}; send JSON (e.g. kubectl apply -f)`)
    return { apiVersion, kind, ...decodeMessage(raw, schema) }
  } catch (err) {
    if (err instanceof ApiError) throw err
    throw new ApiError({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: `error decoding protobuf body: ${(err as Error).message}`, reason: 'BadRequest', code: 400 })
  }
}
