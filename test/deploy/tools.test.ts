import t from 'tap'
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ensureTool, layerPackage, readZipEntry, runOk } from './tools.ts'

t.test('two extractions at once leave one complete executable and no temporary files', async t => {
  const root = await mkdtemp(join(tmpdir(), 'spot-tools-'))
  t.teardown(() => rm(root, { recursive: true, force: true }))
  const [a, b] = await Promise.all([ensureTool('kubectl', root), ensureTool('kubectl', root)])
  t.equal(a, b)
  t.ok(((await stat(a)).mode & 0o111) !== 0, 'executable')
  t.same(await readdir(join(a, '..')), ['kubectl'], 'no temporary files left')
  t.match(await runOk(a, ['version', '--client']), /Client Version: v1\.32\./)
  t.equal(await ensureTool('kubectl', root), a, 'a second call reuses the cached binary')
})

t.test('the zip reader refuses files that are not zips and names missing entries', async t => {
  const dir = await mkdtemp(join(tmpdir(), 'spot-zip-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await writeFile(join(dir, 'not.zip'), 'plain text, long enough to hold an end record if it were one')
  await t.rejects(readZipEntry(join(dir, 'not.zip'), 'helm/helm'), /not a zip file/)
  await t.rejects(readZipEntry(layerPackage().zip, 'helm/missing'), /has no entry helm\/missing/)
})
