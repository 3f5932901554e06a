/** The `spot-certs` program as users run it: output files, printed caBundle, --help and bad flags. */
import t from 'tap'
import { X509Certificate } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CERTS_OPTIONS } from '../../certs/options.ts'
import { runProgram } from '../helpers/spawn.ts'

const MAIN = 'certs/main.ts'
// Each case spawns a program; run them side by side.
t.jobs = 4

t.test('writes the three files and prints the caBundle of ca.crt', async t => {
  const dir = await mkdtemp(join(tmpdir(), 'spot-certs-cli-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const { code, stdout, stderr } = await runProgram(MAIN, ['--service', 'spot-webhook', '--namespace', 'spot-system', '--out-dir', dir, '--host', 'localhost,127.0.0.1', '--days', '10', '--key-type', 'ecdsa'])
  t.equal(code, 0, stderr)
  const ca = await readFile(join(dir, 'ca.crt'), 'utf8')
  t.equal(stdout, Buffer.from(ca).toString('base64') + '\n', 'stdout is exactly the caBundle')
  t.match(stderr, `wrote ${join(dir, 'ca.crt')}`)
  const leaf = new X509Certificate(await readFile(join(dir, 'tls.crt')))
  t.ok(leaf.checkIssued(new X509Certificate(ca)))
  t.match(leaf.subjectAltName, /DNS:spot-webhook\.spot-system\.svc\.cluster\.local, DNS:localhost, IP Address:127\.0\.0\.1$/)
  t.equal(leaf.publicKey.asymmetricKeyType, 'ec')
  t.equal(leaf.validToDate.getTime() - leaf.validFromDate.getTime(), 10 * 24 * 3600_000 + 5 * 60_000, '--days 10 (plus the clock-skew margin)')
})

t.test('reads its options from environment variables too', async t => {
  const dir = await mkdtemp(join(tmpdir(), 'spot-certs-cli-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const { code } = await runProgram(MAIN, [], { SERVICE_NAME: 'hook', SERVICE_NAMESPACE: 'ops', OUT_DIR: dir })
  t.equal(code, 0)
  const leaf = new X509Certificate(await readFile(join(dir, 'tls.crt')))
  t.ok(leaf.checkHost('hook.ops.svc'))
  t.equal(leaf.publicKey.asymmetricKeyType, 'ec', 'ECDSA by default')
  t.equal(leaf.validToDate.getTime() - leaf.validFromDate.getTime(), 365 * 24 * 3600_000 + 5 * 60_000, '365 days by default')
})

t.test('--help lists every flag with its environment variable and default', async t => {
  const { code, stdout } = await runProgram(MAIN, ['--help'])
  t.equal(code, 0)
  for (const spec of Object.values(CERTS_OPTIONS)) t.match(stdout, `--${spec.flag}  (env ${spec.env}, default `, `--${spec.flag} is listed`)
  t.match(stdout, '--service  (env SERVICE_NAME, default required)')
})

t.test('a missing required flag or a bad value stops with exit code 2 and names the flag', async t => {
  const missing = await runProgram(MAIN, ['--service', 'hook', '--out-dir', '/tmp/unused'])
  t.equal(missing.code, 2)
  t.equal(missing.stderr, 'spot-certs: missing --namespace (SERVICE_NAMESPACE), which is required\n')
  const bad = await runProgram(MAIN, ['--service', 'Hook_1', '--namespace', 'ops', '--out-dir', '/tmp/unused'])
  t.equal(bad.code, 2)
  t.match(bad.stderr, /^spot-certs: invalid value "Hook_1" for --service \(SERVICE_NAME\): expected a DNS label/)
})
