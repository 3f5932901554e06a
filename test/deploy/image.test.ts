/**
 * The image: the Dockerfile builds the programs with `npm run build` and
 * ships only its output, with the agent as the default command; the
 * manifests run exactly those files with exactly the V8 flags of
 * deploy/build.ts; and the built programs, alone in a directory without
 * node_modules, start and work with those flags (the agent acts on a notice,
 * the webhook answers a review over TLS with certificates the built certs
 * program wrote).
 */
import t from 'tap'
import { once } from 'node:events'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { buildPrograms, builtFile, NODE_FLAGS, PROGRAMS, type ProgramName } from '../../deploy/build.ts'
import { postReview } from '../helpers/https.ts'
import { runProgram, spawnProgram } from '../helpers/spawn.ts'
import { startImdsSim } from '../sim/imds/server.ts'
import { startKubeSim } from '../sim/k8s/sim.ts'
import { argsOf, parseDockerfile, stage } from './dockerfile.ts'
import { helmTemplate, kustomizeBuild, podSpecs } from './render.ts'
import { REPO_ROOT } from './tools.ts'

const dockerfile = parseDockerfile(await readFile(join(REPO_ROOT, 'deploy', 'Dockerfile'), 'utf8'))
const runtime = stage(dockerfile, 'runtime')
const build = stage(dockerfile, 'build')
const APP_DIR = '/app'

/** The command that runs `program` in the image: node, its V8 flags, its built file. */
const commandOf = (program: ProgramName): string[] => ['node', ...NODE_FLAGS[program], `${APP_DIR}/${builtFile(program)}`]

t.test('the Dockerfile typechecks and builds in one stage and ships only the build output, on slim Node 24, non-root', async t => {
  t.same(dockerfile.stages.map(s => s.name), ['build', 'runtime'])
  for (const s of dockerfile.stages) t.match(s.from, /^node:24(\.\d+)*-slim$/, `${s.name} is based on slim Node 24`)
  t.ok(argsOf(build, 'RUN').some(a => /^npm ci\b/.test(a)), 'build installs the dependencies')
  t.ok(argsOf(build, 'RUN').some(a => /tsc --noEmit -p \. && npm run build$/.test(a)), 'build typechecks, then builds')
  t.same(argsOf(runtime, 'COPY'), ['--from=build /src/dist/ ./'], 'the runtime stage copies the build output and nothing else')
  t.same(argsOf(runtime, 'WORKDIR'), [APP_DIR])
  t.same(argsOf(runtime, 'RUN'), [], 'the runtime stage runs no shell command')
  t.same(argsOf(runtime, 'USER'), ['1000:1000'], 'a numeric non-root user')
  const pkg = JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8'))
  t.equal(pkg.scripts.build, 'node deploy/build.ts')
})

t.test('the default command is the agent with its V8 flags, so a chart that sets no command runs the agent', async t => {
  t.same(argsOf(runtime, 'ENTRYPOINT').map(a => JSON.parse(a)), [commandOf('spot-agent')], 'exec form: node, no shell')
  t.same(argsOf(runtime, 'CMD'), [], 'no CMD: arguments given by a manifest go to the agent')
})

t.test('every manifest of both install paths runs a built file with exactly its V8 flags, as the image user', async t => {
  const byScript = new Map(Object.keys(PROGRAMS).map(p => [`${APP_DIR}/${builtFile(p as ProgramName)}`, p as ProgramName]))
  for (const [path, objects] of [['kustomize', await kustomizeBuild()], ['helm', await helmTemplate()]] as const) {
    const seen = new Set<ProgramName>()
    for (const { owner, spec } of podSpecs(objects)) {
      const command: string[] = spec.containers[0].command
      const program = byScript.get(command.at(-1)!)
      t.ok(program, `${path} ${owner} runs a built program (${command.at(-1)})`)
      if (program === undefined) continue
      seen.add(program)
      t.same(command, commandOf(program), `${path} ${owner}: node, the V8 flags of ${program}, the file`)
      t.equal(spec.securityContext.runAsUser, 1000, `${path} ${owner} runs as the image user`)
    }
    t.same([...seen].sort(), Object.keys(PROGRAMS).sort(), `${path} runs each program`)
  }
})

t.test('the built programs run alone, without node_modules, with their V8 flags', async t => {
  const dir = await mkdtemp(join(tmpdir(), 'spot-built-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const { metafile } = await buildPrograms(dir)
  const files = await readdir(dir)
  // Each bundle carries the code of the client's generated API groups its program calls, not of all sixty (a group
  // left out leaves a stub of a few dozen bytes). A dynamic or namespace import of the package keeps every group,
  // which cost the agent 4 MiB of idle memory.
  const apiGroups = (program: ProgramName): string[] => {
    const output = Object.entries(metafile?.outputs ?? {}).find(([file]) => file.endsWith(`/${builtFile(program)}`))?.[1]
    return Object.entries(output?.inputs ?? {}).flatMap(([file, input]) => input.bytesInOutput < 1024 ? [] : /@kubernetes\/client-node\/dist\/gen\/apis\/(\w+Api)\.js$/.exec(file)?.[1] ?? []).sort()
  }
  t.same(apiGroups('spot-agent'), ['CoreV1Api', 'PolicyV1Api'], 'the agent bundles the core and policy API groups only')
  t.same(apiGroups('spot-certs'), ['AdmissionregistrationV1Api', 'CoreV1Api'], 'the certificate program bundles the core and admissionregistration API groups only')
  t.same(apiGroups('spot-webhook'), [], 'the webhook bundles no Kubernetes client')
  for (const program of Object.keys(PROGRAMS) as ProgramName[]) {
    t.ok(files.includes(builtFile(program)), `${builtFile(program)} built`)
    t.ok(files.includes(`${builtFile(program)}.map`), 'with its source map')
  }
  t.notOk(files.includes('node_modules'))
  const built = (program: ProgramName): string => join(dir, builtFile(program))

  for (const program of Object.keys(PROGRAMS) as ProgramName[]) {
    const help = await runProgram(built(program), ['--help'], {}, NODE_FLAGS[program])
    t.equal(help.code, 0, `${program} --help: ${help.stderr}`)
    t.match(help.stdout, `Usage: ${program} [flags]`)
  }

  const certDir = join(dir, 'tls')
  const certs = await runProgram(built('spot-certs'), ['--service', 'spot-webhook', '--namespace', 'spot-system', '--host', '127.0.0.1', '--out-dir', certDir], {}, NODE_FLAGS['spot-certs'])
  t.equal(certs.code, 0, `spot-certs: ${certs.stderr}`)
  const webhook = spawnProgram(built('spot-webhook'), ['--port', '0', '--metrics-port', '0', '--listen-address', '127.0.0.1', '--cert-dir', certDir], {}, NODE_FLAGS['spot-webhook'])
  t.teardown(() => { webhook.kill('SIGKILL') })
  let port = 0
  for await (const line of createInterface({ input: webhook.stdout! })) {
    const entry = JSON.parse(line) as { msg?: string, port?: number }
    if (entry.msg === 'listening') { port = entry.port!; break }
  }
  const { review } = JSON.parse(await readFile(join(REPO_ROOT, 'test/fixtures/admission/workshop-example-v1.json'), 'utf8'))
  const answer = await postReview(port, await readFile(join(certDir, 'ca.crt'), 'utf8'), review)
  t.equal(answer.status, 200)
  t.equal(answer.body.response.patchType, 'JSONPatch', 'the built webhook patches the handler')

  const imds = await startImdsSim()
  const kube = await startKubeSim()
  t.teardown(async () => { await imds.close(); await kube.close() })
  await kube.addNode({ name: 'spot-node-1' })
  const kubeconfig = join(dir, 'kubeconfig')
  await kube.writeKubeconfig(kubeconfig)
  const agent = spawnProgram(built('spot-agent'), ['--poll-interval', '100ms'], { KUBECONFIG: kubeconfig, NODE_NAME: 'spot-node-1', INSTANCE_METADATA_URL: imds.url, PROBES_SERVER_PORT: '0', PROMETHEUS_SERVER_PORT: '0' }, NODE_FLAGS['spot-agent'])
  t.teardown(() => { agent.kill('SIGKILL') })
  imds.postSpotInterruption()
  const taint = await kube.waitFor(() => (kube.get('Node', undefined, 'spot-node-1')?.spec?.taints ?? []).find((x: { key: string }) => x.key === 'spot-handler.io/spot-itn'), 20_000, 'the built agent tainting its node')
  t.match(taint.value, /^itn-/, 'the built agent reached IMDS and the API server with its flags')
  agent.kill('SIGTERM')
  const [code] = await once(agent, 'exit')
  t.equal(code, 0, 'and stops cleanly')
})
