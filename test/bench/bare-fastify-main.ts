/**
 * The bare fastify baseline as its own process, for the memory bench:
 * `node bare-fastify-main.ts CERT_DIR PORT PATH BODY_LIMIT ANSWER_FILE`; prints `ready`
 * once listening and stops on SIGTERM.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { startBareFastify } from './bare-fastify.ts'

const [certDir, port, path, bodyLimit, answerFile] = process.argv.slice(2)
if (certDir === undefined || port === undefined || path === undefined || bodyLimit === undefined || answerFile === undefined) {
  process.stderr.write('usage: bare-fastify-main.ts CERT_DIR PORT PATH BODY_LIMIT ANSWER_FILE\n')
  process.exit(2)
}
const [cert, key, answer] = await Promise.all([readFile(join(certDir, 'tls.crt'), 'utf8'), readFile(join(certDir, 'tls.key'), 'utf8'), readFile(answerFile, 'utf8')])
const server = await startBareFastify({ tls: { cert, key }, path, bodyLimit: Number(bodyLimit), answer: () => answer, port: Number(port) })
process.once('SIGTERM', () => { void server.close().then(() => process.exit(0)) })
process.stdout.write('ready\n')
