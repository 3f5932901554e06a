/** stopOnSignals, in a real child process: which signals stop it, how often stop runs, exit codes, logs. */
import t from 'tap'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import type { ChildProcess } from 'node:child_process'
import { spawnProgram } from '../helpers/spawn.ts'

const FIXTURE = fileURLToPath(new URL('../fixtures/programs/stop-on-signals.ts', import.meta.url))

interface Fixture { child: ChildProcess, stdout: () => string, stderr: () => string }

/** Starts the fixture and resolves once it has registered its handlers. */
async function startFixture (outcome: 'resolve' | 'reject' | 'hang', withLogger = false): Promise<Fixture> {
  const child = spawnProgram(FIXTURE, withLogger ? [outcome, 'logger'] : [outcome])
  let out = ''
  let err = ''
  child.stdout!.setEncoding('utf8').on('data', (s: string) => { out += s })
  child.stderr!.setEncoding('utf8').on('data', (s: string) => { err += s })
  await waitFor(child, () => out.includes('ready\n'), () => err)
  return { child, stdout: () => out, stderr: () => err }
}

/** Resolves once `done()` holds after some output, or rejects if the child exits first. */
function waitFor (child: ChildProcess, done: () => boolean, stderr: () => string): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = (): void => {
      if (!done()) return
      child.stdout!.off('data', check)
      child.stderr!.off('data', check)
      child.off('exit', early)
      resolve()
    }
    const early = (code: number | null): void => reject(new Error(`fixture exited with ${code}: ${stderr()}`))
    child.stdout!.on('data', check)
    child.stderr!.on('data', check)
    child.once('exit', early)
  })
}

/** How the child ended, once its output is fully read. */
async function ending (child: ChildProcess): Promise<{ code: number | null, signal: NodeJS.Signals | null }> {
  const exited = child.exitCode !== null || child.signalCode !== null
  if (!exited || child.stdout!.readable || child.stderr!.readable) await once(child, 'close')
  return { code: child.exitCode, signal: child.signalCode }
}

/** The JSON log lines the child wrote on stdout. */
function logLines (stdout: string): Array<Record<string, unknown>> {
  return stdout.split('\n').filter(l => l.startsWith('{')).map(l => JSON.parse(l) as Record<string, unknown>)
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  t.test(`${signal} runs stop once and exits 0 although the event loop is still busy`, async t => {
    const f = await startFixture('resolve')
    f.child.kill(signal)
    t.same(await ending(f.child), { code: 0, signal: null })
    t.equal(f.stderr(), 'stop called\n')
  })
}

t.test('a rejected stop exits 1 and says why on stderr when there is no logger', async t => {
  const f = await startFixture('reject')
  f.child.kill('SIGTERM')
  t.same(await ending(f.child), { code: 1, signal: null })
  t.equal(f.stderr(), 'stop called\nstop failed: cannot close the listener\n')
})

t.test('with a logger the signal is logged with the given message, and a rejected stop is logged as an error', async t => {
  const f = await startFixture('reject', true)
  f.child.kill('SIGINT')
  t.same(await ending(f.child), { code: 1, signal: null })
  const lines = logLines(f.stdout())
  t.match(lines[0], { level: 'info', msg: 'fixture stopping', signal: 'SIGINT', program: 'signals-fixture' })
  t.match(lines[1], { level: 'error', msg: 'error while stopping', err: { message: 'cannot close the listener' } })
  t.equal(lines.length, 2)
  t.equal(f.stderr(), 'stop called\n')
})

t.test('a second signal while stopping does not run stop again: Node\'s default ends the process', async t => {
  const f = await startFixture('hang')
  f.child.kill('SIGTERM')
  await waitFor(f.child, () => f.stderr().includes('stop called\n'), f.stderr)
  f.child.kill('SIGINT')
  t.same(await ending(f.child), { code: null, signal: 'SIGINT' })
  t.equal(f.stderr(), 'stop called\n')
})
