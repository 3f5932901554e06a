import t from 'tap'
import { cp, mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PROJECT_NODE } from '../helpers/spawn.ts'
import { argsOf, parseDockerfile, stage } from './dockerfile.ts'
import { kustomizeBuild, podSpecs } from './render.ts'
import { REPO_ROOT, run } from './tools.ts'

const dockerfile = parseDockerfile(await readFile(join(REPO_ROOT, 'deploy', 'Dockerfile'), 'utf8'))
const runtime = stage(dockerfile, 'runtime')
const deps = stage(dockerfile, 'deps')

/** The program folders the runtime stage copies from the build stage (`COPY --from=build /src/webhook ./webhook`). */
const programDirs = argsOf(runtime, 'COPY')
  .map(a => /^--from=build\s+\/src\/(\w+)\s+\.\/(\w+)$/.exec(a))
  .filter(m => m !== null && m[1] === m[2])
  .map(m => m![1]!)

/** The deps stage's install command, run as the Dockerfile runs it. */
const installCommand = argsOf(deps, 'RUN').find(a => a.startsWith('npm ci'))

t.test('the Dockerfile builds in stages: typecheck with dev dependencies, runtime on slim Node 24 with production dependencies, non-root, no shell', async t => {
  t.same(dockerfile.stages.map(s => s.name), ['build', 'deps', 'runtime'])
  for (const s of dockerfile.stages) t.match(s.from, /^node:24(\.\d+)*-slim$/, `${s.name} is based on slim Node 24`)
  const build = stage(dockerfile, 'build')
  t.ok(argsOf(build, 'RUN').some(a => /^npm ci\b/.test(a) && !a.includes('--omit=dev')), 'build installs dev dependencies')
  t.ok(argsOf(build, 'RUN').some(a => /tsc --noEmit -p \./.test(a)), 'build typechecks')
  t.match(installCommand, /^npm ci .*--omit=dev/, 'runtime dependencies are production only')
  t.same(argsOf(runtime, 'RUN'), [], 'the runtime stage runs no shell command')
  t.same(argsOf(runtime, 'ENTRYPOINT'), ['["node"]'], 'exec-form entry point: node, no shell')
  t.same(argsOf(runtime, 'USER'), ['1000:1000'], 'a numeric non-root user')
  t.ok(argsOf(runtime, 'COPY').includes('--from=deps /app/node_modules ./node_modules'), 'node_modules from the production-only stage')
})

t.test('every program the manifests and package bins start is in the image, running as the manifests\' user', async t => {
  t.same([...programDirs].sort(), ['agent', 'certs', 'webhook'])
  const pkg = JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8'))
  for (const bin of Object.values(pkg.bin) as string[]) t.ok(programDirs.includes(bin.split('/')[0]!), `bin ${bin} is copied`)
  for (const { owner, spec } of podSpecs(await kustomizeBuild())) {
    const [node, script] = spec.containers[0].command
    t.equal(node, 'node', `${owner} starts node`)
    t.ok(programDirs.includes(script.split('/')[0]), `${owner} runs ${script}, which the image has`)
    t.equal(spec.securityContext.runAsUser, 1000, `${owner} runs as the image user`)
  }
})

t.test('the runtime stage\'s production install works from the npm cache and the three programs start from it', async t => {
  const dir = await mkdtemp(join(tmpdir(), 'spot-image-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  for (const file of ['package.json', 'package-lock.json']) await cp(join(REPO_ROOT, file), join(dir, file))
  const [npm, ...npmArgs] = installCommand!.split(/\s+/)
  // PATH puts the project's Node 24 first, so npm runs on the Node the image has.
  const env = { PATH: `${join(REPO_ROOT, 'node_modules', '.bin')}:${process.env.PATH ?? ''}`, npm_config_update_notifier: 'false' }
  const install = await run(npm!, [...npmArgs, '--prefer-offline'], { cwd: dir, env })
  t.equal(install.code, 0, `${installCommand}: ${install.stderr}`)
  t.ok(await stat(join(dir, 'node_modules', 'fastify')), 'production dependencies installed')
  t.notOk(await stat(join(dir, 'node_modules', 'typescript')).catch(() => undefined), 'dev dependencies left out')
  for (const program of programDirs) await cp(join(REPO_ROOT, program), join(dir, program), { recursive: true })
  for (const program of programDirs) {
    const result = await run(PROJECT_NODE, [`${program}/main.ts`, '--help'], { cwd: dir, env: { NODE_ENV: 'production' } })
    t.equal(result.code, 0, `${program}/main.ts --help: ${result.stderr}`)
    t.match(result.stdout, /^Usage: spot-\w+ \[flags\]/, `${program} prints its usage`)
  }
})
