/**
 * The lexer of Go `text/template` (pure): text outside actions, and inside
 * `{{ }}` the tokens of pipelines. Trim markers (`{{- ` and ` -}}`) remove the
 * white space next to them, comments (`{{/* ... *\/}}`) vanish. Every token
 * carries its line and column for error messages.
 */

/** Where a token starts (both 1-based). */
export interface Position {
  line: number
  column: number
}

/** A lexical token. */
export type Token = Position & (
  | { type: 'text', value: string }
  | { type: 'open' | 'close' | 'pipe' | 'lparen' | 'rparen' | 'comma' | 'declare' | 'assign' | 'dot' | 'eof' }
  | { type: 'field', value: string }
  | { type: 'variable', value: string }
  | { type: 'identifier', value: string }
  | { type: 'string', value: string }
  | { type: 'number', value: number, text: string }
)

/** A template that does not lex or parse, or fails to run; the message starts with the position. */
export class TemplateError extends Error {
  override name = 'TemplateError'
  readonly line: number
  readonly column: number
  constructor (at: Position, message: string) {
    super(`line ${at.line}, column ${at.column}: ${message}`)
    this.line = at.line
    this.column = at.column
  }
}

const OPEN = '{{'
const CLOSE = '}}'
const SPACE = /[ \t\r\n]/

/** The position of `offset` in `text`. */
function positionAt (text: string, offset: number): Position {
  let line = 1
  let lineStart = 0
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) {
    line++
    lineStart = i + 1
  }
  return { line, column: offset - lineStart + 1 }
}

const ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', '"': '"', "'": "'", a: '\x07', b: '\b', f: '\f', v: '\v', '0': '\0' }

/** Splits `text` into tokens; throws a TemplateError at the first one that is not Go template syntax. */
export function lex (text: string): Token[] {
  const tokens: Token[] = []
  const at = (offset: number): Position => positionAt(text, offset)
  let i = 0
  let trimNext = false
  for (;;) {
    const found = text.indexOf(OPEN, i)
    const open = found === -1 ? text.length : found
    // "{{- " trims the white space before it; a dash without a space after it is a negative number.
    const trimBefore = found !== -1 && text[open + 2] === '-' && SPACE.test(text[open + 3] ?? '')
    let chunk = text.slice(i, open)
    if (trimNext) chunk = chunk.replace(/^[ \t\r\n]+/, '')
    if (trimBefore) chunk = chunk.replace(/[ \t\r\n]+$/, '')
    if (chunk !== '') tokens.push({ type: 'text', value: chunk, ...at(i) })
    if (found === -1) break
    i = open + OPEN.length + (trimBefore ? 2 : 0)
    if (text.startsWith('/*', i)) {
      // A comment fills the whole action.
      const end = text.indexOf('*/', i + 2)
      if (end === -1) throw new TemplateError(at(i), 'unclosed comment')
      i = end + 2
      trimNext = SPACE.test(text[i] ?? '') && text.startsWith('-' + CLOSE, i + 1)
      if (!trimNext && !text.startsWith(CLOSE, i)) throw new TemplateError(at(i), 'comment ends before closing delimiter')
      i += trimNext ? 2 + CLOSE.length : CLOSE.length
      continue
    }
    tokens.push({ type: 'open', ...at(open) })
    const end = lexAction(text, i, tokens, at)
    i = end.offset
    trimNext = end.trim
  }
  tokens.push({ type: 'eof', ...at(text.length) })
  return tokens
}

/** Lexes the inside of one action starting at `start`: its offset after the `}}`, and whether it was ` -}}`. */
function lexAction (text: string, start: number, tokens: Token[], at: (offset: number) => Position): { offset: number, trim: boolean } {
  let i = start
  for (;;) {
    if (i >= text.length) throw new TemplateError(at(start), 'unclosed action')
    const c = text[i]!
    if (SPACE.test(c)) {
      if (text.startsWith('-' + CLOSE, i + 1)) {
        tokens.push({ type: 'close', ...at(i + 1) })
        return { offset: i + 1 + 1 + CLOSE.length, trim: true }
      }
      i++
      continue
    }
    if (text.startsWith(CLOSE, i)) {
      tokens.push({ type: 'close', ...at(i) })
      return { offset: i + CLOSE.length, trim: false }
    }
    const pos = at(i)
    if (c === '|') { tokens.push({ type: 'pipe', ...pos }); i++; continue }
    if (c === '(') { tokens.push({ type: 'lparen', ...pos }); i++; continue }
    if (c === ')') { tokens.push({ type: 'rparen', ...pos }); i++; continue }
    if (c === ',') { tokens.push({ type: 'comma', ...pos }); i++; continue }
    if (text.startsWith(':=', i)) { tokens.push({ type: 'declare', ...pos }); i += 2; continue }
    if (c === '=') { tokens.push({ type: 'assign', ...pos }); i++; continue }
    if (c === '"') { i = lexQuoted(text, i, tokens, at); continue }
    if (c === '`') {
      const end = text.indexOf('`', i + 1)
      if (end === -1) throw new TemplateError(pos, 'unterminated raw quoted string')
      tokens.push({ type: 'string', value: text.slice(i + 1, end), ...pos })
      i = end + 1
      continue
    }
    if (c === '.') {
      const m = /^\.[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i))
      if (m !== null) { tokens.push({ type: 'field', value: m[0].slice(1), ...pos }); i += m[0].length; continue }
      if (/[0-9]/.test(text[i + 1] ?? '')) { i = lexNumber(text, i, tokens, at); continue }
      tokens.push({ type: 'dot', ...pos })
      i++
      continue
    }
    if (c === '$') {
      const m = /^\$[A-Za-z0-9_]*/.exec(text.slice(i))!
      tokens.push({ type: 'variable', value: m[0], ...pos })
      i += m[0].length
      continue
    }
    if (/[0-9+-]/.test(c)) { i = lexNumber(text, i, tokens, at); continue }
    const word = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i))
    if (word !== null) {
      tokens.push({ type: 'identifier', value: word[0], ...pos })
      i += word[0].length
      continue
    }
    throw new TemplateError(pos, `unexpected ${JSON.stringify(c)} in action`)
  }
}

function lexQuoted (text: string, start: number, tokens: Token[], at: (offset: number) => Position): number {
  let value = ''
  for (let i = start + 1; i < text.length; i++) {
    const c = text[i]!
    if (c === '"') {
      tokens.push({ type: 'string', value, ...at(start) })
      return i + 1
    }
    if (c === '\n') break
    if (c !== '\\') { value += c; continue }
    const next = text[++i] ?? ''
    if (next in ESCAPES) { value += ESCAPES[next]; continue }
    const hex = next === 'x' ? /^[0-9a-fA-F]{2}/.exec(text.slice(i + 1)) : next === 'u' ? /^[0-9a-fA-F]{4}/.exec(text.slice(i + 1)) : next === 'U' ? /^[0-9a-fA-F]{8}/.exec(text.slice(i + 1)) : null
    if (hex === null) throw new TemplateError(at(i - 1), `unknown escape sequence \\${next}`)
    value += String.fromCodePoint(parseInt(hex[0], 16))
    i += hex[0].length
  }
  throw new TemplateError(at(start), 'unterminated quoted string')
}

function lexNumber (text: string, start: number, tokens: Token[], at: (offset: number) => Position): number {
  const m = /^[+-]?(0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|(\d[\d_]*)?\.?\d[\d_]*([eE][+-]?\d+)?)/.exec(text.slice(start))
  // As Go's lexer: a number runs on through letters and digits, so `0x` or `12ab` is one bad number.
  const run = /^[+-]?[0-9A-Za-z_.]*/.exec(text.slice(start))![0]
  if (m === null || m[0] === '' || m[0] === '+' || m[0] === '-' || m[0].length !== run.length) throw new TemplateError(at(start), `bad number syntax: ${JSON.stringify(run)}`)
  const raw = m[0].replaceAll('_', '')
  const sign = raw.startsWith('-') ? -1 : 1
  const unsigned = raw.replace(/^[+-]/, '')
  const value = /^0[xXoObB]/.test(unsigned) ? sign * Number(unsigned.toLowerCase()) : Number(raw)
  if (!Number.isFinite(value)) throw new TemplateError(at(start), `bad number syntax: ${JSON.stringify(m[0])}`)
  tokens.push({ type: 'number', value, text: m[0], ...at(start) })
  return start + m[0].length
}
