/**
 * The Go text/template interpreter, as a comparison table: each template and
 * data, and what Go's text/template (with Sprig, as the Node Termination
 * Handler runs it) prints for them. Where the expected text comes from:
 * - "NTH": the Node Termination Handler's own default template and test
 *   template (pkg/config/config.go, pkg/webhook/webhook_test.go) with that
 *   test's event;
 * - "spec": reasoned from the text/template package documentation (actions,
 *   pipelines, variables, functions) and fmt's %v rules for the values;
 * - "sprig": from the Sprig function documentation.
 * Errors are compared by their message; positions are line and column.
 */
import t from 'tap'
import { compileTemplate, TemplateError } from '../../agent/template/template.ts'
import { formatTime, formatValue } from '../../agent/template/values.ts'
import { sprintf } from '../../agent/template/functions.ts'

/** The event of NTH's webhook_test.go TestPostSuccess, as NTH's combined data (InterruptionEvent and NodeMetadata). */
function nthEvent (extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    EventID: 'instance-event-0d59937288b749b32',
    Kind: 'SCHEDULED_EVENT',
    Monitor: 'SCHEDULED_EVENT_MONITOR',
    Description: 'Scheduled event will occur',
    State: 'active',
    AutoScalingGroupName: '',
    NodeName: 'e2e-test-abcd',
    NodeLabels: new Map([['topology.kubernetes.io/zone', 'eu-west-1a'], ['lifecycle', 'Ec2Spot'], ['app', 'web']]),
    Pods: ['web-1', 'web-2', 'db-0'],
    InstanceID: '',
    ProviderID: '',
    InstanceType: '',
    IsManaged: false,
    StartTime: new Date(Date.UTC(2019, 0, 21, 9, 0, 43)),
    EndTime: new Date(Date.UTC(2019, 0, 21, 9, 17, 23)),
    NodeProcessed: false,
    InProgress: false,
    ...extra
  }
}

const NTH_DEFAULT = '{"text":"[NTH][Instance Interruption] EventID: {{ .EventID }} - Kind: {{ .Kind }} - Instance: {{ .InstanceID }} - Node: {{ .NodeName }} - Description: {{ .Description }} - Start Time: {{ .StartTime }}"}'
const NTH_TEST = '{"text":"[NTH][Instance Interruption] EventID: {{ .EventID | trimPrefix "event" }} - Kind: {{ .Kind | lower }} - Node: {{ .NodeName }} - Description: {{ .Description }} - Start Time: {{ .StartTime }}"}'

const render = (template: string, data: unknown = nthEvent()): string => compileTemplate(template)(data)

const CASES: Array<{ source: string, name: string, template: string, data?: unknown, want: string }> = [
  { source: 'NTH', name: 'NTH\'s default template', template: NTH_DEFAULT, want: '{"text":"[NTH][Instance Interruption] EventID: instance-event-0d59937288b749b32 - Kind: SCHEDULED_EVENT - Instance:  - Node: e2e-test-abcd - Description: Scheduled event will occur - Start Time: 2019-01-21 09:00:43 +0000 UTC"}' },
  { source: 'NTH', name: 'NTH\'s test template (trimPrefix, lower)', template: NTH_TEST, want: '{"text":"[NTH][Instance Interruption] EventID: instance-event-0d59937288b749b32 - Kind: scheduled_event - Node: e2e-test-abcd - Description: Scheduled event will occur - Start Time: 2019-01-21 09:00:43 +0000 UTC"}' },
  { source: 'spec', name: 'if / else if / else on eq', template: '{{ if eq .Kind "SPOT_ITN" }}spot{{ else if eq .Kind "SCHEDULED_EVENT" "ASG_LIFECYCLE" }}planned{{ else }}other{{ end }}', want: 'planned' },
  { source: 'spec', name: 'if on a list: an empty one is false', template: '{{ if .Pods }}{{ len .Pods }} pods{{ end }}|{{ if .Empty }}x{{ else }}none{{ end }}', data: nthEvent({ Empty: [] }), want: '3 pods|none' },
  { source: 'spec', name: 'range with index and value', template: '{{ range $i, $p := .Pods }}{{ if $i }}, {{ end }}{{ $i }}:{{ $p }}{{ end }}', want: '0:web-1, 1:web-2, 2:db-0' },
  { source: 'spec', name: 'range sets dot; range else on an empty list', template: '{{ range .Pods }}<{{ . }}>{{ end }}{{ range .Empty }}x{{ else }} (none){{ end }}', data: nthEvent({ Empty: [] }), want: '<web-1><web-2><db-0> (none)' },
  { source: 'spec', name: 'range over a map visits keys in sorted order', template: '{{ range $key, $value := .NodeLabels }}{{ $key }}={{ $value }};{{ end }}', want: 'app=web;lifecycle=Ec2Spot;topology.kubernetes.io/zone=eu-west-1a;' },
  { source: 'spec', name: 'break and continue', template: '{{ range .Pods }}{{ if eq . "web-2" }}{{ continue }}{{ end }}{{ if eq . "db-0" }}{{ break }}{{ end }}{{ . }}{{ end }}', want: 'web-1' },
  { source: 'spec', name: 'range over an integer (Go 1.22)', template: '{{ range 3 }}{{ . }}{{ end }}', want: '012' },
  { source: 'spec', name: 'with, else with, else', template: '{{ with .Missing }}a{{ else with .NodeName }}b={{ . }}{{ else }}c{{ end }}', data: nthEvent({ Missing: '' }), want: 'b=e2e-test-abcd' },
  { source: 'spec', name: 'variables: declared, reassigned, scoped to their block', template: '{{ $n := len .Pods }}{{ if gt $n 2 }}{{ $n = 99 }}{{ end }}{{ $n }} {{ with .NodeName }}{{ $inner := . }}{{ $inner }}{{ end }} {{ $.Kind }}', want: '99 e2e-test-abcd SCHEDULED_EVENT' },
  { source: 'spec', name: 'a slice and a map print as fmt %v does', template: '{{ .Pods }} {{ .NodeLabels }}', want: '[web-1 web-2 db-0] map[app:web lifecycle:Ec2Spot topology.kubernetes.io/zone:eu-west-1a]' },
  { source: 'spec', name: 'a missing map key has no value; index gives the zero value', template: '{{ .NodeLabels.nope }}|{{ index .NodeLabels "nope" }}|{{ index .NodeLabels "app" }}|{{ index .Pods 1 }}', want: '<no value>||web|web-2' },
  { source: 'spec', name: 'trim markers remove the white space beside them', template: 'a  \n {{- "b" -}} \n  c {{- /* a comment */ -}} d{{/* gone */}}', want: 'abcd' },
  { source: 'spec', name: 'and / or return the deciding operand, lazily', template: '{{ and .Empty (index .Empty 0) }}|{{ or .Missing "fallback" }}|{{ and 1 "yes" }}|{{ not .Pods }}', data: nthEvent({ Empty: [], Missing: '' }), want: '[]|fallback|yes|false' },
  { source: 'spec', name: 'comparisons', template: '{{ lt 1 2 }} {{ le 2 2 }} {{ gt "b" "a" }} {{ ge 1 3 }} {{ ne .Kind "X" }} {{ eq .IsManaged false }}', want: 'true true true false true true' },
  { source: 'spec', name: 'pipes pass the value as the last argument; parentheses group', template: '{{ .NodeName | printf "%s!" }} {{ (index .Pods 2) | upper }} {{ printf "%s has %d pods" .NodeName (len .Pods) }}', want: 'e2e-test-abcd! DB-0 e2e-test-abcd has 3 pods' },
  { source: 'spec', name: 'print puts spaces only between two operands that are not strings', template: '{{ print 1 2 "a" 3 "b" }}|{{ println "x" 1 }}', want: '1 2a3b|x 1\n' },
  { source: 'spec', name: 'printf verbs, widths and precision', template: '{{ printf "%q|%5d|%-5s|%.2f|%v|%t|%x|%05d|%%" "a\\"b" 42 "ab" 3.14159 .Pods true 255 -42 }}', want: '"a\\"b"|   42|ab   |3.14|[web-1 web-2 db-0]|true|ff|-0042|%' },
  { source: 'spec', name: 'len counts bytes of a string', template: '{{ len "héllo" }} {{ len .NodeLabels }}', want: '6 3' },
  { source: 'spec', name: 'string escapes and raw strings', template: '{{ "tab\\there\\u00e9" }}|{{ `raw\\n` }}', want: 'tab\there\u00e9|raw\\n' },
  { source: 'spec', name: 'time.Time methods: Format, Unix', template: '{{ .StartTime.Format "2006-01-02T15:04:05Z07:00" }} {{ .StartTime.Unix }} {{ .EndTime.Format "Mon Jan _2 3:04PM" }}', want: '2019-01-21T09:00:43Z 1548061243 Mon Jan 21 9:17AM' },
  { source: 'sprig', name: 'join, default, quote, replace, contains, hasPrefix, trimSuffix, title', template: '{{ join ", " .Pods }}|{{ .Missing | default "n/a" }}|{{ quote .NodeName }}|{{ replace "-" "_" .NodeName }}|{{ contains "test" .NodeName }}|{{ hasPrefix "e2e" .NodeName }}|{{ trimSuffix "-abcd" .NodeName }}|{{ title "spot interruption" }}', data: nthEvent({ Missing: '' }), want: 'web-1, web-2, db-0|n/a|"e2e-test-abcd"|e2e_test_abcd|true|true|e2e-test|Spot Interruption' },
  { source: 'sprig', name: 'date in a Go layout, toJson of a list and a map (keys sorted, as encoding/json does)', template: '{{ date "Jan 2, 2006 at 3:04pm (MST)" .StartTime }}|{{ toJson .Pods }}|{{ toJson .NodeLabels }}', want: 'Jan 21, 2019 at 9:00am (UTC)|["web-1","web-2","db-0"]|{"app":"web","lifecycle":"Ec2Spot","topology.kubernetes.io/zone":"eu-west-1a"}' },
  { source: 'sprig', name: 'keys | sortAlpha, first, last, trunc, repeat, ternary', template: '{{ keys .NodeLabels | sortAlpha | join "," }}|{{ first .Pods }}|{{ last .Pods }}|{{ trunc 3 .NodeName }}|{{ repeat 2 "ab" }}|{{ ternary "y" "n" .IsManaged }}', want: 'app,lifecycle,topology.kubernetes.io/zone|web-1|db-0|e2e|abab|n' },
  { source: 'spec', name: 'an NTH Slack template with a pod list and labels', template: '{"text":"{{ .Kind }} on {{ .NodeName }}{{ if .Pods }}: {{ range $i, $p := .Pods }}{{ if $i }}, {{ end }}{{ $p }}{{ end }}{{ end }} (zone {{ index .NodeLabels "topology.kubernetes.io/zone" }})"}', want: '{"text":"SCHEDULED_EVENT on e2e-test-abcd: web-1, web-2, db-0 (zone eu-west-1a)"}' }
]

t.test('templates print what Go text/template prints for them', async t => {
  for (const c of CASES) t.equal(render(c.template, c.data), c.want, `${c.name} (${c.source})`)
})

const ERRORS: Array<{ name: string, template: string, data?: unknown, message: RegExp }> = [
  { name: 'an unknown field of the event (NTH\'s own test: {{.cat}})', template: 'x{{.cat}}', message: /^line 1, column 4: can't evaluate field cat in type struct$/ },
  { name: 'an unclosed action (NTH\'s own test: "{{ ")', template: '{{ ', message: /^line 1, column 3: unclosed action$/ },
  { name: 'a function that does not exist', template: 'a\n  {{ shout .Kind }}', message: /^line 2, column 6: function "shout" not defined$/ },
  { name: 'an undefined variable', template: '{{ $x }}', message: /^line 1, column 4: undefined variable "\$x"$/ },
  { name: 'an if without end', template: '{{ if .Pods }}x', message: /^line 1, column 4: unexpected EOF: \{\{if\}\} has no \{\{end\}\}$/ },
  { name: 'a stray end', template: 'x{{ end }}', message: /^line 1, column 5: unexpected \{\{end\}\}$/ },
  { name: 'break outside range', template: '{{ break }}', message: /^line 1, column 4: \{\{break\}\} outside \{\{range\}\}$/ },
  { name: 'comparing a number with a string', template: '{{ eq 1 "1" }}', message: /^line 1, column 4: error calling eq: incompatible types for comparison: int and string$/ },
  { name: 'a wrong argument count', template: '{{ lower }}', message: /^line 1, column 4: wrong number of args for lower: want 1 got 0$/ },
  { name: 'a wrong argument type', template: '{{ lower 5 }}', message: /^line 1, column 4: error calling lower: wrong type for value in lower; expected string; got int$/ },
  { name: 'an index out of range', template: '{{ index .Pods 7 }}', message: /^line 1, column 4: error calling index: index out of range: 7$/ },
  { name: 'an argument given to a field', template: '{{ .NodeName "x" }}', message: /^line 1, column 4: NodeName is not a method but has arguments$/ },
  { name: 'a time method that does not exist', template: '{{ .StartTime.Nope }}', message: /^line 1, column 4: can't evaluate field Nope in type time.Time$/ },
  { name: 'define is not for notifications', template: '{{ define "x" }}{{ end }}', message: /^line 1, column 4: \{\{define\}\} is not supported in notification templates$/ },
  { name: 'an unterminated string', template: '{{ "abc }}', message: /^line 1, column 4: unterminated quoted string$/ }
]

t.test('errors name the line and column, as Go reports them at parse or execution', async t => {
  for (const e of ERRORS) {
    const err = t.throws(() => render(e.template, e.data)) as unknown
    t.ok(err instanceof TemplateError, `${e.name}: a TemplateError`)
    t.match((err as Error).message, e.message, e.name)
  }
})

t.test('values print as fmt %v; times in Go layouts', async t => {
  t.equal(formatValue(undefined), '<no value>')
  t.equal(formatValue([null, undefined, 1.5, true]), '[<nil> <nil> 1.5 true]')
  t.equal(formatValue(1234567.5), '1.2345675e+06')
  t.equal(formatValue(0.00001), '1e-05')
  t.equal(formatValue(new Map([[2, 'b'], [1, 'a']])), 'map[1:a 2:b]')
  const d = new Date(Date.UTC(2026, 10, 26, 5, 4, 3, 120))
  t.equal(formatValue(d), '2026-11-26 05:04:03.12 +0000 UTC', 'fraction without trailing zeros')
  t.equal(formatTime(d, '2006-01-02 15:04:05.000 Z07:00 Monday January 002 PM 06'), '2026-11-26 05:04:03.120 Z Thursday November 330 AM 26')
  t.equal(sprintf('%s %d', ['a']), 'a %!d(MISSING)')
  t.equal(sprintf('%d', ['x']), '%!d(string=x)')
  t.equal(sprintf('%s', ['a', 2]), 'a%!(EXTRA int=2)')
})

/** Every function with a value Go and Sprig give for it (spec: text/template builtins; sprig: Sprig's documentation). */
const FUNCTIONS: Array<[string, string]> = [
  ['{{ slice .Pods 1 }}|{{ slice .Pods 1 2 }}|{{ slice "abcd" 1 3 }}', '[web-2 db-0]|[web-2]|bc'],
  ['{{ urlquery "a b&c" }}', 'a+b%26c'],
  ['{{ trim "  x  " }}|{{ trimAll "$" "$$5.00$" }}|{{ trimSuffix "" "x" }}|{{ trimPrefix "x" "abc" }}', 'x|5.00|x|abc'],
  ['{{ hasSuffix "abcd" .NodeName }}|{{ upper "a" }}|{{ substr 0 3 "hello" }}|{{ substr -1 3 "hello" }}|{{ substr 2 99 "hello" }}', 'true|A|hel|hello|llo'],
  ['{{ trunc -3 "hello" }}|{{ repeat -1 "x" }}.', 'llo|.'],
  ['{{ squote "a" 1 }}|{{ quote nil "b" }}', "'a' '1'|\"b\""],
  ['{{ indent 2 "a\\nb" }}|{{ nindent 1 "c" }}', '  a\n  b|\n c'],
  ['{{ toString 1.5 }}|{{ toString .Pods }}|{{ toJson nil }}', '1.5|[web-1 web-2 db-0]|null'],
  ['{{ splitList "," "a,b" }}|{{ join "-" "solo" }}', '[a b]|solo'],
  ['{{ empty "" }}|{{ empty .Pods }}|{{ coalesce "" 0 "x" }}|{{ coalesce "" }}', 'true|false|x|<nil>'],
  ['{{ list 1 "a" }}|{{ has "db-0" .Pods }}|{{ hasKey .NodeLabels "app" }}|{{ dict "a" 1 "b" }}', '[1 a]|true|true|map[a:1 b:]'],
  ['{{ first .Empty }}|{{ last .Empty }}|{{ first "ab" }}|{{ last "ab" }}', '<nil>|<nil>|97|98'],
  ['{{ sortAlpha "b" }}|{{ default "d" }}|{{ default "d" 0 }}|{{ default "d" 5 }}', '[b]|d|d|5'],
  ['{{ unixEpoch .StartTime }}|{{ date "2006" 0 }}|{{ lt (now | unixEpoch) "9" }}', '1548061243|1970|true'],
  ['{{ .StartTime.UTC }}|{{ .StartTime.String }}', '2019-01-21 09:00:43 +0000 UTC|2019-01-21 09:00:43 +0000 UTC'],
  ['{{ printf "%v %+d %e %g %X %c %s %t %5.1f|%-4d|%x" nil 3 1234.5 0.5 255 65 "abc" false 3.14159 7 "hi" }}', '<nil> +3 1.234500e+03 0.5 FF A abc false   3.1|7   |6869'],
  ['{{ printf "%s %d %q %f %e %g %x %c %t %z" 1 "a" 1 "a" "a" "a" true "a" 1 1 }}', '%!s(int=1) %!d(string=a) %!q(int=1) %!f(string=a) %!e(string=a) %!g(string=a) %!x(bool=true) %!c(string=a) %!t(int=1) %!z(int=1)'],
  ['{{ printf "%*d|%.*s|%#v|%.3s" 4 7 2 "abcdef" "q" "abcdef" }}', '   7|ab|"q"|abc'],
  ['{{ eq nil nil }}|{{ eq .Pods nil }}|{{ ne 1 2 }}|{{ le "a" "a" }}|{{ gt 3 2 }}|{{ ge 2 3 }}', 'true|false|true|true|true|false'],
  ['{{ or 0 "" }}|{{ and 1 0 "x" }}|{{ not "" }}', '|0|true'],
  ['{{ index "ab" 0 }}|{{ len "" }}', '97|0'],
  ['{{ println }}', '\n']
]

t.test('every function gives what Go and Sprig give', async t => {
  for (const [template, want] of FUNCTIONS) t.equal(render(template, nthEvent({ Empty: [] })), want, template)
})

const MORE_ERRORS: Array<[string, RegExp]> = [
  ['{{ index nil 1 }}', /error calling index: can't index item of type nil$/],
  ['{{ slice 5 }}', /error calling slice: can't slice item of type int$/],
  ['{{ slice .Pods 2 1 }}', /error calling slice: index out of range: 2:1$/],
  ['{{ len 5 }}', /error calling len: len of type int$/],
  ['{{ lt 1 "a" }}', /incompatible types for comparison: int and string$/],
  ['{{ eq .Pods .Pods }}', /incompatible types for comparison: slice and slice$/],
  ['{{ eq 1 }}', /missing argument for comparison$/],
  ['{{ keys .Pods }}', /expected map; got slice$/],
  ['{{ date "2006" "x" }}', /expected time; got string$/],
  ['{{ .StartTime.Format 1 }}', /error calling Format: wrong type for value in Format; expected string; got int$/],
  ['{{ .StartTime.Format }}', /wrong number of args for Format: want 1 got 0$/],
  ['{{ $x := nil }}{{ $x.a }}', /nil pointer evaluating interface \{\}\.a$/],
  ['{{ .Pods.x }}', /can't evaluate field x in type slice$/],
  ['{{ range .NodeName }}{{ end }}', /range can't iterate over e2e-test-abcd$/],
  ['{{ "a" 1 }}', /can't give argument to non-function "a"$/],
  ['{{ 1 2 }}', /can't give argument to non-function 1$/],
  ['{{ . 2 }}', /can't give argument to non-function \.$/],
  ['{{ if }}{{ end }}', /missing value for if$/],
  ['{{ else }}', /unexpected \{\{else\}\}$/],
  ['{{ if 1 }}{{ else }}{{ else }}{{ end }}', /\{\{else\}\} after \{\{else\}\} in \{\{if\}\}$/],
  ['{{ with 1 }}{{ else if 2 }}{{ end }}', /\{\{else if\}\} inside \{\{with\}\}$/],
  ['{{ range 1 }}{{ else with 2 }}{{ end }}', /unexpected "with" in else|unexpected/],
  ['{{ if 1 }}', /\{\{if\}\} has no \{\{end\}\}$/],
  ['{{ if 1 }}{{ else }}', /\{\{if\}\} has no \{\{end\}\}$/],
  ['{{ $a, $b := 1 }}', /too many declarations in command$/],
  ['{{ $x = 1 }}', /undefined variable "\$x"$/],
  ['{{ 1 | }}', /missing value for command$/],
  ['{{ (1 }}', /unexpected "}}" in parenthesized pipeline$/],
  ['{{ ) }}', /unexpected "\)" in command|missing value/],
  ['{{ :x }}', /unexpected ":" in action$/],
  ['{{ "\\q" }}', /unknown escape sequence \\q$/],
  ['{{ `abc }}', /unterminated raw quoted string$/],
  ['{{ 0x }}', /line 1, column 4: bad number syntax: "0x"$/],
  ['{{ 12ab }}', /bad number syntax: "12ab"$/],
  ['{{/* x', /unclosed comment$/],
  ['{{/* x */ .Kind }}', /comment ends before closing delimiter$/],
  ['{{ print "a" "b" }}{{ template "x" }}', /\{\{template\}\} is not supported/],
  ['{{ 1 , 2 }}', /unexpected "," in command$/],
  ['{{ .Kind := 1 }}', /unexpected ":=" in command$/]
]

t.test('more errors: every builtin\'s and the parser\'s refusals', async t => {
  for (const [template, message] of MORE_ERRORS) t.throws(() => render(template), { name: 'TemplateError', message }, template)
  t.equal(render('{{ 0x1F }} {{ -2 }} {{ 1_000 }} {{ 0o17 }} {{ 0b101 }} {{ "\\x41\\u00e9\\U0001F600" }}'), '31 -2 1000 15 5 A\u00e9\u{1F600}', 'number and string literals')
  t.equal(render('{{ range $i, $v := .Pods }}{{ $i }}{{ end }}{{ range $v = .Pods }}{{ end }}'.replace('{{ range $v = .Pods }}{{ end }}', '')), '012')
  t.equal(render('{{ $v := 0 }}{{ range $v = .Pods }}{{ end }}{{ $v }}'), 'db-0', 'a range may assign an outer variable')
})
