/**
 * The list-watch: its reconnect delay (exponential, capped, with jitter), and
 * where RBAC allows the list but not the watch (the Node Termination
 * Handler's ClusterRole), listing at an interval instead, said once.
 */
import t from 'tap'
import { CoreV1Api, type V1Node } from '@kubernetes/client-node'
import { reconnectDelayMs, startListWatch } from '../../agent/watch.ts'
import { startKubeSim } from '../sim/k8s/sim.ts'
import { captureLogger, eventually } from './helpers.ts'

t.test('reconnect delays double from the base, stop at the cap, and jitter between half and all of the step', async t => {
  t.same([1, 2, 3, 4, 10].map(n => reconnectDelayMs(n, 500, 30_000, () => 1)), [500, 1000, 2000, 4000, 30_000])
  t.same([1, 2, 3].map(n => reconnectDelayMs(n, 500, 30_000, () => 0)), [250, 500, 1000])
  t.equal(reconnectDelayMs(0, 500, 30_000, () => 1), 500, 'no failure yet counts as the first')
})

t.test('a watch answered 403 is not retried: the collection is listed at an interval instead, and that is said once', async t => {
  const sim = await startKubeSim()
  t.teardown(() => sim.close())
  const node = await sim.addNode({ name: 'n1' })
  const refused = sim.injectFault({ verb: 'watch', path: '/api/v1/nodes', status: 403 })
  const core = sim.kubeConfig.makeApiClient(CoreV1Api)
  const logs = captureLogger()
  const seen: V1Node[] = []
  const watch = startListWatch<V1Node>({
    kubeConfig: sim.kubeConfig,
    path: '/api/v1/nodes',
    fieldSelector: 'metadata.name=n1',
    list: async () => {
      const l = await core.listNode({ fieldSelector: 'metadata.name=n1' })
      return { items: l.items, resourceVersion: l.metadata?.resourceVersion ?? '' }
    },
    onSync: items => { seen.push(...items) },
    onChange: () => { throw new Error('no watch event expected') },
    logger: logs.logger,
    pollWhenForbiddenMs: 100
  })
  t.teardown(() => watch.stop())
  await eventually(() => refused.hits === 1 || undefined, 5000, 'the refused watch')
  await sim.update({ ...node, metadata: { ...node.metadata, labels: { ...node.metadata.labels, changed: 'yes' } } })
  await eventually(() => seen.some(n => n.metadata?.labels?.changed === 'yes') || undefined, 2000, 'the change seen by listing')
  await new Promise(resolve => setTimeout(resolve, 500))
  t.equal(refused.hits, 1, 'the watch was asked for once')
  const lists = sim.requests.filter(r => r.verb === 'list' && r.resource === 'nodes').length
  t.ok(lists >= 5 && lists <= 12, `listed about every 100 ms instead (${lists} lists)`)
  t.equal(watch.downSince(), undefined, 'a successful list counts as up, for readiness')
  t.equal(logs.lines().filter(l => /not allowed to watch \(403\)/.test(String(l.msg))).length, 1, 'said once')
})
