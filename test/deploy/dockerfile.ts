/**
 * A small Dockerfile reader for the image test: stages (FROM ... AS name), each
 * with its instructions, and the global ARG defaults. Handles comments and
 * backslash line continuations; enough for deploy/Dockerfile, not a full parser.
 */

/** One instruction, e.g. `{ op: 'RUN', args: 'npm ci --omit=dev' }`. */
export interface Instruction {
  op: string
  args: string
}

/** One build stage. */
export interface Stage {
  name: string
  /** Base image with global ARG defaults substituted. */
  from: string
  instructions: Instruction[]
}

/** The parsed Dockerfile. */
export interface Dockerfile {
  args: Record<string, string>
  stages: Stage[]
}

/** Parses Dockerfile text into its global ARGs and stages. */
export function parseDockerfile (text: string): Dockerfile {
  const logical = text.replace(/\\\r?\n/g, ' ').split(/\r?\n/).map(l => l.trim()).filter(l => l !== '' && !l.startsWith('#'))
  const args: Record<string, string> = {}
  const stages: Stage[] = []
  for (const line of logical) {
    const space = line.search(/\s/)
    const op = (space === -1 ? line : line.slice(0, space)).toUpperCase()
    const rest = space === -1 ? '' : line.slice(space + 1).trim()
    if (op === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest)
      if (m === null) throw new Error(`cannot read FROM ${rest}`)
      const from = m[1]!.replace(/\$\{?(\w+)\}?/g, (_, name: string) => args[name] ?? '')
      stages.push({ name: m[2] ?? String(stages.length), from, instructions: [] })
    } else if (stages.length === 0) {
      if (op !== 'ARG') throw new Error(`only ARG may come before the first FROM, found ${op}`)
      const [name, value = ''] = rest.split('=', 2)
      args[name!] = value
    } else {
      stages.at(-1)!.instructions.push({ op, args: rest })
    }
  }
  return { args, stages }
}

/** The stage called `name`; throws when there is none. */
export function stage (dockerfile: Dockerfile, name: string): Stage {
  const found = dockerfile.stages.find(s => s.name === name)
  if (found === undefined) throw new Error(`the Dockerfile has no stage ${name}`)
  return found
}

/** Arguments of every `op` instruction of a stage. */
export function argsOf (s: Stage, op: string): string[] {
  return s.instructions.filter(i => i.op === op).map(i => i.args)
}
