import t from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { startImdsSim } from './imds/server.ts'

// The project's Node 24 (type stripping), whichever Node runs the tests.
const NODE = fileURLToPath(new URL('../../node_modules/.bin/node', import.meta.url))
const MAIN = fileURLToPath(new URL('./imds/main.ts', import.meta.url))

interface Run { child: ChildProcess, stdout: () => string, stderr: () => string }

function run (args: string[]): Run {
  const child = spawn(NODE, [MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout!.setEncoding('utf8').on('data', (s: string) => { out += s })
  child.stderr!.setEncoding('utf8').on('data', (s: string) => { err += s })
  return { child, stdout: () => out, stderr: () => err }
}

/** Resolves with the URL the CLI prints, or rejects if it exits first. */
function urlOf (r: Run): Promise<string> {
  return new Promise((resolve, reject) => {
    const check = (): void => {
      const m = /listening on (http:\/\/\S+)\n/.exec(r.stdout())
      if (m !== null) { r.child.stdout!.off('data', check); resolve(m[1]!) }
    }
    r.child.stdout!.on('data', check)
    r.child.once('exit', code => reject(new Error(`imds-sim exited with ${code} before printing its URL: ${r.stderr()}`)))
  })
}

/** The exit code, once the process has exited and its output is fully read. */
async function exitCode (r: Run): Promise<number | null> {
  if (r.child.exitCode === null || r.child.stdout!.readable || r.child.stderr!.readable) await once(r.child, 'close')
  return r.child.exitCode
}

t.test('the CLI prints its URL, serves IMDSv2 with a spot notice, and exits 0 on SIGTERM', async t => {
  const r = run(['--port', '0', '--imdsv2-only', '--spot-itn-after', '0', '--spot-action', 'stop', '--log-level', 'debug'])
  const url = await urlOf(r)
  t.match(url, /^http:\/\/127\.0\.0\.1:\d+$/)
  t.equal((await fetch(`${url}/latest/meta-data/instance-id`)).status, 401, 'IMDSv2 is required')
  const tok = await fetch(`${url}/latest/api/token`, { method: 'PUT', headers: { 'X-aws-ec2-metadata-token-ttl-seconds': '60' } }).then(res => res.text())
  const notice = await fetch(`${url}/latest/meta-data/spot/instance-action`, { headers: { 'X-aws-ec2-metadata-token': tok } })
  t.equal(notice.status, 200)
  t.match(JSON.parse(await notice.text()), { action: 'stop', time: /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/ })
  const control = await fetch(`${url}/_sim/rebalance-recommendation`, { method: 'POST' })
  t.equal(control.status, 204, 'the control API is there')
  r.child.kill('SIGTERM')
  t.equal(await exitCode(r), 0)
  const logs = r.stderr().trim().split('\n').map(line => JSON.parse(line) as Record<string, unknown>)
  t.match(logs, [{ msg: 'spot interruption notice scheduled', action: 'stop' }, { msg: 'imds-sim listening', url, imdsv2Only: true }])
  t.ok(logs.some(l => l.msg === 'imds request' && l.path === '/latest/meta-data/spot/instance-action' && l.token === 'valid'), 'debug logs each request')
  t.ok(logs.some(l => l.msg === 'imds-sim stopping' && l.signal === 'SIGTERM'))
})

t.test('the CLI also stops on SIGINT', async t => {
  const r = run(['--port', '0'])
  const url = await urlOf(r)
  t.equal(await fetch(`${url}/latest/meta-data/instance-life-cycle`).then(res => res.text()), 'spot')
  r.child.kill('SIGINT')
  t.equal(await exitCode(r), 0)
})

t.test('--help lists every flag with its variable and default', async t => {
  const r = run(['--help'])
  t.equal(await exitCode(r), 0)
  for (const expected of ['--port  (env IMDS_SIM_PORT, default 1338)', '--host  (env IMDS_SIM_HOST, default 127.0.0.1)',
    '--imdsv2-only  (env IMDS_SIM_IMDSV2_ONLY, default false)', '--spot-itn-after  (env IMDS_SIM_SPOT_ITN_AFTER, default unset)',
    '--spot-action  (env IMDS_SIM_SPOT_ACTION, default terminate)', '--log-level  (env LOG_LEVEL, default info)']) {
    t.ok(r.stdout().includes(expected), expected)
  }
})

t.test('a bad flag value exits 2 naming the flag and variable', async t => {
  const r = run(['--port', 'nope'])
  t.equal(await exitCode(r), 2)
  t.match(r.stderr(), /imds-sim: invalid value "nope" for --port \(IMDS_SIM_PORT\)/)
})

t.test('a port already in use exits 1 with the reason', async t => {
  const busy = await startImdsSim()
  t.teardown(() => busy.close())
  const r = run(['--port', busy.url.split(':').pop()!])
  t.equal(await exitCode(r), 1)
  t.match(r.stderr(), /imds-sim: listen EADDRINUSE/)
})
