/**
 * Runs a parsed Go template on data (pure): text as it is, each action's
 * value printed as Go's fmt prints it, `if`/`with`/`range` on Go's truth,
 * variables scoped to their control structure, `and`/`or` evaluated lazily
 * as in Go 1.18 and later, and the few time.Time methods templates call
 * (`.StartTime.Format`, `.Unix`, `.UTC`). An error names the line and column
 * of the command that failed.
 */
import { TemplateError, type Position } from './lexer.ts'
import { TEMPLATE_FUNCTIONS } from './functions.ts'
import type { Command, Operand, Pipeline, TemplateNode } from './parser.ts'
import { formatTime, formatValue, sortedKeys, truth, typeName } from './values.ts'

/** `{{break}}` and `{{continue}}` leave the list being walked. */
class LoopControl {
  readonly kind: 'break' | 'continue'
  constructor (kind: 'break' | 'continue') {
    this.kind = kind
  }
}

/** A value not yet given: distinguishes "no final argument" from an argument that has no value. */
const NONE = Symbol('none')

interface Variable {
  name: string
  value: unknown
}

/** The time.Time methods templates may call, with their argument count. */
const TIME_METHODS: Record<string, { args: number, call: (t: Date, ...args: unknown[]) => unknown }> = {
  Format: { args: 1, call: (t, layout) => { if (typeof layout !== 'string') throw new Error(`wrong type for value in Format; expected string; got ${typeName(layout)}`); return formatTime(t, layout) } },
  Unix: { args: 0, call: t => Math.floor(t.getTime() / 1000) },
  UTC: { args: 0, call: t => t },
  String: { args: 0, call: t => formatValue(t) }
}

class Evaluator {
  private out = ''
  private readonly vars: Variable[]
  constructor (root: unknown) {
    this.vars = [{ name: '$', value: root }]
  }

  run (nodes: readonly TemplateNode[], dot: unknown): string {
    this.walk(nodes, dot)
    return this.out
  }

  private walk (nodes: readonly TemplateNode[], dot: unknown): void {
    for (const node of nodes) {
      switch (node.type) {
        case 'text': this.out += node.text; break
        case 'action': {
          const value = this.pipeline(node.pipeline, dot)
          if (node.pipeline.variables.length === 0) this.out += formatValue(value)
          break
        }
        case 'if': case 'with': this.ifOrWith(node, dot); break
        case 'range': this.range(node, dot); break
        case 'break': case 'continue': throw new LoopControl(node.type)
      }
    }
  }

  private ifOrWith (node: Extract<TemplateNode, { type: 'if' | 'with' }>, dot: unknown): void {
    const mark = this.vars.length
    const value = this.pipeline(node.pipeline, dot)
    if (truth(value)) this.walk(node.list, node.type === 'with' ? value : dot)
    else if (node.elseList !== undefined) this.walk(node.elseList, dot)
    this.vars.length = mark
  }

  private range (node: Extract<TemplateNode, { type: 'range' }>, dot: unknown): void {
    const mark = this.vars.length
    const { variables } = node.pipeline
    const value = this.pipeline({ ...node.pipeline, variables: [] }, dot)
    const entries: Array<[unknown, unknown]> =
      Array.isArray(value) ? value.map((v, i) => [i, v])
        : value instanceof Map ? sortedKeys(value).map(k => [k, value.get(k)])
          : typeof value === 'number' && Number.isInteger(value) ? Array.from({ length: Math.max(0, value) }, (_v, i) => [i, i])
            : value === null || value === undefined ? []
              : this.fail(node, `range can't iterate over ${formatValue(value)}`)
    for (const [key, element] of entries) {
      const inner = this.vars.length
      if (variables.length === 1) this.setVariable(variables[0]!, element, node.pipeline.assign)
      if (variables.length === 2) {
        this.setVariable(variables[0]!, key, node.pipeline.assign)
        this.setVariable(variables[1]!, element, node.pipeline.assign)
      }
      try {
        this.walk(node.list, element)
      } catch (err) {
        if (!(err instanceof LoopControl)) throw err
        if (err.kind === 'break') break
      } finally {
        this.vars.length = inner
      }
    }
    if (entries.length === 0 && node.elseList !== undefined) this.walk(node.elseList, dot)
    this.vars.length = mark
  }

  private setVariable (name: string, value: unknown, assign: boolean): void {
    if (!assign) {
      this.vars.push({ name, value })
      return
    }
    for (let i = this.vars.length - 1; i >= 0; i--) {
      if (this.vars[i]!.name === name) {
        this.vars[i]!.value = value
        return
      }
    }
  }

  private variable (name: string, at: Position): unknown {
    for (let i = this.vars.length - 1; i >= 0; i--) if (this.vars[i]!.name === name) return this.vars[i]!.value
    return this.fail(at, `undefined variable: ${name}`)
  }

  private pipeline (pipeline: Pipeline, dot: unknown): unknown {
    let value: unknown = NONE
    for (const command of pipeline.commands) value = this.command(command, dot, value)
    for (const name of pipeline.variables) this.setVariable(name, value, pipeline.assign)
    return value
  }

  private command (command: Command, dot: unknown, final: unknown): unknown {
    const [first, ...rest] = command.args as [Operand, ...Operand[]]
    const piped = final === NONE ? [] : [final]
    if (first.type === 'function') return this.call(first, rest, piped, dot)
    const hasArgs = rest.length > 0 || piped.length > 0
    if (hasArgs && (first.type === 'field' || first.type === 'variable' || first.type === 'chain') && first.names.length > 0) {
      // `.StartTime.Format "2006-01-02"`: a method with arguments.
      const receiver = this.resolve(this.base(first, dot), first.names.slice(0, -1), first)
      return this.method(receiver, first.names[first.names.length - 1]!, [...rest.map(a => this.operand(a, dot)), ...piped], first)
    }
    if (hasArgs) return this.fail(first, `can't give argument to non-function ${describeOperand(first)}`)
    return this.operand(first, dot)
  }

  private call (fn: Extract<Operand, { type: 'function' }>, argNodes: Operand[], piped: unknown[], dot: unknown): unknown {
    const spec = TEMPLATE_FUNCTIONS.get(fn.name)!
    const count = argNodes.length + piped.length
    if (count < spec.min || count > spec.max) {
      return this.fail(fn, `wrong number of args for ${fn.name}: want ${spec.min === spec.max ? spec.min : `${spec.min}${spec.max === Infinity ? ' or more' : ` to ${spec.max}`}`} got ${count}`)
    }
    if (fn.name === 'and' || fn.name === 'or') {
      // Lazy, as Go evaluates them: stop at the first argument that decides.
      const all = [...argNodes.map(a => () => this.operand(a, dot)), ...piped.map(v => () => v)]
      let last: unknown
      for (const next of all) {
        last = next()
        if (truth(last) === (fn.name === 'or')) return last
      }
      return last
    }
    const args = [...argNodes.map(a => this.operand(a, dot)), ...piped]
    try {
      return spec.call(...args)
    } catch (err) {
      return this.fail(fn, `error calling ${fn.name}: ${(err as Error).message}`)
    }
  }

  private method (receiver: unknown, name: string, args: unknown[], at: Position): unknown {
    const method = receiver instanceof Date ? TIME_METHODS[name] : undefined
    if (method === undefined) return this.fail(at, receiver instanceof Date ? `can't evaluate field ${name} in type time.Time` : `${name} is not a method but has arguments`)
    if (args.length !== method.args) return this.fail(at, `wrong number of args for ${name}: want ${method.args} got ${args.length}`)
    try {
      return method.call(receiver as Date, ...args)
    } catch (err) {
      return this.fail(at, `error calling ${name}: ${(err as Error).message}`)
    }
  }

  private base (operand: Extract<Operand, { type: 'field' | 'variable' | 'chain' }>, dot: unknown): unknown {
    if (operand.type === 'field') return dot
    if (operand.type === 'variable') return this.variable(operand.name, operand)
    return this.pipeline(operand.pipeline, dot)
  }

  private operand (operand: Operand, dot: unknown): unknown {
    switch (operand.type) {
      case 'dot': return dot
      case 'nil': return null
      case 'bool': case 'number': case 'string': return operand.value
      case 'function': return this.call(operand, [], [], dot)
      default: return this.resolve(this.base(operand, dot), operand.names, operand)
    }
  }

  /** `value.A.B`: struct fields (unknown ones are errors), map keys (missing ones have no value), time methods without arguments. */
  private resolve (value: unknown, names: readonly string[], at: Position): unknown {
    let current = value
    for (const name of names) {
      if (current instanceof Map) current = current.has(name) ? current.get(name) : undefined
      else if (current instanceof Date) current = this.method(current, name, [], at)
      else if (current === undefined) return undefined
      else if (current === null) return this.fail(at, `nil pointer evaluating interface {}.${name}`)
      else if (typeof current === 'object' && !Array.isArray(current) && Object.hasOwn(current, name)) current = (current as Record<string, unknown>)[name]
      else return this.fail(at, `can't evaluate field ${name} in type ${typeName(current)}`)
    }
    return current
  }

  private fail (at: Position, message: string): never {
    throw new TemplateError(at, message)
  }
}

function describeOperand (operand: Operand): string {
  switch (operand.type) {
    case 'string': return JSON.stringify(operand.value)
    case 'number': case 'bool': return String(operand.value)
    case 'dot': return '.'
    default: return operand.type
  }
}

/** Runs `nodes` on `data`; throws a TemplateError naming the line and column of what failed. */
export function executeTemplate (nodes: readonly TemplateNode[], data: unknown): string {
  return new Evaluator(data).run(nodes, data)
}
