/** The `spot-agent` program as users run it: --help, bad configuration, a run against the simulators, SIGTERM. */
import t from 'tap'
import { once } from 'node:events'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { AGENT_OPTIONS } from '../../agent/config.ts'
import { runProgram, spawnProgram } from '../helpers/spawn.ts'
import { startImdsSim } from '../sim/imds/server.ts'
import { startKubeSim } from '../sim/k8s/sim.ts'

const MAIN = 'agent/main.ts'
t.jobs = 3

t.test('--help lists every variable with its default and exits 0', async t => {
  const { code, stdout } = await runProgram(MAIN, ['--help'])
  t.equal(code, 0)
  t.match(stdout, /^Usage: spot-agent \[flags\]/)
  for (const spec of Object.values(AGENT_OPTIONS)) t.match(stdout, `--${spec.flag}  (env ${[spec.env, ...(spec.aliases ?? []).map(a => a.deprecated === true ? `${a.env} (deprecated)` : a.env)].join(' or ')}, default `)
})

t.test('a missing or bad value stops startup with exit code 2 naming the variable', async t => {
  const missing = await runProgram(MAIN, [])
  t.equal(missing.code, 2)
  t.equal(missing.stderr, 'spot-agent: missing --node-name (NODE_NAME), which is required\n')
  const bad = await runProgram(MAIN, [], { NODE_NAME: 'n1', TAINT_EFFECT: 'Never' })
  t.equal(bad.code, 2)
  t.match(bad.stderr, /^spot-agent: invalid value "Never" for --taint-effect \(TAINT_EFFECT\)/)
})

t.test('NTH queue-processor mode and a bad template stop start-up with exit 2; unused NTH variables make one text warning', async t => {
  const queue = await runProgram(MAIN, [], { NODE_NAME: 'n1', ENABLE_SQS_TERMINATION_DRAINING: 'true', QUEUE_URL: 'https://sqs.example/q' })
  t.equal(queue.code, 2)
  t.match(queue.stderr, /^spot-agent: ENABLE_SQS_TERMINATION_DRAINING=true asks for the Node Termination Handler's queue-processor mode/)
  const kube = await startKubeSim()
  t.teardown(() => kube.close())
  const kubeconfig = join(await mkdtemp(join(tmpdir(), 'agent-cli-')), 'kubeconfig')
  await kube.writeKubeconfig(kubeconfig)
  const template = await runProgram(MAIN, [], { NODE_NAME: 'n1', INSTANCE_METADATA_URL: 'http://127.0.0.1:9', PROBES_SERVER_PORT: '0', PROMETHEUS_SERVER_PORT: '0', KUBECONFIG: kubeconfig, WEBHOOK_TEMPLATE: '{{ if .Pods }}' })
  t.equal(template.code, 2)
  t.equal(template.stderr, 'spot-agent: invalid notification template in --webhook-template (WEBHOOK_TEMPLATE): line 1, column 4: unexpected EOF: {{if}} has no {{end}}\n')
  const unused = await runProgram(MAIN, [], { NODE_NAME: 'n1', JSON_LOGGING: 'false', WORKERS: '10', KUBECONFIG: '/nonexistent/kubeconfig' })
  t.match(unused.stdout, /^\S+ WRN ignoring Node Termination Handler variables that have nothing to do in spot-agent \([^)]*\): WORKERS\n/m, 'a text line, as NTH logs by default')
})

t.test('an unreadable template file or kubeconfig stops startup with one line naming the setting, exit code 2', async t => {
  const kube = await startKubeSim()
  t.teardown(() => kube.close())
  const kubeconfig = join(await mkdtemp(join(tmpdir(), 'agent-cli-')), 'kubeconfig')
  await kube.writeKubeconfig(kubeconfig)
  const env = { NODE_NAME: 'n1', INSTANCE_METADATA_URL: 'http://127.0.0.1:9', PROBES_SERVER_PORT: '0', PROMETHEUS_SERVER_PORT: '0' }
  const r = await runProgram(MAIN, [], { ...env, KUBECONFIG: kubeconfig, WEBHOOK_TEMPLATE_FILE: '/nonexistent/template.json' })
  t.equal(r.code, 2)
  t.match(r.stderr, /^spot-agent: cannot read --webhook-template-file \(WEBHOOK_TEMPLATE_FILE\) \/nonexistent\/template\.json: ENOENT[^\n]*\n$/)
  t.notMatch(r.stderr, /\n\s+at /, 'no stack trace')
  const noKubeconfig = await runProgram(MAIN, [], { ...env, KUBECONFIG: '/nonexistent/kubeconfig' })
  t.equal(noKubeconfig.code, 2)
  t.match(noKubeconfig.stderr, /^spot-agent: cannot load the Kubernetes client configuration \(KUBECONFIG \/nonexistent\/kubeconfig, [^\n]*ENOENT[^\n]*\n$/)
})

t.test('the program logs its configuration with secrets masked, acts on a notice and exits 0 on SIGTERM', async t => {
  const imds = await startImdsSim()
  const kube = await startKubeSim()
  t.teardown(async () => { await imds.close(); await kube.close() })
  await kube.addNode({ name: 'spot-node-1' })
  const dir = await mkdtemp(join(tmpdir(), 'agent-cli-'))
  const kubeconfig = join(dir, 'kubeconfig')
  await kube.writeKubeconfig(kubeconfig)
  const child = spawnProgram(MAIN, ['--poll-interval', '50ms'], {
    KUBECONFIG: kubeconfig,
    NODE_NAME: 'spot-node-1',
    INSTANCE_METADATA_URL: imds.url,
    PROBES_SERVER_PORT: '0',
    PROMETHEUS_SERVER_PORT: '0',
    WEBHOOK_URL: 'http://127.0.0.1:9/hooks/T000/B000/very-secret-token',
    WEBHOOK_HEADERS: '{"Authorization":"Bearer also-secret"}'
  })
  const lines: Array<Record<string, unknown>> = []
  const reader = createInterface({ input: child.stdout! })
  const started = new Promise<Record<string, unknown>>(resolve => reader.on('line', line => {
    const entry = JSON.parse(line) as Record<string, unknown>
    lines.push(entry)
    if (entry.msg === 'agent started') resolve(entry)
  }))
  const entry = await started
  const config = lines.find(l => l.msg === 'effective configuration')?.config as Record<string, unknown>
  t.equal(config.nodeName, 'spot-node-1')
  t.equal(config.webhookUrl, '<redacted>')
  t.equal(config.webhookHeaders, '<redacted>')
  t.notMatch(JSON.stringify(lines), /very-secret-token|also-secret/)
  const probes = (entry.opsUrls as { probes: string }).probes
  t.equal((await fetch(`${probes}/healthz`)).status, 200)
  imds.postSpotInterruption()
  await kube.waitFor(() => (kube.get('Node', undefined, 'spot-node-1')?.spec?.taints ?? []).length > 0 || undefined, 5000, 'taint')
  child.kill('SIGTERM')
  const [code] = await once(child, 'exit')
  t.equal(code, 0)
  t.ok(lines.some(l => l.msg === 'agent stopped'))
})
