import t from 'tap'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { once } from 'node:events'
import * as k8s from '@kubernetes/client-node'
import { runProgram, spawnProgram } from '../helpers/spawn.ts'

const MAIN = 'test/sim/k8s/main.ts'

t.test('npm run k8s-sim writes a kubeconfig, answers a client and exits 0 on SIGTERM', async t => {
  const dir = await mkdtemp(join(tmpdir(), 'k8s-sim-cli-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const kubeconfig = join(dir, 'kubeconfig')
  const child = spawnProgram(MAIN, ['--port', '0', '--kubeconfig-out', kubeconfig, '--nodes', 'spot:2,on-demand:1', '--log-level', 'warn'])
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  let stdout = ''
  const listening = new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (c: Buffer) => {
      stdout += c.toString()
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(stdout)
      if (m !== null) resolve(m[1]!)
    })
    child.on('exit', code => reject(new Error(`exited early with ${code}`)))
  })
  const url = await listening
  const kc = new k8s.KubeConfig()
  kc.loadFromFile(kubeconfig)
  t.equal(kc.getCurrentCluster()?.server, url)
  const nodes = await kc.makeApiClient(k8s.CoreV1Api).listNode({})
  t.same(nodes.items.map(n => n.metadata?.labels?.lifecycle), ['OnDemand', 'Ec2Spot', 'Ec2Spot'])
  t.ok(nodes.items.every(n => n.metadata?.labels?.['kubernetes.io/hostname'] === n.metadata?.name))
  child.kill('SIGTERM')
  const [code] = await once(child, 'exit')
  t.equal(code, 0)
})

t.test('--help lists every flag with its variable; a bad --nodes value exits 2 naming the flag', async t => {
  const help = await runProgram(MAIN, ['--help'])
  t.equal(help.code, 0)
  for (const flag of ['--port', '--kubeconfig-out', '--nodes', '--tls', '--kubelet-delay', '--ready-delay']) t.match(help.stdout, flag)
  t.match(help.stdout, 'env K8S_SIM_NODES, default spot:2,on-demand:1')
  const bad = await runProgram(MAIN, ['--nodes', 'reserved:3'])
  t.equal(bad.code, 2)
  t.match(bad.stderr, /--nodes \(K8S_SIM_NODES\)/)
})
