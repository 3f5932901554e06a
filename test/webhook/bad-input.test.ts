/**
 * Bad input never crashes the webhook: each kind gets a 4xx with a one-line
 * message naming what was wrong, is counted, and the server keeps serving.
 */
import t from 'tap'
import { readFile } from 'node:fs/promises'
import { makeCertDir } from '../helpers/certs.ts'
import { httpsRequest, postReview } from '../helpers/https.ts'
import { startTestWebhook } from '../helpers/webhook.ts'
import { MAX_BODY_BYTES } from '../../webhook/server.ts'

const { dir, set } = await makeCertDir(t)
const webhook = await startTestWebhook(t, dir)
const ca = set.ca.cert
const valid = JSON.parse(await readFile(new URL('../fixtures/admission/workshop-example-v1.json', import.meta.url), 'utf8')).review

/** The review's text with the value at `set` replaced by an array nested 10,000 deep (written by hand: JSON.stringify of it would overflow the stack). */
function deeplyNested (set: (review: Record<string, any>, marker: string) => void): string {
  const review = structuredClone(valid)
  set(review, 'DEEP-MARKER')
  return JSON.stringify(review).replace('"DEEP-MARKER"', '['.repeat(10_000) + ']'.repeat(10_000))
}

function withRequest (change: (request: Record<string, unknown>) => void): string {
  const review = structuredClone(valid)
  change(review.request)
  return JSON.stringify(review)
}

const cases: Array<{ name: string, body: string | Buffer, headers?: Record<string, string>, method?: string, path?: string, status: number, message: RegExp }> = [
  { name: 'a body that is not JSON', body: '{"apiVersion": "admission.k8s.io/v1", ', status: 400, message: /^request body is not valid JSON: .* at position \d+/ },
  { name: 'an empty body', body: '', status: 400, message: /^request body is empty; expected an AdmissionReview$/ },
  { name: 'a text/plain body', body: 'hello', headers: { 'content-type': 'text/plain' }, status: 415, message: /^unsupported content type "text\/plain"; send application\/json$/ },
  { name: 'a JSON array', body: '[]', status: 400, message: /^invalid AdmissionReview: body must be a JSON object, got an array$/ },
  { name: 'a wrong apiVersion', body: JSON.stringify({ ...valid, apiVersion: 'admission.k8s.io/v2' }), status: 400, message: /^invalid AdmissionReview: apiVersion must be one of admission\.k8s\.io\/v1, admission\.k8s\.io\/v1beta1, got "admission\.k8s\.io\/v2"$/ },
  { name: 'a wrong kind', body: JSON.stringify({ ...valid, kind: 'ConversionReview' }), status: 400, message: /^invalid AdmissionReview: kind must be AdmissionReview, got "ConversionReview"$/ },
  { name: 'a missing request', body: JSON.stringify({ apiVersion: valid.apiVersion, kind: 'AdmissionReview' }), status: 400, message: /^invalid AdmissionReview: request is missing$/ },
  { name: 'a request that is not an object', body: JSON.stringify({ ...valid, request: 'x' }), status: 400, message: /^invalid AdmissionReview: request must be an object, got a string$/ },
  { name: 'a missing uid', body: withRequest(r => { delete r.uid }), status: 400, message: /^invalid AdmissionReview: request\.uid is missing$/ },
  { name: 'a uid that is not a string', body: withRequest(r => { r.uid = 42 }), status: 400, message: /^invalid AdmissionReview: request\.uid must be a string, got a number$/ },
  { name: 'a missing request kind', body: withRequest(r => { delete r.kind }), status: 400, message: /^invalid AdmissionReview: request\.kind must be an object with a kind$/ },
  { name: 'an unknown operation', body: withRequest(r => { r.operation = 'PATCH' }), status: 400, message: /^invalid AdmissionReview: request\.operation must be one of CREATE, UPDATE, DELETE, CONNECT, got "PATCH"$/ },
  { name: 'an object that is not an object', body: withRequest(r => { r.object = ['not', 'an', 'object'] }), status: 400, message: /^invalid AdmissionReview: request\.object must be an object, got an array$/ },
  { name: 'a CREATE without object', body: withRequest(r => { r.object = null }), status: 400, message: /^invalid AdmissionReview: request\.object is missing for CREATE$/ },
  { name: 'an oldObject that is not an object', body: withRequest(r => { r.oldObject = 7 }), status: 400, message: /^invalid AdmissionReview: request\.oldObject must be an object, got a number$/ },
  { name: 'a dryRun that is not a boolean', body: withRequest(r => { r.dryRun = 'yes' }), status: 400, message: /^invalid AdmissionReview: request\.dryRun must be a boolean, got a string$/ },
  { name: 'a body with only a __proto__ key', body: '{"__proto__": {"apiVersion": "admission.k8s.io/v1"}}', status: 400, message: /^invalid AdmissionReview: apiVersion must be one of .*, got nothing$/ },
  { name: 'a body over the limit', body: Buffer.alloc(MAX_BODY_BYTES + 1, ' '), status: 413, message: new RegExp(`^request body is larger than the limit of ${MAX_BODY_BYTES} bytes$`) },
  { name: 'a 10,000-deep apiVersion', body: deeplyNested((r, m) => { r.apiVersion = m }), status: 400, message: /^invalid AdmissionReview: apiVersion must be one of .*, got an array$/ },
  { name: 'a 10,000-deep kind', body: deeplyNested((r, m) => { r.kind = m }), status: 400, message: /^invalid AdmissionReview: kind must be AdmissionReview, got an array$/ },
  { name: 'a 10,000-deep operation', body: deeplyNested((r, m) => { r.request.operation = m }), status: 400, message: /^invalid AdmissionReview: request\.operation must be one of .*, got an array$/ },
  { name: 'a 1 MiB apiVersion', body: JSON.stringify({ ...valid, apiVersion: 'v'.repeat(1024 * 1024) }), status: 400, message: /^invalid AdmissionReview: apiVersion must be one of .*, got "v{200}… \(1048376 more characters\)"$/ },
  { name: 'a GET of /mutate', body: '', method: 'GET', status: 404, message: /^no route GET \/mutate; admission reviews go to POST \/mutate$/ },
  { name: 'an unknown path', body: '{}', path: '/validate', status: 404, message: /^no route POST \/validate; admission reviews go to POST \/mutate$/ }
]

for (const c of cases) {
  t.test(`${c.name} gets ${c.status} with a one-line message`, async t => {
    const res = await httpsRequest({ port: webhook.port, ca, body: c.body, headers: c.headers, method: c.method, path: c.path })
    t.equal(res.status, c.status)
    const body = JSON.parse(res.text)
    t.equal(body.status, c.status, 'status repeated in the body')
    t.match(body.message, c.message)
    t.notMatch(body.message, /\n/, 'message is one line')
  })
}

t.test('the server keeps serving and counted every rejection', async t => {
  const { status, body } = await postReview(webhook.port, ca, valid)
  t.equal(status, 200)
  t.equal(body.response.uid, valid.request.uid)
  const rejected = (await webhook.registry.metrics()).match(/spot_webhook_admission_requests_total\{operation="unknown",outcome="bad_request",mutated="false"\} (\d+)/)
  t.equal(Number(rejected?.[1]), cases.length, 'one bad_request per rejected request')
  const warnLines = webhook.logs.filter(l => l.msg === 'request rejected')
  t.equal(warnLines.length, cases.length, 'one warning line per rejected request')
})

t.test('a review close to the size limit (two ~3.5 MiB objects) is accepted', async t => {
  const review = structuredClone(valid)
  const padding = 'x'.repeat(3.5 * 1024 * 1024)
  review.request.object.metadata.annotations = { padding }
  review.request.oldObject = structuredClone(review.request.object)
  review.request.operation = 'UPDATE'
  const { status, body } = await postReview(webhook.port, ca, review)
  t.equal(status, 200)
  t.ok(body.response.patch, 'and still patched')
})

t.test('hostile values inside a handler DaemonSet are answered, never with a 500', async t => {
  const review = (change: (object: Record<string, any>) => void): Record<string, any> => {
    const r = structuredClone(valid)
    change(r.request.object)
    return r
  }
  const toString = await postReview(webhook.port, ca, review(o => { o.spec.template.spec.nodeSelector = { lifecycle: { toString: 1 } } }))
  t.equal(toString.status, 200)
  t.equal(toString.body.response.allowed, true)
  t.match(toString.body.response.warnings, ['nodeSelector already has lifecycle=an object; left as it is instead of lifecycle=Ec2Spot'])
  const deepText = deeplyNested((r, m) => { r.request.object.spec.template.spec.nodeSelector = { lifecycle: m, other: m } })
  const deepAnswer = await httpsRequest({ port: webhook.port, ca, body: deepText })
  t.equal(deepAnswer.status, 200, 'a 10,000-deep nodeSelector value')
  t.match(JSON.parse(deepAnswer.text).response.warnings, ['nodeSelector already has lifecycle=an array; left as it is instead of lifecycle=Ec2Spot'])
  const bigAnnotation = await postReview(webhook.port, ca, review(o => { o.metadata.annotations = { 'spot-handler.io/inject': 'x'.repeat(1024 * 1024) } }))
  t.equal(bigAnnotation.status, 200)
  const warning = bigAnnotation.body.response.warnings[0] as string
  t.ok(warning.length < 400, `a 1 MiB annotation is echoed clipped (${warning.length} characters)`)
  t.match(warning, /has value "x{200}… \(1048376 more characters\)"; expected/)
  const bigUid = structuredClone(valid)
  bigUid.request.uid = 'u'.repeat(1024 * 1024)
  const uidAnswer = await postReview(webhook.port, ca, bigUid)
  t.equal(uidAnswer.body.response.uid, bigUid.request.uid, 'the answer carries the uid as it came')
  const line = webhook.logs.find(l => typeof l.uid === 'string' && l.uid.startsWith('uuu'))
  t.ok(line !== undefined && JSON.stringify(line).length < 2000, 'the log line carries it clipped')
})
