#!/usr/bin/env node
/**
 * The interim `npm start`: makes a throwaway CA and serving certificate, starts
 * the webhook on a free port, sends the workshop's example DaemonSets as
 * AdmissionReviews over TLS verified against that CA (as the API server would),
 * and prints what the webhook changed. Exits 0 when every answer is as expected.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import jsonpatch from 'fast-json-patch'
import type { Operation } from 'fast-json-patch'
import { generateCertificates } from '../certs/generate.ts'
import { writeCertificateFiles } from '../certs/files.ts'
import { parseOptions } from './common/options.ts'
import { startWebhook } from './app.ts'
import { postJson } from './client.ts'
import { WEBHOOK_OPTIONS } from './options.ts'
import { MUTATE_PATH } from './server.ts'

const SERVICE = { service: 'spot-webhook', namespace: 'spot-system' }
const SERVER_NAME = `${SERVICE.service}.${SERVICE.namespace}.svc`
const CASES = ['workshop-example-v1', 'nth-with-os-selector', 'lifecycle-ondemand-conflict']

interface Fixture {
  description: string
  review: { request: { uid: string, name: string, namespace: string, operation: string, object: { spec: { template: { spec: { nodeSelector?: Record<string, string> } } } } } }
  expect: { patch: Operation[] | null }
}

const show = (value: unknown): string => value === undefined ? '(none)' : JSON.stringify(value)

const dir = await mkdtemp(join(tmpdir(), 'spot-webhook-demo-'))
const set = await generateCertificates({ ...SERVICE, hosts: ['127.0.0.1'], days: 1, keyType: 'ecdsa' })
await writeCertificateFiles(dir, set)
const parsed = parseOptions(WEBHOOK_OPTIONS, ['--port', '0', '--metrics-port', '0', '--listen-address', '127.0.0.1', '--cert-dir', dir, '--log-level', 'warn'], {})
if (parsed.help) throw new Error('unexpected --help')
const webhook = await startWebhook(parsed.values)
let failures = 0
try {
  console.log(`Webhook listening on https://127.0.0.1:${webhook.port}${MUTATE_PATH}, certificate for ${SERVER_NAME} signed by a throwaway CA in ${dir}\n`)
  for (const name of CASES) {
    const fixture: Fixture = JSON.parse(await readFile(new URL(`../test/fixtures/admission/${name}.json`, import.meta.url), 'utf8'))
    const { request: req } = fixture.review
    const res = await postJson({ host: '127.0.0.1', port: webhook.port, path: MUTATE_PATH, ca: set.ca.cert, servername: SERVER_NAME, body: JSON.stringify(fixture.review) })
    const response = JSON.parse(res.text).response
    const patch: Operation[] | null = response.patch === undefined ? null : JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8'))
    const after = patch === null ? req.object : jsonpatch.applyPatch(structuredClone(req.object), patch, true).newDocument
    const asExpected = res.status === 200 && response.uid === req.uid && JSON.stringify(patch) === JSON.stringify(fixture.expect.patch)
    if (!asExpected) failures++
    console.log(`${req.operation} DaemonSet ${req.namespace}/${req.name} (${name})`)
    console.log(`  ${fixture.description}`)
    console.log(`  answer:       HTTP ${res.status} over ${res.tlsProtocol ?? 'TLS'}, uid echoed: ${response.uid === req.uid}, allowed: ${response.allowed}`)
    console.log(`  patch:        ${patch === null ? 'none' : patch.map(op => `${op.op} ${op.path} = ${JSON.stringify((op as { value?: unknown }).value)}`).join('; ')}`)
    if (response.warnings !== undefined) console.log(`  warnings:     ${response.warnings.join('; ')}`)
    console.log(`  nodeSelector: ${show(req.object.spec.template.spec.nodeSelector)} -> ${show(after.spec.template.spec.nodeSelector)}`)
    console.log(`  ${asExpected ? 'as expected' : 'NOT as expected: ' + JSON.stringify(fixture.expect.patch)}\n`)
  }
} finally {
  await webhook.stop()
  await rm(dir, { recursive: true, force: true })
}
console.log(failures === 0 ? 'All answers as expected.' : `${failures} answer(s) not as expected.`)
process.exitCode = failures === 0 ? 0 : 1
