/** `npm start` (webhook/demo.ts) runs the webhook end to end and exits 0. */
import t from 'tap'
import { runProgram } from '../helpers/spawn.ts'

t.test('the demo sends the workshop example over verified TLS, prints the injected nodeSelector and exits 0', async t => {
  const { code, stdout, stderr } = await runProgram('webhook/demo.ts', [])
  t.equal(code, 0, stderr)
  t.match(stdout, 'CREATE DaemonSet default/spot-interrupt-handler (workshop-example-v1)')
  t.match(stdout, 'nodeSelector: (none) -> {"lifecycle":"Ec2Spot"}')
  t.match(stdout, 'nodeSelector: {"kubernetes.io/os":"linux"} -> {"kubernetes.io/os":"linux","lifecycle":"Ec2Spot"}')
  t.match(stdout, /All answers as expected\.\n$/)
})
