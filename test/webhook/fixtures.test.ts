/**
 * Table-driven: every test/fixtures/admission/*.json is sent to the real
 * webhook over TLS verified against the CA made by certs/, and the answer is
 * compared with the fixture's expectation. Patches are then applied and the
 * result sent again, which must give no patch (idempotence).
 */
import t from 'tap'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Agent } from 'node:https'
import jsonpatch from 'fast-json-patch'
import type { Operation } from 'fast-json-patch'
import { makeCertDir } from '../helpers/certs.ts'
import { postReview } from '../helpers/https.ts'
import { startTestWebhook, type TestWebhook } from '../helpers/webhook.ts'

interface Fixture {
  file: string
  description: string
  flags?: string[]
  review: { apiVersion: string, request: { uid: string, object: Record<string, unknown> | null } }
  expect: { allowed: boolean, patch: Operation[] | null, warnings: string[], auditAnnotations?: Record<string, string> }
}

const FIXTURES = new URL('../fixtures/admission/', import.meta.url).pathname
const files = (await readdir(FIXTURES)).filter(f => f.endsWith('.json')).sort()
const fixtures: Fixture[] = await Promise.all(files.map(async file => ({ file, ...JSON.parse(await readFile(join(FIXTURES, file), 'utf8')) })))

function decodePatch (response: { patch?: string }): Operation[] | null {
  return response.patch === undefined ? null : JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8'))
}

t.test('the fixture folder holds every case the issue lists', async t => {
  for (const name of ['workshop-example-v1', 'workshop-example-v2', 'nth-with-os-selector', 'lifecycle-ondemand-conflict', 'opt-in-annotation', 'opt-out-annotation',
    'non-handler-daemonset', 'deployment', 'delete', 'v1beta1-review', 'dry-run', 'label-key-with-slash', 'update-selector-removed']) {
    t.ok(files.includes(`${name}.json`), `${name}.json is present`)
  }
})

const { dir, set } = await makeCertDir(t)
const agent = new Agent({ keepAlive: true, ca: set.ca.cert })
t.teardown(() => agent.destroy())
// One webhook per distinct flag set, started on first use.
const webhooks = new Map<string, Promise<TestWebhook>>()
function webhookFor (flags: string[] = []): Promise<TestWebhook> {
  const key = JSON.stringify(flags)
  let started = webhooks.get(key)
  if (started === undefined) {
    started = startTestWebhook(t, dir, flags)
    webhooks.set(key, started)
  }
  return started
}

for (const fixture of fixtures) {
  t.test(`${fixture.file}: ${fixture.description}`, async t => {
    const webhook = await webhookFor(fixture.flags)
    const { status, body } = await postReview(webhook.port, set.ca.cert, fixture.review, agent)
    t.equal(status, 200, 'answers 200')
    t.equal(body.apiVersion, fixture.review.apiVersion, 'answers in the request\'s apiVersion')
    t.equal(body.kind, 'AdmissionReview')
    t.equal(body.response.uid, fixture.review.request.uid, 'echoes the uid')
    t.equal(body.response.allowed, fixture.expect.allowed, 'allowed as expected')
    const patch = decodePatch(body.response)
    t.same(patch, fixture.expect.patch, 'patch as expected')
    t.equal(body.response.patchType, patch === null ? undefined : 'JSONPatch', 'patchType only with a patch')
    t.same(body.response.warnings ?? [], fixture.expect.warnings, 'warnings as expected')
    if (patch === null) t.equal(body.response.auditAnnotations, undefined, 'no audit annotations without a mutation')
    else t.same(body.response.auditAnnotations, fixture.expect.auditAnnotations, 'audit annotations as expected')

    if (patch !== null) {
      const object = fixture.review.request.object
      t.ok(object, 'a patched review has an object')
      const patched = jsonpatch.applyPatch(structuredClone(object), patch, true).newDocument
      const again = structuredClone(fixture.review)
      again.request.uid = `${fixture.review.request.uid}-again`
      again.request.object = patched
      const second = await postReview(webhook.port, set.ca.cert, again, agent)
      t.equal(second.status, 200)
      t.equal(second.body.response.uid, again.request.uid)
      t.equal(second.body.response.patch, undefined, 'sending the patched object again gives no patch')
      t.match(fixture.expect.warnings.at(-1), / added: Spot interruption handler \(/, 'a mutation is announced in the last warning')
      t.same(second.body.response.warnings ?? [], fixture.expect.warnings.slice(0, -1), 'and the same warnings, less the notice of a mutation')
    }
  })
}

t.test('each review is logged on exactly one line with its identity and outcome', async t => {
  const webhook = await webhookFor()
  const fixture = fixtures.find(f => f.file === 'dry-run.json')!
  const before = webhook.logs.length
  await postReview(webhook.port, set.ca.cert, fixture.review, agent)
  const lines = webhook.logs.slice(before).filter(l => l.uid === fixture.review.request.uid)
  t.equal(lines.length, 1, 'one line for the review')
  t.match(lines[0], { msg: 'admission review', namespace: 'kube-system', name: 'node-termination-handler', operation: 'CREATE', dryRun: true, mutated: true, durationMs: Number })
})
