/**
 * Webhook throughput and latency: POST /mutate of real AdmissionReviews over
 * HTTPS keep-alive to the built webhook program (dist/spot-webhook.mjs, with
 * its V8 flags and the default log level, log lines to /dev/null), against
 * the ceiling measured in the same run: a bare fastify HTTPS process that
 * parses the same request body and answers the webhook's own answer as a
 * fixed body. Both run as their own processes; the load comes from the bench
 * process. The webhook is also measured without its V8 flags, to show what
 * they cost.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateCertificates } from '../../certs/generate.ts'
import { NODE_FLAGS } from '../../deploy/build.ts'
import { writeCertificateFiles } from '../../certs/files.ts'
import { MAX_BODY_BYTES, MUTATE_PATH } from '../../webhook/server.ts'
import { httpsCall } from '../helpers/https.ts'
import { measure, ratio, type BenchModule, type BenchResult, type BenchRow, type LoadTarget } from './harness.ts'
import { freePort, printedReady, readyAt, repoFile, startBuiltProgram, startProgram, withProgram, type Program } from './programs.ts'

const SERVICE = { service: 'spot-webhook', namespace: 'spot-system' }
const SERVER_NAME = `${SERVICE.service}.${SERVICE.namespace}.svc`

/** A fixture's review as a request body. */
async function fixtureReview (name: string): Promise<Record<string, any>> {
  return JSON.parse(await readFile(repoFile(`test/fixtures/admission/${name}.json`), 'utf8')).review
}

/** The review bodies measured: the workshop example, the AWS Node Termination Handler chart's DaemonSet, and a DaemonSet padded to about 1 MiB (old and new object). */
export async function webhookCases (): Promise<Array<{ name: string, body: string }>> {
  const workshop = await fixtureReview('workshop-example-v1')
  const nth = await fixtureReview('nth-with-os-selector')
  const large = structuredClone(workshop)
  large.request.operation = 'UPDATE'
  large.request.object.metadata.annotations = { padding: 'x'.repeat(512 * 1024) }
  large.request.oldObject = structuredClone(large.request.object)
  const size = (review: unknown): string => {
    const bytes = JSON.stringify(review).length
    return bytes > 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(1)} MiB` : `${(bytes / 1024).toFixed(1)} KiB`
  }
  return [
    { name: `workshop example (${size(workshop)})`, body: JSON.stringify(workshop) },
    { name: `NTH chart DaemonSet (${size(nth)})`, body: JSON.stringify(nth) },
    { name: `UPDATE with old+new object (${size(large)})`, body: JSON.stringify(large) }
  ]
}

/** Starts the built webhook on free ports and waits until it is ready. */
async function startWebhookProgram (certDir: string, flags: boolean): Promise<{ program: Program, port: number }> {
  const [port, metricsPort] = [await freePort(), await freePort()]
  const program = startBuiltProgram('spot-webhook', ['--port', String(port), '--metrics-port', String(metricsPort), '--listen-address', '127.0.0.1', '--cert-dir', certDir], {}, { flags })
  await readyAt(program, `http://127.0.0.1:${metricsPort}/readyz`)
  return { program, port }
}

/** The webhook's bench module. */
export const webhookBench: BenchModule = {
  name: 'webhook',
  async run (settings): Promise<BenchResult> {
    const dir = await mkdtemp(join(tmpdir(), 'spot-webhook-bench-'))
    const set = await generateCertificates({ ...SERVICE, hosts: ['127.0.0.1'], days: 1, keyType: 'ecdsa' })
    const certDir = join(dir, 'certs')
    await writeCertificateFiles(certDir, set)
    const rows: BenchRow[] = []
    const ratios = []
    try {
      for (const c of await webhookCases()) {
        const target = (port: number): LoadTarget => ({ port, path: MUTATE_PATH, body: c.body, ca: set.ca.cert, servername: SERVER_NAME })
        const shipped = await startWebhookProgram(certDir, true)
        const hook = await withProgram(shipped.program, async () => {
          const sample = await httpsCall(target(shipped.port))
          if (sample.status !== 200) throw new Error(`webhook answered ${sample.status}: ${sample.text}`)
          await writeFile(join(dir, 'answer.json'), sample.text)
          return await measure('webhook', c.name, 'POST /mutate (built, as shipped)', target(shipped.port), settings, shipped.program.child.pid)
        })
        const unflagged = NODE_FLAGS['spot-webhook'].length === 0 ? [] : [await (async () => {
          const plain = await startWebhookProgram(certDir, false)
          return await withProgram(plain.program, async () => await measure('webhook', c.name, 'POST /mutate (built, no V8 flags)', target(plain.port), settings, plain.program.child.pid))
        })()]
        const barePort = await freePort()
        const bare = startProgram('bare fastify', [repoFile('test/bench/bare-fastify-main.ts'), certDir, String(barePort), MUTATE_PATH, String(MAX_BODY_BYTES), join(dir, 'answer.json')])
        const ceiling = await withProgram(bare, async p => {
          await printedReady(p)
          return await measure('webhook', c.name, 'ceiling: bare fastify, fixed answer', target(barePort), settings, p.child.pid)
        })
        rows.push(ceiling, hook, ...unflagged)
        ratios.push(ratio(hook, ceiling))
      }
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
    return { rows, ratios }
  }
}
