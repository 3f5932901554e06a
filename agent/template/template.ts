/**
 * Go text/template for notifications: `compileTemplate(text)` lexes and parses
 * once (lexer.ts, parser.ts) and returns a function that runs the tree on
 * data (evaluate.ts) with the builtins and Sprig functions of functions.ts.
 */
import { executeTemplate } from './evaluate.ts'
import { TEMPLATE_FUNCTION_NAMES } from './functions.ts'
import { TemplateError } from './lexer.ts'
import { parseTemplate } from './parser.ts'

export { TemplateError }

/** Parses `text` (throws a TemplateError naming line and column); the result renders it on data, throwing a TemplateError when that fails. */
export function compileTemplate (text: string): (data: unknown) => string {
  const tree = parseTemplate(text, TEMPLATE_FUNCTION_NAMES)
  return data => executeTemplate(tree, data)
}
