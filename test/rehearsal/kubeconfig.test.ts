import t, { type Test } from 'tap'
import { once } from 'node:events'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { taintKey } from '../../agent/node-state.ts'
import { createLogger } from '#common/logger.ts'
import { runProgram, spawnProgram } from '../helpers/spawn.ts'
import { startKubeSim, type KubeSim } from '../sim/k8s/sim.ts'
import { registerWebhook, startLocalWebhook } from './embedded.ts'
import { LABELLED_NAMESPACE, loadWebhookConfiguration, PLAIN_NAMESPACE } from './manifests.ts'
import { StoryRecorder, assertStory } from './recorder.ts'
import { SPOT_NOTICE_MS } from './scenarios.ts'
import { parseOptions } from '#common/options.ts'
import { REHEARSAL_OPTIONS } from './options.ts'
import { SILENT_NARRATOR } from './output.ts'
import { formatReport } from './report.ts'
import { runRehearsal } from './rehearsal.ts'

const MAIN = 'test/rehearsal/main.ts'

/**
 * What a user's kind cluster looks like after `kubectl apply -k deploy/`: a separately
 * started simulator with two Spot nodes, one On-Demand node and the webhook registered
 * and reachable; its kubeconfig written to a temporary folder.
 */
async function startUserCluster (t: Test): Promise<{ sim: KubeSim, dir: string }> {
  const config = await loadWebhookConfiguration()
  const local = await startLocalWebhook(config, createLogger('spot-webhook', 'silent'))
  t.teardown(() => local.stop())
  const sim = await startKubeSim({
    nodes: [{ lifecycle: 'spot' }, { lifecycle: 'spot' }, { lifecycle: 'on-demand' }],
    readyDelayMs: 100,
    kubeletDelayMs: 100,
    webhookServiceUrl: svc => `${local.url}${svc.path ?? '/'}`
  })
  t.teardown(() => sim.close())
  await registerWebhook(sim.kubeConfig, config, local.caPem)
  const dir = await mkdtemp(join(tmpdir(), 'spot-rehearsal-test-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await sim.writeKubeconfig(join(dir, 'kubeconfig'))
  return { sim, dir }
}

t.test('--kubeconfig runs steps 3 to 5 on a separately started cluster with the webhook installed, and puts it back', async t => {
  const { sim, dir } = await startUserCluster(t)
  const recorder = new StoryRecorder(sim)
  t.teardown(recorder.unsubscribe)

  const run = await runProgram(MAIN, ['--kubeconfig', join(dir, 'kubeconfig'), '--json', '--speed', '10', '--log-file', join(dir, 'rehearsal.log')])
  t.equal(run.code, 0, run.stderr)
  const report = JSON.parse(run.stdout)
  t.equal(report.mode, 'kubeconfig')
  assertStory(t, recorder, sim, report, taintKey('spot-itn'), PLAIN_NAMESPACE, SPOT_NOTICE_MS)

  const node = sim.get('Node', undefined, report.node)!
  t.notOk(node.spec?.unschedulable, 'the node is uncordoned again')
  t.same((node.spec?.taints ?? []).filter((x: { key: string }) => x.key.startsWith('spot-handler.io/')), [], 'our taint is gone')
  t.notOk(sim.get('Namespace', undefined, LABELLED_NAMESPACE), 'the labelled namespace was deleted')
  t.notOk(sim.get('Namespace', undefined, PLAIN_NAMESPACE), 'the plain namespace was deleted')
  const log = (await readFile(join(dir, 'rehearsal.log'), 'utf8')).trim().split('\n').map(l => JSON.parse(l))
  t.ok(log.some(l => l.program === 'spot-agent' && l.msg === 'acting on notice'), 'the agent logged to the log file, not the terminal')
})

t.test('Ctrl-C in the middle of a --kubeconfig run still puts the cluster back', async t => {
  const { sim, dir } = await startUserCluster(t)

  // Speed 1: the drain takes seconds, so the interruption lands in the middle of it.
  const child = spawnProgram(MAIN, ['--kubeconfig', join(dir, 'kubeconfig')])
  let stdout = ''
  child.stdout!.on('data', (c: Buffer) => { stdout += c.toString() })
  const exited = once(child, 'close')
  const cordoned = await sim.waitFor(() => sim.list('Node').find(n => n.spec?.unschedulable === true), 30_000, 'a node cordoned by the agent')
  child.kill('SIGINT')
  const [code] = await exited
  t.equal(code, 1, 'an interrupted rehearsal exits 1')
  t.match(stdout, /Rehearsal FAILED:\n {2}- interrupted by SIGINT/)
  t.match(stdout, `restored ${cordoned.metadata.name}`)
  const node = sim.get('Node', undefined, cordoned.metadata.name)!
  t.notOk(node.spec?.unschedulable, 'the node is uncordoned again')
  t.same((node.spec?.taints ?? []).filter((x: { key: string }) => x.key.startsWith('spot-handler.io/')), [], 'our taint is gone')
  t.notOk(sim.get('Namespace', undefined, LABELLED_NAMESPACE), 'the labelled namespace was deleted')
  t.notOk(sim.get('Namespace', undefined, PLAIN_NAMESPACE), 'the plain namespace was deleted')
})

t.test('--kubeconfig on a cluster without Spot nodes fails with a message saying how to label them', async t => {
  const sim = await startKubeSim({ nodes: [{ lifecycle: 'on-demand' }] })
  t.teardown(() => sim.close())
  const dir = await mkdtemp(join(tmpdir(), 'spot-rehearsal-test-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await sim.writeKubeconfig(join(dir, 'kubeconfig'))
  const parsed = parseOptions(REHEARSAL_OPTIONS, ['--kubeconfig', join(dir, 'kubeconfig')], {})
  if (parsed.help) throw new Error('unexpected --help')
  const report = await runRehearsal(parsed.values, SILENT_NARRATOR)
  t.equal(report.ok, false)
  t.match(formatReport(report), /Rehearsal FAILED:\n {2}- no node is labelled lifecycle=Ec2Spot; label your Spot nodes \(kubectl label node NAME lifecycle=Ec2Spot\)/)
  t.same(sim.list('Namespace').map(n => n.metadata.name).filter(n => n.startsWith('spot-rehearsal')), [], 'nothing was created')
})

t.test('--kubeconfig naming an unreachable cluster fails with the connection error', async t => {
  const sim = await startKubeSim()
  const dir = await mkdtemp(join(tmpdir(), 'spot-rehearsal-test-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await sim.writeKubeconfig(join(dir, 'kubeconfig'))
  await sim.close()
  const parsed = parseOptions(REHEARSAL_OPTIONS, ['--kubeconfig', join(dir, 'kubeconfig')], {})
  if (parsed.help) throw new Error('unexpected --help')
  const report = await runRehearsal(parsed.values, SILENT_NARRATOR)
  t.equal(report.ok, false)
  t.match(report.failures.join('\n'), /ECONNREFUSED|fetch failed|connect/)
})
