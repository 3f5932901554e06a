/**
 * Programs run as their own processes for the benches: the built programs the
 * image ships (dist/, with the V8 flags of deploy/build.ts), baselines, and
 * readings of their memory from /proc. The load generators stay in the bench
 * process, so a server and its client never share an event loop.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { readFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { builtFile, DIST_DIR, NODE_FLAGS, type ProgramName } from '../../deploy/build.ts'
import { parseProcStatus, type ProcessMemory } from './proc-memory.ts'

const READY_TIMEOUT_MS = 30_000

/** A program started for measuring. */
export interface Program {
  name: string
  child: ChildProcess
  /** What it wrote on stderr lately (for errors). */
  stderr: () => string
  /** Rejects if the process exits before `stop`. */
  exited: Promise<never>
  /** Resolves once the program printed a line `ready` on stdout. */
  printedReady: Promise<void>
}

/** A file of the repository, as an absolute path. */
export const repoFile = (path: string): string => fileURLToPath(new URL(`../../${path}`, import.meta.url))

/**
 * Starts `node args...` with the bench's Node binary. stdout is read only for
 * a `ready` line when `watchStdout` is set; otherwise it goes to /dev/null, as
 * cheap for the program as a container runtime's pipe.
 */
export function startProgram (name: string, args: readonly string[], env: Record<string, string> = {}, watchStdout = true): Program {
  const child = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ['ignore', watchStdout ? 'pipe' : 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => { stderr = (stderr + chunk).slice(-4000) })
  const printedReady = new Promise<void>(resolve => {
    if (child.stdout === null) return
    let tail = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (tail + chunk).split('\n')
      tail = lines.pop()!.slice(-100)
      if (lines.includes('ready')) resolve()
    })
  })
  const exited = new Promise<never>((_resolve, reject) => {
    child.once('exit', (code, signal) => reject(new Error(`${name} exited (${signal ?? `code ${code}`}): ${stderr.trim()}`)))
  })
  exited.catch(() => {})
  return { name, child, stderr: () => stderr, exited, printedReady }
}

/** Starts the built `program` as the image runs it: `node <its flags> dist/<program>.mjs args...`; `flags: false` leaves the V8 flags out (for comparing). */
export function startBuiltProgram (program: ProgramName, args: readonly string[], env: Record<string, string> = {}, options: { flags?: boolean } = {}): Program {
  const flags = options.flags === false ? [] : NODE_FLAGS[program]
  return startProgram(`${program}${options.flags === false ? ' (no V8 flags)' : ''}`, [...flags, repoFile(`${DIST_DIR}/${builtFile(program)}`), ...args], env, false)
}

/** Waits until the program printed `ready`. */
export async function printedReady (program: Program): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`${program.name} did not print "ready" within ${READY_TIMEOUT_MS} ms: ${program.stderr().trim()}`)), READY_TIMEOUT_MS) })
  try {
    await Promise.race([program.printedReady, program.exited, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/** Polls `url` until it answers 200. */
export async function readyAt (program: Program, url: string): Promise<void> {
  const deadline = performance.now() + READY_TIMEOUT_MS
  const poll = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const status = await fetch(url).then(r => r.status, () => 0)
      if (status === 200) return
      await sleep(100)
    }
    throw new Error(`${program.name}: ${url} not ready within ${READY_TIMEOUT_MS} ms: ${program.stderr().trim()}`)
  }
  await Promise.race([poll(), program.exited])
}

/** Stops the program (SIGTERM, then SIGKILL after 5 s) and waits for its exit. */
export async function stopProgram (program: Program): Promise<void> {
  const { child } = program
  if (child.exitCode !== null || child.signalCode !== null) return
  const exit = once(child, 'exit')
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
  await exit
  clearTimeout(timer)
}

/** Runs `measure` on a started program and always stops it. */
export async function withProgram<T> (program: Program, measure: (program: Program) => Promise<T>): Promise<T> {
  try {
    return await measure(program)
  } finally {
    await stopProgram(program)
  }
}

/** The program's memory now. */
export async function memoryOf (program: Program): Promise<ProcessMemory> {
  return parseProcStatus(await readFile(`/proc/${program.child.pid}/status`, 'utf8'))
}

/** A port free at the time of asking (the spawned programs take fixed ports). */
export async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise(resolve => server.close(resolve))
  return port
}
