import t from 'tap'
import { runProgram } from '../helpers/spawn.ts'

const MAIN = 'test/rehearsal/main.ts'

t.test('npm start -- --json prints one JSON object with the report and exits 0', async t => {
  const run = await runProgram(MAIN, ['--json', '--speed', '10'])
  t.equal(run.code, 0, run.stderr)
  const lines = run.stdout.trim().split('\n')
  t.equal(lines.length, 1, 'one line: the JSON object')
  const report = JSON.parse(lines[0]!)
  t.match(report, { ok: true, scenario: 'spot-itn', handlerPods: { spot: 2, onDemand: 0 }, deadlineMet: true })
  for (const key of ['detectionMs', 'cordonMs', 'drainedMs', 'podsMoved', 'pdbWaits']) t.type(report[key], 'number', key)
  t.equal(run.stderr, '', 'nothing on stderr')
})

t.test('without --json the terminal tells the story: timeline, plain progress lines, report', async t => {
  const run = await runProgram(MAIN, ['--speed', '10', '--scenario', 'asg'])
  t.equal(run.code, 0, run.stderr)
  const out = run.stdout
  t.match(out, /^Rehearsing asg on an embedded simulated cluster/)
  t.match(out, /start  \+ +\d+ ms {2}webhook {3}DaemonSet spot-rehearsal\/spot-interrupt-handler .* admitted with nodeSelector \{"lifecycle":"Ec2Spot"\}/)
  t.match(out, /notice \+ +0 ms {2}imds {6}Auto Scaling termination/)
  t.match(out, /notice \+ +\d+ ms {2}agent {5}\S+ cordoned: no new pods/)
  t.match(out, / {10}progress {2}\[#+\] 4\/4 pods off /, 'plain progress lines, the last one complete')
  t.notMatch(out, /\r|\x1b\[/, 'no terminal control characters when stdout is not a TTY')
  t.notMatch(out, /"level"/, 'no log lines from the programs')
  t.match(out, /Report: asg on \S+ \(embedded simulated cluster\)/)
  t.match(out, / {2}checks {14}9\/9 passed\n {2}wall time {11}[\d.]+ s\nRehearsal passed\.\n$/)
})

t.test('--help lists every flag with its variable, and a bad flag exits 2 naming it', async t => {
  const help = await runProgram(MAIN, ['--help'])
  t.equal(help.code, 0)
  for (const flag of ['scenario', 'json', 'speed', 'kubeconfig', 'log-file', 'timeout']) t.match(help.stdout, new RegExp(`--${flag} {2}\\(env REHEARSAL_`), flag)
  t.match(help.stdout, /spot-itn, rebalance, scheduled-reboot, asg/)
  const bad = await runProgram(MAIN, ['--scenario', 'meteor'])
  t.equal(bad.code, 2)
  t.match(bad.stderr, /spot-rehearsal: invalid value "meteor" for --scenario \(REHEARSAL_SCENARIO\): expected one of spot-itn, rebalance, scheduled-reboot, asg/)
})
