import t from 'tap'
import {
  ConfigError, boolean, decimal, duration, formatHelp, integer, keyValues, list, loggable, nonEmpty,
  oneOf, option, optional, parseOptions, port, text
} from '#common/options.ts'

const specs = {
  port: option({ flag: 'port', env: 'PORT', default: 8443, help: 'HTTPS port.', parse: port }),
  dryRun: option({ flag: 'dry-run', env: 'DRY_RUN', default: false, help: 'Change nothing.', parse: boolean }),
  selector: option({ flag: 'node-selector', env: 'NODE_SELECTOR', default: { lifecycle: 'Ec2Spot' }, help: 'Injected selector.', parse: keyValues }),
  url: option({ flag: 'webhook-url', env: 'WEBHOOK_URL', default: '', help: 'Where to post.', parse: text, secret: true }),
  level: option({ flag: 'log-level', env: 'LOG_LEVEL', default: 'info' as const, help: 'Log level.', parse: oneOf(['debug', 'info'] as const) })
}

function values (argv: string[], env: Record<string, string> = {}) {
  const r = parseOptions(specs, argv, env)
  if (r.help) throw new Error('unexpected help')
  return r.values
}

t.test('defaults apply when neither flag nor variable is set', async t => {
  t.same(values([]), { port: 8443, dryRun: false, selector: { lifecycle: 'Ec2Spot' }, url: '', level: 'info' })
})

t.test('a flag wins over its variable, which wins over the default', async t => {
  t.equal(values([], { PORT: '9000' }).port, 9000)
  t.equal(values(['--port', '9443'], { PORT: '9000' }).port, 9443)
  t.equal(values(['--port=9444']).port, 9444)
})

t.test('a bare boolean flag means true, also before another flag', async t => {
  t.equal(values(['--dry-run']).dryRun, true)
  t.same(values(['--dry-run', '--port', '1']), { ...values([]), dryRun: true, port: 1 })
  t.equal(values(['--dry-run', 'false']).dryRun, false)
})

t.test('help is requested with --help or -h', async t => {
  t.same(parseOptions(specs, ['--port', '1', '--help'], {}), { help: true })
  t.same(parseOptions(specs, ['-h'], {}), { help: true })
})

t.test('bad input is a ConfigError naming flag and variable', async t => {
  t.throws(() => values(['--port', 'http']), new ConfigError('invalid value "http" for --port (PORT): expected an integer from 0 to 65535'))
  t.throws(() => values([], { DRY_RUN: 'maybe' }), { name: 'ConfigError', message: /--dry-run \(DRY_RUN\): expected true or false/ })
  t.throws(() => values(['--nope']), { message: 'unknown flag --nope (see --help)' })
  t.throws(() => values(['stray']), { message: 'unexpected argument "stray" (see --help)' })
  t.throws(() => values(['--port']), { message: 'flag --port needs a value' })
  t.throws(() => values(['--log-level', 'loud']), { message: /expected one of debug, info/ })
})

t.test('secret values never appear in errors or logs', async t => {
  const secretSpecs = { url: option({ flag: 'u', env: 'U', default: '', help: 'x', parse: nonEmpty, secret: true }) }
  t.throws(() => parseOptions(secretSpecs, [], { U: ' ' }), { message: 'invalid value <redacted> for --u (U): expected a non-empty value' })
  t.same(loggable(specs, { ...values([]), url: 'https://hooks.example/T0KEN' }).url, '<redacted>')
  t.same(loggable(specs, values([])).url, '')
})

t.test('parsers accept what they document and reject the rest', async t => {
  t.equal(integer(1, 3)('3'), 3)
  t.throws(() => integer(1, 3)('4'))
  t.throws(() => integer(1, 3)('2.5'))
  t.throws(() => integer(1, 3)(' '))
  t.equal(decimal(0, 1)('0.25'), 0.25)
  t.throws(() => decimal(0, 1)('NaN'))
  t.equal(duration()('90'), 90_000)
  t.equal(duration('ms')('250'), 250)
  t.equal(duration()('1m30s'), 90_000)
  t.equal(duration()('250ms'), 250)
  t.equal(duration()('1.5h'), 5_400_000)
  t.throws(() => duration()('2 days'), { message: /expected a duration/ })
  t.throws(() => duration()(''))
  t.same(list(' a, b,,c '), ['a', 'b', 'c'])
  t.same(keyValues('a=1, b/c=x=y'), { a: '1', 'b/c': 'x=y' })
  t.throws(() => keyValues('lifecycle=Ec2Spot,lifecycle=OnDemand'), { message: 'key "lifecycle" is given twice' })
  t.same(keyValues('constructor=x'), { constructor: 'x' })
  t.throws(() => keyValues('a=1,b'), { message: /got "b"/ })
  t.throws(() => keyValues('=1'))
  t.equal(optional(port)(''), undefined)
  t.equal(optional(port)('80'), 80)
  for (const v of ['TRUE', 'yes', '1', 'on']) t.equal(boolean(v), true, v)
  for (const v of ['false', 'No', '0', 'off']) t.equal(boolean(v), false, v)
})

t.test('help lists every flag with its variable and default', async t => {
  const help = formatHelp('spot-webhook', 'Admission webhook.', specs)
  t.match(help, /^Usage: spot-webhook \[flags\]/)
  t.match(help, '--port  (env PORT, default 8443)')
  t.match(help, '--node-selector  (env NODE_SELECTOR, default lifecycle=Ec2Spot)')
  t.match(help, '--webhook-url  (env WEBHOOK_URL, default "")')
  t.match(help, '--help, -h')
  for (const spec of Object.values(specs)) t.match(help, spec.help)
})

t.test('an empty secret default is shown as empty, a set one is redacted', async t => {
  const s = {
    headers: option({ flag: 'headers', env: 'HEADERS', default: {} as Record<string, string>, help: 'h', parse: keyValues, secret: true }),
    token: option({ flag: 'token', env: 'TOKEN', default: 'abc', help: 't', parse: text, secret: true })
  }
  const help = formatHelp('p', 's', s)
  t.match(help, '--headers  (env HEADERS, default "")')
  t.match(help, '--token  (env TOKEN, default <redacted>)')
  t.notMatch(help, 'abc')
})
