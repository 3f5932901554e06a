/** Test helper: run one of the programs with the project's Node (24) and collect its output. */
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'

/** Repository root. */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url))

/** The project's Node binary (the system one may be older). */
export const PROJECT_NODE = fileURLToPath(new URL('../../node_modules/.bin/node', import.meta.url))

/** The variables a child keeps from the test's environment: PATH, and tap's hooks so the child's coverage is counted. */
function inheritedEnv (): Record<string, string> {
  const kept: Record<string, string> = {}
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined && (name === 'PATH' || name === 'NODE_OPTIONS' || name.startsWith('_TAPJS_PROCESSINFO_'))) kept[name] = value
  }
  return kept
}

/**
 * Starts `node <nodeFlags> <script> ...args` in the repository root with
 * `env` added to a minimal environment (none of the programs' own variables
 * leak in).
 */
export function spawnProgram (script: string, args: readonly string[], env: Record<string, string> = {}, nodeFlags: readonly string[] = []): ChildProcess {
  return spawn(PROJECT_NODE, [...nodeFlags, script, ...args], { cwd: REPO_ROOT, env: { ...inheritedEnv(), ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
}

/** Runs a program to completion. */
export function runProgram (script: string, args: readonly string[], env: Record<string, string> = {}, nodeFlags: readonly string[] = []): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const child = spawnProgram(script, args, env, nodeFlags)
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (c: Buffer) => { stdout += c.toString() })
  child.stderr!.on('data', (c: Buffer) => { stderr += c.toString() })
  return new Promise((resolve, reject) => {
    child.on('error', reject)
    child.on('close', code => resolve({ code, stdout, stderr }))
  })
}
