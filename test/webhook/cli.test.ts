/**
 * The `spot-webhook` program as users run it: --help, bad flags, serving a
 * fixture over verified TLS, and a graceful exit on SIGTERM.
 */
import t from 'tap'
import { once } from 'node:events'
import { mkdtemp, readFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { WEBHOOK_OPTIONS } from '../../webhook/options.ts'
import { makeCertDir } from '../helpers/certs.ts'
import { postReview } from '../helpers/https.ts'
import { runProgram, spawnProgram } from '../helpers/spawn.ts'

const MAIN = 'webhook/main.ts'
// Each case spawns a program; run them side by side.
t.jobs = 4

t.test('--help lists every flag with its environment variable and default, and exits 0', async t => {
  const { code, stdout } = await runProgram(MAIN, ['--help'])
  t.equal(code, 0)
  t.match(stdout, /^Usage: spot-webhook \[flags\]/)
  for (const spec of Object.values(WEBHOOK_OPTIONS)) {
    t.match(stdout, new RegExp(`--${spec.flag}  \\(env ${spec.env}, default [^)]+\\)`), `--${spec.flag} is listed with ${spec.env}`)
  }
  t.match(stdout, /--port {2}\(env WEBHOOK_PORT, default 8443\)/)
  t.match(stdout, /--node-selector {2}\(env NODE_SELECTOR, default lifecycle=Ec2Spot\)/)
})

t.test('an unknown flag stops startup with exit code 2 and names the flag', async t => {
  const { code, stderr } = await runProgram(MAIN, ['--prot', '8443'])
  t.equal(code, 2)
  t.equal(stderr, 'spot-webhook: unknown flag --prot (see --help)\n')
})

t.test('a bad value names the flag and its variable', async t => {
  const fromFlag = await runProgram(MAIN, ['--node-selector', 'lifecycle'])
  t.equal(fromFlag.code, 2)
  t.match(fromFlag.stderr, /^spot-webhook: invalid value "lifecycle" for --node-selector \(NODE_SELECTOR\): expected key=value pairs/)
  const fromEnv = await runProgram(MAIN, [], { METRICS_PORT: '70000' })
  t.equal(fromEnv.code, 2)
  t.match(fromEnv.stderr, /^spot-webhook: invalid value "70000" for --metrics-port \(METRICS_PORT\): expected an integer from 0 to 65535/)
  const badLabel = await runProgram(MAIN, ['--node-selector', 'Bad Key=x'])
  t.match(badLabel.stderr, /--node-selector \(NODE_SELECTOR\): label key "Bad Key" has an invalid name/)
})

t.test('a port in use or an address that is not one stops start-up with one line naming the flag and variable, exit code 2', async t => {
  const dir = await mkdtemp(join(tmpdir(), 'webhook-cli-'))
  const taken = createServer()
  await new Promise<void>(resolve => taken.listen(0, '127.0.0.1', resolve))
  t.teardown(() => taken.close())
  const port = (taken.address() as AddressInfo).port
  const inUse = await runProgram(MAIN, ['--cert-dir', dir, '--port', String(port), '--listen-address', '127.0.0.1', '--metrics-port', '0'])
  t.equal(inUse.code, 2)
  t.equal(inUse.stderr, `spot-webhook: cannot listen on 127.0.0.1:${port} (--port (WEBHOOK_PORT)): the port is in use by another program (on the host network, another agent or the AWS Node Termination Handler?) (EADDRINUSE)\n`)
  const notAnAddress = await runProgram(MAIN, ['--cert-dir', dir, '--listen-address', 'not an address'])
  t.equal(notAnAddress.code, 2)
  t.equal(notAnAddress.stderr, 'spot-webhook: invalid value "not an address" for --listen-address (LISTEN_ADDRESS): expected an IP address such as 0.0.0.0, 127.0.0.1 or ::\n')
})

t.test('the program serves a fixture over verified TLS and exits 0 on SIGTERM', async t => {
  const { dir, set } = await makeCertDir(t)
  const child = spawnProgram(MAIN, ['--port', '0', '--metrics-port', '0', '--listen-address', '127.0.0.1'], { CERT_DIR: dir })
  const exited = once(child, 'exit')
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  let port = 0
  for await (const line of createInterface({ input: child.stdout! })) {
    const entry = JSON.parse(line)
    if (entry.msg === 'listening') { port = entry.port; break }
  }
  t.ok(port > 0, 'logs the port it listens on')
  const fixture = JSON.parse(await readFile(new URL('../fixtures/admission/workshop-example-v1.json', import.meta.url), 'utf8'))
  const { status, body } = await postReview(port, set.ca.cert, fixture.review)
  t.equal(status, 200)
  t.same(JSON.parse(Buffer.from(body.response.patch, 'base64').toString()), fixture.expect.patch)
  child.kill('SIGTERM')
  const [code, signal] = await exited
  t.equal(code, 0, 'exits 0')
  t.equal(signal, null, 'by itself, not killed by the signal')
})
