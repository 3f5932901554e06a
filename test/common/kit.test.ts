/**
 * The shared kit (`#common/*`, in webhook/common/) is a module of its own:
 * it imports nothing from the three programs, and its small helpers behave.
 */
import t from 'tap'
import { readdir, readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { isJsonObject } from '#common/json.ts'
import { matchKeyPair } from '#common/key-pair.ts'
import { isDnsLabel, isDnsSubdomain, isLabelValue, labelKeyProblem } from '#common/names.ts'
import { testCertificates } from '../helpers/certs.ts'

const KIT = fileURLToPath(new URL('../../webhook/common/', import.meta.url))

t.test('the kit imports only node built-ins, packages and its own files: nothing of the webhook, agent or certs', async t => {
  const files = (await readdir(KIT)).filter(f => f.endsWith('.ts'))
  t.ok(files.length >= 8, `${files.length} files`)
  for (const file of files) {
    const source = await readFile(KIT + file, 'utf8')
    const specifiers = [...source.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s+'([^']+)'|import\('([^']+)'\)/g)].map(m => m[1] ?? m[2]!)
    for (const s of specifiers) {
      const fine = s.startsWith('node:') || /^\.\/[a-z-]+\.ts$/.test(s) || /^#common\//.test(s) || /^(@[a-z0-9-]+\/)?[a-z0-9][a-z0-9.-]*(\/[a-z0-9./-]+)?$/.test(s)
      t.ok(fine, `${file} imports ${s}`)
    }
  }
  const packageJson = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { imports: Record<string, string> }
  t.same(packageJson.imports, { '#common/*': './webhook/common/*' })
})

t.test('a JSON object is an object that is neither null nor an array', async t => {
  t.same([{}, { a: 1 }, [], null, 'x', 1, undefined].map(isJsonObject), [true, true, false, false, false, false, false])
})

t.test('Kubernetes names: label values and keys, DNS labels and subdomains', async t => {
  t.same(['', 'a', 'Ec2Spot', 'a.b_c-d', 'x'.repeat(63), 'x'.repeat(64), '-a', 'a-', 'a b', 'ä'].map(isLabelValue), [true, true, true, true, true, false, false, false, false, false])
  t.same(['a', 'spot-agent', 'x'.repeat(63), 'x'.repeat(64), 'A', '-a', 'a.b', ''].map(isDnsLabel), [true, true, true, false, false, false, false, false])
  t.same(['a.b', 'spot-handler.io', 'a', `${'x'.repeat(64)}.io`, 'A.b', 'a..b', '', `${'a.'.repeat(126)}ab`].map(isDnsSubdomain), [true, true, true, false, false, false, false, false])
  t.same(['lifecycle', 'spot-handler.io/inject', 'kubernetes.io/os', 'Bad_Prefix/x', 'a/', '/x', 'a/b/c', 'x'.repeat(64)].map(labelKeyProblem), [
    undefined, undefined, undefined,
    'label key "Bad_Prefix/x" has an invalid prefix', 'label key "a/" has an invalid name', 'label key "/x" has an invalid prefix',
    'label key "a/b/c" has an invalid prefix', `label key "${'x'.repeat(64)}" has an invalid name`
  ])
})

t.test('a key pair matches, or the error says which part is wrong', async t => {
  const a = await testCertificates()
  t.equal(matchKeyPair(a.serving.cert, a.serving.key).cert.checkPrivateKey(matchKeyPair(a.serving.cert, a.serving.key).key), true)
  t.throws(() => matchKeyPair('garbage', a.serving.key), /^tls\.crt is not a valid PEM certificate: /)
  t.throws(() => matchKeyPair(a.serving.cert, 'garbage'), /^tls\.key is not a valid PEM private key: /)
  t.throws(() => matchKeyPair(a.serving.cert, a.ca.key), /^tls\.key does not belong to the certificate in tls\.crt$/)
})
