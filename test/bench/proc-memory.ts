/** Resident memory of a process from the text of Linux's /proc/<pid>/status (pure). */

/** Resident memory of a process as /proc/<pid>/status reports it. */
export interface ProcessMemory {
  /** VmRSS: resident now. */
  rssBytes: number
  /** VmHWM: the highest resident size so far. */
  peakBytes: number
}

/** Reads VmRSS and VmHWM (reported in kB, i.e. KiB) from the text of /proc/<pid>/status. */
export function parseProcStatus (status: string): ProcessMemory {
  const bytes = (field: string): number => {
    const match = new RegExp(`^${field}:\\s*(\\d+)\\s*kB$`, 'm').exec(status)
    if (match === null) throw new Error(`/proc/<pid>/status has no ${field} line (a kernel thread, or not Linux?)`)
    return Number(match[1]) * 1024
  }
  return { rssBytes: bytes('VmRSS'), peakBytes: bytes('VmHWM') }
}
