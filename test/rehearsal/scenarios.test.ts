import t from 'tap'
import { runRehearsal } from './rehearsal.ts'
import { REHEARSAL_OPTIONS } from './options.ts'
import { parseOptions } from '#common/options.ts'
import { SILENT_NARRATOR } from './output.ts'
import { PLAIN_NAMESPACE } from './manifests.ts'
import { SCENARIOS, SCENARIO_NAMES } from './scenarios.ts'
import { taintKey } from '../../agent/node-state.ts'
import { StoryRecorder, assertStory } from './recorder.ts'
import type { KubeSim } from '../sim/k8s/sim.ts'

for (const name of SCENARIO_NAMES) {
  t.test(`the ${name} rehearsal on the embedded cluster tells a story the simulator confirms`, async t => {
    const parsed = parseOptions(REHEARSAL_OPTIONS, ['--scenario', name, '--speed', '10'], {})
    if (parsed.help) throw new Error('unexpected --help')
    let sim: KubeSim | undefined
    let recorder: StoryRecorder | undefined
    const report = await runRehearsal(parsed.values, SILENT_NARRATOR, {
      onEmbedded: cluster => { sim = cluster.sim; recorder = new StoryRecorder(cluster.sim) }
    })
    recorder!.unsubscribe()
    t.same(report.failures, [], 'no failed check')
    t.equal(report.scenario, name)
    t.equal(report.mode, 'embedded')
    assertStory(t, recorder!, sim!, report, taintKey(SCENARIOS[name].kind), PLAIN_NAMESPACE, SCENARIOS[name].deadlineMs)
    t.ok(report.detectionMs !== null && report.cordonMs !== null && report.drainedMs !== null && report.detectionMs <= report.cordonMs! && report.cordonMs! <= report.drainedMs!, 'detection, cordon and drained come in that order')
    t.equal(report.podsMoved, 4, 'two web pods, the batch worker and the cache moved')
    t.ok(report.moves.every(m => m.to !== report.node), 'every replacement runs on another node')
    t.comment(`${name}: detection ${report.detectionMs} ms, cordon ${report.cordonMs} ms, drained ${report.drainedMs} ms, wall ${report.wallMs} ms`)
  })
}
