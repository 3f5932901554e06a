/** Listening errors as configuration errors: the address, the setting that chose it, and what went wrong in words. */
import { ConfigError } from './options.ts'

/** Where a server was to listen, and the flag and variable that chose the port. */
export interface ListenSetting {
  host: string
  port: number
  /** e.g. `--port (WEBHOOK_PORT)`. */
  setting: string
}

const REASONS: Record<string, string> = {
  EADDRINUSE: 'the port is in use by another program (on the host network, another agent or the AWS Node Termination Handler?)',
  EADDRNOTAVAIL: 'the address is not one of this host\'s',
  EACCES: 'not permitted (ports below 1024 need privileges)'
}

/** A ConfigError for a failed `listen`, naming the address and the setting. */
export function listenError (err: unknown, at: ListenSetting): ConfigError {
  const code = (err as NodeJS.ErrnoException).code
  const reason = (code !== undefined ? REASONS[code] : undefined) ?? (err as Error).message
  return new ConfigError(`cannot listen on ${at.host}:${at.port} (${at.setting}): ${reason}${code !== undefined ? ` (${code})` : ''}`, { cause: err })
}
