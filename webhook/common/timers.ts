/**
 * Delays setTimeout can honour. A delay above 2^31 - 1 ms (about 24.8 days),
 * Infinity included, makes Node fire the timer after 1 ms instead, so a "wait
 * until never" would spin; callers clamp with timerDelay and look again when
 * the timer fires.
 */

/** The longest delay setTimeout honours. */
export const MAX_TIMER_MS = 2 ** 31 - 1

/** `ms` clamped to what setTimeout honours: from 0 to MAX_TIMER_MS. */
export function timerDelay (ms: number): number {
  return Math.min(Math.max(0, ms), MAX_TIMER_MS)
}
