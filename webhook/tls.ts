/**
 * Serving certificate from `--cert-dir`, re-read when the directory changes.
 *
 * A Kubernetes Secret volume updates by writing a new timestamped directory and
 * atomically renaming the `..data` symlink, so watching the directory (not the
 * files) sees every rotation. A pair that does not parse, whose key does not
 * match the certificate (say, half-written by a non-atomic writer) or whose
 * certificate is expired or not valid yet is rejected and the previous one
 * keeps being served. A slow poll backs up the watch on
 * filesystems where change events are unreliable.
 */
import { EventEmitter } from 'node:events'
import { watch, type FSWatcher } from 'node:fs'
import { readFile, realpath } from 'node:fs/promises'
import { join } from 'node:path'
import { matchKeyPair } from '#common/key-pair.ts'
import type { Logger } from '#common/logger.ts'

/**
 * What the webhook offers in a TLS handshake: TLS 1.2 and 1.3 with forward
 * secrecy and AEAD ciphers only (the "intermediate" profile of Mozilla's
 * server-side TLS guidelines, without the DHE suites, which need DH
 * parameters). Every client the API server builds on Go's crypto/tls
 * speaks these.
 */
export const TLS_PROFILE = {
  minVersion: 'TLSv1.2',
  ciphers: [
    'TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256',
    'ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES128-GCM-SHA256',
    'ECDHE-ECDSA-AES256-GCM-SHA384', 'ECDHE-RSA-AES256-GCM-SHA384',
    'ECDHE-ECDSA-CHACHA20-POLY1305', 'ECDHE-RSA-CHACHA20-POLY1305'
  ].join(':')
} as const

/** A validated certificate and key, PEM. */
export interface ServingKeyPair {
  cert: string
  key: string
  /** SHA-256 fingerprint of the leaf certificate, for logs. */
  fingerprint256: string
  /** Validity window of the certificate. */
  notBefore: Date
  notAfter: Date
}

/**
 * Checks that `cert` and `key` are PEM, belong together and that the
 * certificate is valid at `now`; throws an Error saying which part is wrong.
 */
export function validateKeyPair (cert: string, key: string, now = Date.now()): ServingKeyPair {
  const x509 = matchKeyPair(cert, key).cert
  const notBefore = x509.validFromDate
  const notAfter = x509.validToDate
  if (now < notBefore.getTime()) throw new Error(`tls.crt is not valid yet: valid from ${notBefore.toISOString()}`)
  if (now > notAfter.getTime()) throw new Error(`tls.crt expired at ${notAfter.toISOString()}`)
  return { cert, key, fingerprint256: x509.fingerprint256, notBefore, notAfter }
}

/** Why the pair being served can no longer be, at `now`: undefined while it is valid. */
export function servingProblem (pair: ServingKeyPair | undefined, now = Date.now()): string | undefined {
  if (pair === undefined) return 'no valid tls.crt/tls.key loaded'
  if (now > pair.notAfter.getTime()) return `the serving certificate expired at ${pair.notAfter.toISOString()} and no valid replacement was found`
  return undefined
}

/** The PEM texts of `tls.crt` and `tls.key`, not yet validated. */
interface PemFiles { cert: string, key: string }

/**
 * Reads `tls.crt` and `tls.key` from `dir`. In a Secret volume both are read
 * from the version directory `..data` points at, so a rotation between the two
 * reads cannot mix an old certificate with a new key.
 */
async function readPemFiles (dir: string): Promise<PemFiles> {
  const version = await realpath(join(dir, '..data')).catch(() => dir)
  const [cert, key] = await Promise.all([readFile(join(version, 'tls.crt'), 'utf8'), readFile(join(version, 'tls.key'), 'utf8')])
  return { cert, key }
}

function sameFiles (a: PemFiles, b: PemFiles | undefined): boolean {
  return b !== undefined && a.cert === b.cert && a.key === b.key
}

/** Settings of a CertificateReloader. */
export interface ReloaderOptions {
  dir: string
  logger: Pick<Logger, 'info' | 'warn'>
  /** Quiet time after a change event before reading, so a burst of events gives one reload. */
  debounceMs?: number
  /** Fallback poll interval. */
  pollIntervalMs?: number
}

/** Events of a CertificateReloader: `load` for each new valid pair, `reject` for a pair that cannot be used; the same content is not reported twice in a row. */
export interface ReloaderEvents {
  load: [pair: ServingKeyPair]
  reject: [error: Error]
}

/** Watches a certificate directory and emits each new valid key pair. */
export class CertificateReloader extends EventEmitter<ReloaderEvents> {
  private readonly options: Required<ReloaderOptions>
  private watcher: FSWatcher | undefined
  private poll: NodeJS.Timeout | undefined
  private debounce: NodeJS.Timeout | undefined
  private reloading: Promise<void> = Promise.resolve()
  private stopped = false
  /** The files last refused, so a repeated change event does not refuse them again. */
  private lastRejected: PemFiles | undefined
  /** The pair being served, or undefined until one was loaded. */
  current: ServingKeyPair | undefined

  constructor (options: ReloaderOptions) {
    super()
    this.options = { debounceMs: 100, pollIntervalMs: 60_000, ...options }
  }

  /** Loads the current pair (if any; failure is logged and emitted, not thrown) and starts watching. Subscribe before calling. */
  async start (): Promise<void> {
    await this.reload()
    try {
      this.watcher = watch(this.options.dir, { persistent: false }, () => this.schedule())
      this.watcher.on('error', err => this.options.logger.warn({ err, dir: this.options.dir }, 'certificate directory watch failed; relying on polling'))
    } catch (err) {
      this.options.logger.warn({ err, dir: this.options.dir }, 'cannot watch certificate directory; relying on polling')
    }
    this.poll = setInterval(() => this.schedule(), this.options.pollIntervalMs)
    this.poll.unref()
  }

  /** Reads the directory again now; resolves when done. Reloads never overlap. */
  reload (): Promise<void> {
    this.reloading = this.reloading.then(() => this.load())
    return this.reloading
  }

  /** Stops watching and polling. */
  stop (): void {
    this.stopped = true
    this.watcher?.close()
    clearInterval(this.poll)
    clearTimeout(this.debounce)
  }

  private schedule (): void {
    if (this.stopped) return
    clearTimeout(this.debounce)
    this.debounce = setTimeout(() => { void this.reload() }, this.options.debounceMs)
    this.debounce.unref()
  }

  private async load (): Promise<void> {
    if (this.stopped) return
    const { dir, logger } = this.options
    let pair: ServingKeyPair
    let files: PemFiles | undefined
    try {
      files = await readPemFiles(dir)
      if (sameFiles(files, this.current) || sameFiles(files, this.lastRejected)) return
      pair = validateKeyPair(files.cert, files.key)
    } catch (err) {
      const error = err as Error
      this.lastRejected = files
      logger.warn({ dir, err: error.message }, this.current === undefined ? 'no usable certificate yet' : 'new certificate rejected; still serving the previous one')
      this.emit('reject', error)
      return
    }
    this.lastRejected = undefined
    const previous = this.current?.fingerprint256
    this.current = pair
    this.emit('load', pair)
    logger.info({ dir, fingerprint256: pair.fingerprint256, previous, notAfter: pair.notAfter.toISOString() }, previous === undefined ? 'certificate loaded' : 'certificate reloaded')
  }
}
