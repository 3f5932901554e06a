/**
 * Test helper: a directory laid out like a Kubernetes Secret volume
 * (`tls.crt -> ..data/tls.crt`, `..data -> ..<timestamp>/`), rotated the way
 * the kubelet does it: new timestamped directory, `..data_tmp` symlink, atomic
 * rename over `..data`, old directory removed.
 */
import { mkdir, mkdtemp, readlink, rename, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

let generation = 0

/** Creates an empty Secret-volume-like directory (removed on teardown). */
export async function makeSecretVolume (t: { teardown: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'spot-webhook-secret-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

/** Publishes `files` (name to content) into the volume with the kubelet's atomic symlink swap. */
export async function publishSecret (dir: string, files: Record<string, string>): Promise<void> {
  const version = `..2026_11_21_00_00_00.${process.pid}_${++generation}`
  await mkdir(join(dir, version))
  for (const [name, content] of Object.entries(files)) await writeFile(join(dir, version, name), content, { mode: 0o600 })
  let previous: string | undefined
  try { previous = await readlink(join(dir, '..data')) } catch { previous = undefined }
  await symlink(version, join(dir, '..data_tmp'))
  await rename(join(dir, '..data_tmp'), join(dir, '..data'))
  for (const name of Object.keys(files)) {
    await symlink(join('..data', name), join(dir, name)).catch((err: NodeJS.ErrnoException) => { if (err.code !== 'EEXIST') throw err })
  }
  if (previous !== undefined) await rm(join(dir, previous), { recursive: true, force: true })
}
