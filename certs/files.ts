/**
 * Writes certificates to a directory in the layout a Kubernetes TLS Secret
 * volume has (`ca.crt`, `tls.crt`, `tls.key`). Each file is written to a
 * temporary name and renamed, so a reader never sees a half-written file.
 */
import { mkdir, open, rename, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import type { CertificateSet } from './generate.ts'

/** File names inside the output directory. */
export const CERT_FILES = { ca: 'ca.crt', cert: 'tls.crt', key: 'tls.key' } as const

/** Writes `content` to `path` atomically (temp file in the same directory, fsync, rename) with the given mode. */
export async function writeFileAtomic (path: string, content: string, mode: number): Promise<void> {
  const temp = `${path}.${randomBytes(6).toString('hex')}.tmp`
  try {
    const handle = await open(temp, 'wx', mode)
    try {
      await handle.writeFile(content)
      await handle.chmod(mode) // open()'s mode is filtered by the umask; set it exactly
      await handle.sync()
    } finally {
      await handle.close()
    }
    await rename(temp, path)
  } catch (err) {
    await rm(temp, { force: true })
    throw new Error(`cannot write ${path}: ${(err as Error).message}`, { cause: err })
  }
}

/** Writes ca.crt and tls.crt (mode 0644) and tls.key (mode 0600) into `dir`, creating it if needed. Returns the paths. */
export async function writeCertificateFiles (dir: string, set: CertificateSet): Promise<{ ca: string, cert: string, key: string }> {
  await mkdir(dir, { recursive: true })
  const paths = { ca: join(dir, CERT_FILES.ca), cert: join(dir, CERT_FILES.cert), key: join(dir, CERT_FILES.key) }
  // Key first, certificate after: a watcher reloading on the certificate's change then finds a matching key.
  await writeFileAtomic(paths.key, set.serving.key, 0o600)
  await writeFileAtomic(paths.cert, set.serving.cert, 0o644)
  await writeFileAtomic(paths.ca, set.ca.cert, 0o644)
  return paths
}
