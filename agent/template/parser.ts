/**
 * The parser of Go `text/template` (pure): tokens into a tree of text,
 * actions, `if`/`else if`/`else`, `range` (with `$i, $v :=`, `else`,
 * `break`, `continue`), `with`/`else with`, variables and pipelines, checked
 * as Go checks them when it parses: an unknown function, an undefined
 * variable or a stray `end` is an error with its line and column.
 * `define`, `template` and `block` are refused: one template per message.
 */
import { lex, TemplateError, type Position, type Token } from './lexer.ts'

/** An operand of a command. */
export type Operand = Position & (
  | { type: 'dot' }
  | { type: 'nil' }
  | { type: 'bool', value: boolean }
  | { type: 'number', value: number }
  | { type: 'string', value: string }
  /** `.A.B` on dot. */
  | { type: 'field', names: string[] }
  /** `$x.A.B` (`$` is the data the template runs on). */
  | { type: 'variable', name: string, names: string[] }
  /** A function name. */
  | { type: 'function', name: string }
  /** `(pipeline).A.B`. */
  | { type: 'chain', pipeline: Pipeline, names: string[] }
)

/** One command of a pipeline: an operand, or a function or method with its arguments. */
export interface Command extends Position {
  args: Operand[]
}

/** `$a, $b := cmd | cmd`, or without declaration. */
export interface Pipeline extends Position {
  /** Variables declared (`:=`) or assigned (`=`). */
  variables: string[]
  assign: boolean
  commands: Command[]
}

/** A node of the template tree. */
export type TemplateNode = Position & (
  | { type: 'text', text: string }
  | { type: 'action', pipeline: Pipeline }
  | { type: 'if' | 'with', pipeline: Pipeline, list: TemplateNode[], elseList?: TemplateNode[] }
  | { type: 'range', pipeline: Pipeline, list: TemplateNode[], elseList?: TemplateNode[] }
  | { type: 'break' | 'continue' }
)

/** Names of the functions a template may call (their arity is checked when it runs). */
export type FunctionNames = ReadonlySet<string>

const KEYWORDS = new Set(['if', 'else', 'end', 'range', 'with', 'break', 'continue', 'define', 'template', 'block', 'nil', 'true', 'false'])

class Parser {
  private i = 0
  /** Variables in scope, innermost last; each control structure opens a scope. */
  private readonly scopes: string[][] = [['$']]
  private rangeDepth = 0
  private readonly tokens: Token[]
  private readonly functions: FunctionNames
  constructor (tokens: Token[], functions: FunctionNames) {
    this.tokens = tokens
    this.functions = functions
  }

  private peek (offset = 0): Token {
    return this.tokens[Math.min(this.i + offset, this.tokens.length - 1)]!
  }

  private next (): Token {
    const t = this.peek()
    this.i++
    return t
  }

  private expect (type: Token['type'], context: string): Token {
    const t = this.next()
    if (t.type !== type) throw new TemplateError(t, `unexpected ${describe(t)} in ${context}`)
    return t
  }

  /** The whole template. */
  parseTemplate (): TemplateNode[] {
    const { list, end } = this.parseList()
    if (end !== undefined) throw new TemplateError(end, `unexpected {{${end.word}}}`)
    return list
  }

  /** Nodes up to `{{end}}`, `{{else ...}}` or the end of input (then `end` is undefined). */
  private parseList (): { list: TemplateNode[], end?: Position & { word: 'end' | 'else' } } {
    const list: TemplateNode[] = []
    for (;;) {
      const t = this.next()
      if (t.type === 'eof') return { list }
      if (t.type === 'text') { list.push({ type: 'text', text: t.value, line: t.line, column: t.column }); continue }
      if (t.type !== 'open') throw new TemplateError(t, `unexpected ${describe(t)}`)
      const word = this.peek()
      if (word.type === 'identifier' && (word.value === 'end' || word.value === 'else')) {
        this.next()
        return { list, end: { word: word.value, line: word.line, column: word.column } }
      }
      list.push(this.parseAction(t))
    }
  }

  private parseAction (open: Token): TemplateNode {
    const word = this.peek()
    if (word.type === 'identifier') {
      switch (word.value) {
        case 'if': case 'with': case 'range':
          this.next()
          return this.parseControl(word.value, word)
        case 'break': case 'continue':
          this.next()
          if (this.rangeDepth === 0) throw new TemplateError(word, `{{${word.value}}} outside {{range}}`)
          this.expect('close', word.value)
          return { type: word.value, line: word.line, column: word.column }
        case 'define': case 'template': case 'block':
          throw new TemplateError(word, `{{${word.value}}} is not supported in notification templates`)
      }
    }
    const pipeline = this.parsePipeline('command')
    return { type: 'action', pipeline, line: open.line, column: open.column }
  }

  /** `if`, `with` or `range` after its keyword, through its `{{end}}`. */
  private parseControl (kind: 'if' | 'with' | 'range', at: Position): TemplateNode {
    this.scopes.push([])
    const pipeline = this.parsePipeline(kind)
    if (kind === 'range') this.rangeDepth++
    const body = this.parseList()
    if (kind === 'range') this.rangeDepth--
    let elseList: TemplateNode[] | undefined
    let end = body.end
    if (end === undefined) throw new TemplateError(at, `unexpected EOF: {{${kind}}} has no {{end}}`)
    if (end.word === 'else') {
      const chained = this.peek()
      if (chained.type === 'identifier' && (chained.value === 'if' || chained.value === 'with') && kind !== 'range') {
        // `{{else if x}}` is `{{else}}{{if x}}...{{end}}` sharing this {{end}}.
        if (chained.value !== kind && !(kind === 'if' && chained.value === 'if')) throw new TemplateError(chained, `{{else ${chained.value}}} inside {{${kind}}}`)
        this.next()
        elseList = [this.parseControl(chained.value, chained)]
        this.scopes.pop()
        return { type: kind, pipeline, list: body.list, elseList, line: at.line, column: at.column }
      }
      this.expect('close', 'else')
      const rest = this.parseList()
      elseList = rest.list
      end = rest.end
      if (end === undefined) throw new TemplateError(at, `unexpected EOF: {{${kind}}} has no {{end}}`)
      if (end.word === 'else') throw new TemplateError(end, `{{else}} after {{else}} in {{${kind}}}`)
    }
    this.expect('close', 'end')
    this.scopes.pop()
    return { type: kind, pipeline, list: body.list, ...(elseList === undefined ? {} : { elseList }), line: at.line, column: at.column }
  }

  /** A pipeline up to `}}` (consumed), with an optional declaration (`$x :=`, `$x =`, in a range `$i, $v :=`). */
  private parsePipeline (context: string): Pipeline {
    const start = this.peek()
    const second = this.peek(1)
    let variables: string[] = []
    let assign = false
    if (start.type === 'variable' && (second.type === 'declare' || second.type === 'assign')) {
      variables = [start.value]
      assign = second.type === 'assign'
      this.i += 2
    } else if (start.type === 'variable' && second.type === 'comma') {
      const other = this.peek(2)
      const op = this.peek(3)
      if (other.type === 'variable' && (op.type === 'declare' || op.type === 'assign')) {
        if (context !== 'range') throw new TemplateError(start, `too many declarations in ${context}`)
        variables = [start.value, other.value]
        assign = op.type === 'assign'
        this.i += 4
      }
    }
    const commands: Command[] = []
    for (;;) {
      commands.push(this.parseCommand(context))
      const t = this.next()
      if (t.type === 'close') break
      if (t.type !== 'pipe') throw new TemplateError(t, `unexpected ${describe(t)} in ${context}`)
    }
    // Declared after the pipeline is parsed: `$x := $x` reads the outer $x.
    for (const name of variables) {
      if (assign) this.lookup(name, start)
      else this.scopes[this.scopes.length - 1]!.push(name)
    }
    return { variables, assign, commands, line: start.line, column: start.column }
  }

  /** A command inside a pipeline, up to `|`, `)` or `}}` (not consumed). */
  private parseCommand (context: string): Command {
    const start = this.peek()
    const args: Operand[] = []
    for (;;) {
      const t = this.peek()
      if (t.type === 'close' || t.type === 'pipe' || t.type === 'rparen') break
      args.push(this.parseOperand(context))
    }
    if (args.length === 0) throw new TemplateError(start, `missing value for ${context}`)
    return { args, line: start.line, column: start.column }
  }

  private parseOperand (context: string): Operand {
    const t = this.next()
    const pos = { line: t.line, column: t.column }
    switch (t.type) {
      case 'dot': return { type: 'dot', ...pos }
      case 'string': return { type: 'string', value: t.value, ...pos }
      case 'number': return { type: 'number', value: t.value, ...pos }
      case 'field': return { type: 'field', names: [t.value, ...this.fieldChain()], ...pos }
      case 'variable':
        this.lookup(t.value, t)
        return { type: 'variable', name: t.value, names: this.fieldChain(), ...pos }
      case 'lparen': {
        const commands: Command[] = []
        for (;;) {
          commands.push(this.parseCommand('parenthesized pipeline'))
          const n = this.next()
          if (n.type === 'rparen') break
          if (n.type !== 'pipe') throw new TemplateError(n, `unexpected ${describe(n)} in parenthesized pipeline`)
        }
        return { type: 'chain', pipeline: { variables: [], assign: false, commands, ...pos }, names: this.fieldChain(), ...pos }
      }
      case 'identifier':
        if (t.value === 'true' || t.value === 'false') return { type: 'bool', value: t.value === 'true', ...pos }
        if (t.value === 'nil') return { type: 'nil', ...pos }
        if (KEYWORDS.has(t.value)) throw new TemplateError(t, `unexpected {{${t.value}}} in ${context}`)
        if (!this.functions.has(t.value)) throw new TemplateError(t, `function "${t.value}" not defined`)
        return { type: 'function', name: t.value, ...pos }
      default:
        throw new TemplateError(t, `unexpected ${describe(t)} in ${context}`)
    }
  }

  /** `.B.C` right after an operand. */
  private fieldChain (): string[] {
    const names: string[] = []
    for (let t = this.peek(); t.type === 'field' && this.tokens[this.i - 1] !== undefined && adjacent(this.tokens[this.i - 1]!, t); t = this.peek()) {
      names.push((this.next() as { value: string }).value)
    }
    return names
  }

  private lookup (name: string, at: Position): void {
    if (!this.scopes.some(scope => scope.includes(name))) throw new TemplateError(at, `undefined variable "${name}"`)
  }
}

/** Whether `b` follows `a` with no space (so `$x.A` chains, `$x .A` is two arguments). */
function adjacent (a: Token, b: Token): boolean {
  const length = a.type === 'variable' || a.type === 'field' ? a.value.length + (a.type === 'field' ? 1 : 0) : a.type === 'rparen' ? 1 : -1
  return length >= 0 && a.line === b.line && a.column + length === b.column
}

function describe (t: Token): string {
  switch (t.type) {
    case 'eof': return 'end of template'
    case 'close': return '"}}"'
    case 'open': return '"{{"'
    case 'text': return 'text'
    case 'identifier': case 'variable': return `"${t.value}"`
    case 'field': return `".${t.value}"`
    case 'string': return `string ${JSON.stringify(t.value)}`
    case 'number': return `number ${t.text}`
    default: return `"${({ pipe: '|', lparen: '(', rparen: ')', comma: ',', declare: ':=', assign: '=', dot: '.' } as Record<string, string>)[t.type]}"`
  }
}

/** Parses a Go text/template that may call `functions`; throws a TemplateError naming line and column. */
export function parseTemplate (text: string, functions: FunctionNames): TemplateNode[] {
  return new Parser(lex(text), functions).parseTemplate()
}
