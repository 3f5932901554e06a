#!/usr/bin/env node
/**
 * `npm run build`: the production programs the image ships, one
 * self-contained, minified ES module per program with its source map:
 * `dist/spot-agent.mjs`, `dist/spot-webhook.mjs`, `dist/spot-certs.mjs`.
 * esbuild bundles each entry point with its dependencies (tree-shaken), so
 * the image needs no node_modules and no TypeScript at run time, and Node
 * loads one file instead of about a thousand (the memory that costs is
 * measured by `npm run bench -- --only memory`).
 */
import { build, type BuildResult } from 'esbuild'
import { fileURLToPath } from 'node:url'

/** The programs and their entry points. */
export const PROGRAMS = {
  'spot-agent': 'agent/main.ts',
  'spot-webhook': 'webhook/main.ts',
  'spot-certs': 'certs/main.ts'
} as const

/** A program name of PROGRAMS. */
export type ProgramName = keyof typeof PROGRAMS

/**
 * The V8 flags each built program runs with (the Dockerfile's entry point and
 * every manifest use exactly these; a test checks). Each was measured with
 * the memory bench (`npm run bench -- --only memory`), on a working agent:
 * `--lite-mode` would save as much but leaves out WebAssembly, which
 * undici's HTTP parser (every request of client-node and of fetch) needs.
 * - `--max-semi-space-size=1`: young generation of 1 MiB semi-spaces.
 * - `--no-opt --no-maglev --no-sparkplug` (agent, certs): only the
 *   interpreter; their work waits on the network, not the CPU (the agent's
 *   drain time is measured with and without in the same bench).
 * - `--liftoff-only` (agent, certs): WebAssembly (undici's HTTP parser)
 *   stays on the baseline compiler.
 * - `--v8-pool-size=1` (agent): one V8 background thread instead of four.
 * - `--optimize-for-size` (agent): the old generation grows less eagerly;
 *   without it an agent that starts while its API server is busy settles
 *   about 9 MiB higher (86 against 77 MiB idle).
 * Together: the agent idles about 77 MiB instead of about 130 MiB. None for
 * the webhook: its throughput is what it is for.
 */
export const NODE_FLAGS: Record<ProgramName, readonly string[]> = {
  'spot-agent': ['--max-semi-space-size=1', '--no-opt', '--no-maglev', '--no-sparkplug', '--liftoff-only', '--v8-pool-size=1', '--optimize-for-size'],
  'spot-webhook': [],
  'spot-certs': ['--max-semi-space-size=1', '--no-opt', '--no-maglev', '--no-sparkplug', '--liftoff-only']
}

/** Where the built programs go, relative to the repository. */
export const DIST_DIR = 'dist'

/** The built file of `program`, relative to DIST_DIR. */
export function builtFile (program: ProgramName): string {
  return `${program}.mjs`
}

const ROOT = fileURLToPath(new URL('..', import.meta.url))

/**
 * Some bundled CommonJS dependencies call `require` for Node's built-in
 * modules; an ES module has none, so each bundle makes one first.
 */
const REQUIRE_SHIM = "import { createRequire as __spotCreateRequire } from 'node:module'; const require = __spotCreateRequire(import.meta.url);"

/** Builds every program into `outdir` (default: dist/ of the repository). */
export async function buildPrograms (outdir = `${ROOT}${DIST_DIR}`): Promise<BuildResult> {
  return await build({
    absWorkingDir: ROOT,
    entryPoints: Object.fromEntries(Object.entries(PROGRAMS).map(([name, entry]) => [name, entry])),
    outdir,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node24',
    minify: true,
    sourcemap: true,
    legalComments: 'linked',
    banner: { js: REQUIRE_SHIM },
    metafile: true,
    logLevel: 'warning'
  })
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const result = await buildPrograms(process.argv[2])
  for (const [file, output] of Object.entries(result.metafile?.outputs ?? {})) {
    if (file.endsWith('.mjs')) process.stdout.write(`${file}  ${(output.bytes / 1024).toFixed(0)} KiB\n`)
  }
}
