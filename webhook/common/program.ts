/**
 * The one start-up path of the three programs: `runProgram` runs a program's
 * main function and turns any error into one line on stderr, `<program>:
 * <message>`, with exit code 2 for a configuration problem (a ConfigError,
 * whose message names the flag and the variable) and 1 for anything else.
 * No stack traces: the message says what failed.
 */
import { ConfigError } from './options.ts'

/** The exit code for a start-up error: 2 for configuration, 1 otherwise. */
export function startupExitCode (err: unknown): 1 | 2 {
  return err instanceof ConfigError ? 2 : 1
}

/** Runs `main`; on an error prints `<program>: <message>` and exits with `startupExitCode`. */
export async function runProgram (program: string, main: () => Promise<void>): Promise<void> {
  try {
    await main()
  } catch (err) {
    process.stderr.write(`${program}: ${err instanceof Error ? err.message : String(err)}\n`)
    process.exit(startupExitCode(err))
  }
}
