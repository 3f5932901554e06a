/**
 * Webhook throughput and latency: POST /mutate of real AdmissionReviews over
 * HTTPS keep-alive, against a baseline measured in the same run: a bare
 * fastify HTTPS endpoint that parses the same request body and answers a fixed
 * body of the same size as the webhook's answer.
 */
import { readFile, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { generateCertificates } from '../../certs/generate.ts'
import { writeCertificateFiles } from '../../certs/files.ts'
import { createLogger } from '#common/logger.ts'
import { parseOptions } from '#common/options.ts'
import { startWebhook } from '../../webhook/app.ts'
import { WEBHOOK_OPTIONS, WEBHOOK_PROGRAM } from '../../webhook/options.ts'
import { MAX_BODY_BYTES, MUTATE_PATH } from '../../webhook/server.ts'
import { httpsCall } from '../helpers/https.ts'
import { startBareFastify } from './bare-fastify.ts'
import { measure, ratio, type BenchModule, type BenchResult, type BenchRow, type LoadTarget } from './harness.ts'

const SERVICE = { service: 'spot-webhook', namespace: 'spot-system' }
const SERVER_NAME = `${SERVICE.service}.${SERVICE.namespace}.svc`

/** The review bodies measured: the workshop example, and the same DaemonSet padded to about 1 MiB (old and new object). */
async function cases (): Promise<Array<{ name: string, body: string }>> {
  const { review } = JSON.parse(await readFile(new URL('../fixtures/admission/workshop-example-v1.json', import.meta.url), 'utf8'))
  const large = structuredClone(review)
  large.request.operation = 'UPDATE'
  large.request.object.metadata.annotations = { padding: 'x'.repeat(512 * 1024) }
  large.request.oldObject = structuredClone(large.request.object)
  return [
    { name: `workshop example (${(JSON.stringify(review).length / 1024).toFixed(1)} KiB)`, body: JSON.stringify(review) },
    { name: `UPDATE with old+new object (${(JSON.stringify(large).length / 1024 / 1024).toFixed(1)} MiB)`, body: JSON.stringify(large) }
  ]
}

/** The webhook's bench module. */
export const webhookBench: BenchModule = {
  name: 'webhook',
  async run (settings): Promise<BenchResult> {
    const dir = await mkdtemp(join(tmpdir(), 'spot-webhook-bench-'))
    const set = await generateCertificates({ ...SERVICE, hosts: ['127.0.0.1'], days: 1, keyType: 'ecdsa' })
    await writeCertificateFiles(dir, set)
    const parsed = parseOptions(WEBHOOK_OPTIONS, ['--port', '0', '--metrics-port', '0', '--listen-address', '127.0.0.1', '--cert-dir', dir], {})
    if (parsed.help) throw new Error('unexpected --help')
    // Production log level, lines discarded: the cost of logging is part of the measurement.
    const sink = new Writable({ write (_chunk, _encoding, done) { done() } })
    const webhook = await startWebhook(parsed.values, { logger: createLogger(WEBHOOK_PROGRAM, 'info', sink) })
    let fixedAnswer = ''
    const baseline = await startBareFastify({ tls: set.serving, path: '/echo', bodyLimit: MAX_BODY_BYTES, answer: () => fixedAnswer })
    const rows: BenchRow[] = []
    const ratios = []
    try {
      for (const c of await cases()) {
        const target: LoadTarget = { port: webhook.port, path: MUTATE_PATH, body: c.body, ca: set.ca.cert, servername: SERVER_NAME }
        const sample = await httpsCall(target)
        if (sample.status !== 200) throw new Error(`webhook answered ${sample.status}: ${sample.text}`)
        fixedAnswer = sample.text
        const base = await measure('webhook', c.name, `baseline: bare fastify, fixed ${fixedAnswer.length} B answer`, { ...target, port: baseline.port, path: '/echo' }, settings)
        const hook = await measure('webhook', c.name, 'POST /mutate', target, settings)
        rows.push(base, hook)
        ratios.push(ratio(hook, base))
      }
    } finally {
      await webhook.stop()
      await baseline.close()
      await rm(dir, { recursive: true, force: true })
    }
    return { rows, ratios }
  }
}
