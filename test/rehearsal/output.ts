/**
 * The terminal side of the story: timeline lines as they happen and, while
 * the drain runs, a progress indicator: one line redrawn in place on a TTY,
 * plain lines when it changes otherwise. `--json` mode prints nothing here.
 */
import { formatEntry, formatProgress, type DrainProgress, type TimelineEntry } from './timeline.ts'

/** Where the story is told. */
export interface Narrator {
  /** Prints one timeline entry. */
  entry: (entry: TimelineEntry) => void
  /** Prints a heading line. */
  heading: (text: string) => void
  /** Makes later entries count from `at`, labelled `label`. */
  setOrigin: (at: number, label: string) => void
  /** Shows progress from `read` until `stopProgress`. */
  startProgress: (read: () => DrainProgress) => void
  stopProgress: () => void
}

/** What a narrator writes to. */
export interface NarratorTarget {
  write: (text: string) => void
  isTTY: boolean
}

/** A narrator that prints nothing (`--json`). */
export const SILENT_NARRATOR: Narrator = {
  entry: () => {},
  heading: () => {},
  setOrigin: () => {},
  startProgress: () => {},
  stopProgress: () => {}
}

/** How often the TTY progress line is redrawn. */
const REDRAW_MS = 100

/** A narrator writing to `target`, counting from `origin` at first. */
export function createNarrator (target: NarratorTarget, origin: number): Narrator {
  let base = origin
  let label = 'start '
  let read: (() => DrainProgress) | undefined
  let timer: NodeJS.Timeout | undefined
  let shown = ''
  const clear = (): void => {
    if (target.isTTY && shown !== '') target.write('\r\x1b[K')
  }
  const draw = (): void => {
    if (read === undefined) return
    const line = formatProgress(read())
    if (target.isTTY) {
      target.write(`\r\x1b[K${line}`)
      shown = line
    } else if (line.replace(/ {2}[\d.]+ s$/, '') !== shown.replace(/ {2}[\d.]+ s$/, '')) {
      target.write(`          progress  ${line}\n`)
      shown = line
    }
  }
  const print = (text: string): void => {
    clear()
    target.write(text)
    if (target.isTTY) { shown = ''; draw() }
  }
  return {
    entry: e => print(formatEntry(e, base, label) + '\n'),
    heading: text => print(`\n${text}\n`),
    setOrigin: (at, name) => { base = at; label = name },
    startProgress: r => {
      read = r
      draw()
      // Redrawn on a timer on a TTY (the clock moves); otherwise only changes are printed.
      timer = setInterval(draw, REDRAW_MS)
    },
    stopProgress: () => {
      if (timer !== undefined) clearInterval(timer)
      timer = undefined
      if (read !== undefined && !target.isTTY) draw()
      read = undefined
      clear()
      shown = ''
    }
  }
}
