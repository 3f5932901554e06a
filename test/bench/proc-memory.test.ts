import t from 'tap'
import { readFileSync } from 'node:fs'
import { parseProcStatus } from './proc-memory.ts'

const STATUS = `Name:\tnode
State:\tS (sleeping)
VmPeak:\t 1234567 kB
VmHWM:\t   181612 kB
VmRSS:\t   156100 kB
RssAnon:\t   90000 kB
`

t.test('VmRSS and VmHWM are read in bytes from a status text, not confused with RssAnon or VmPeak', async t => {
  t.same(parseProcStatus(STATUS), { rssBytes: 156100 * 1024, peakBytes: 181612 * 1024 })
})

t.test('a status without the memory lines is refused with the missing field named', async t => {
  t.throws(() => parseProcStatus('Name:\tkthreadd\nState:\tS (sleeping)\nVmHWM:\t 10 kB\n'), /no VmRSS line/)
  t.throws(() => parseProcStatus('VmRSS:\t 10 kB\n'), /no VmHWM line/)
})

t.test('this process\'s own status (Linux) parses to a resident size no larger than its peak', async t => {
  const own = parseProcStatus(readFileSync('/proc/self/status', 'utf8'))
  t.ok(own.rssBytes > 0)
  t.ok(own.rssBytes <= own.peakBytes)
})
