import t from 'tap'
import { argBool, checkCniArgs, IGNORE_UNKNOWN, parseCniArgs } from '../../../../pkg/cni/args.js'

t.test('parseCniArgs reads K=V;K2=V2 as libcni LoadArgs does', async (t) => {
  const rows: [string | undefined, [string, string][]][] = [
    [undefined, []],
    ['', []],
    ['FOO=BAR', [['FOO', 'BAR']]],
    ['FOO=BAR;ABC=123', [['FOO', 'BAR'], ['ABC', '123']]],
    ['IP=10.0.0.5/24;IgnoreUnknown=1', [['IP', '10.0.0.5/24'], ['IgnoreUnknown', '1']]],
    ['K=', [['K', '']]], // an empty value is a value
    ['=V', [['', 'V']]],
    ['K=1;K=2', [['K', '2']]], // the later duplicate wins
    ['K8S_POD_NAME=web-0;K8S_POD_NAMESPACE=default', [['K8S_POD_NAME', 'web-0'], ['K8S_POD_NAMESPACE', 'default']]],
  ]
  for (const [input, want] of rows) t.same([...parseCniArgs(input)], want, JSON.stringify(input))
})

t.test('malformed pairs are code 4 naming CNI_ARGS and the pair', async (t) => {
  const rows: [string, string][] = [
    ['FOO', '"FOO"'],
    ['A=1;', '""'], // the empty pair after the trailing ';'
    [';A=1', '""'],
    ['A=1;;B=2', '""'],
    ['A=1=2', '"A=1=2"'],
    ['A=1;B', '"B"'],
  ]
  for (const [input, pair] of rows) {
    t.throws(() => parseCniArgs(input), { name: 'CniError', code: 4, message: `invalid CNI_ARGS: invalid pair ${pair} (expected KEY=VALUE)` }, input)
  }
})

t.test('argBool is UnmarshallableBool', async (t) => {
  const args = parseCniArgs('a=1;b=true;c=TRUE;d=0;e=false;f=False;g=yes;h=')
  t.same(['a', 'b', 'c', 'd', 'e', 'f'].map((k) => argBool(args, k)), [true, true, true, false, false, false])
  t.equal(argBool(args, 'missing'), undefined)
  t.throws(() => argBool(args, 'g'), { code: 4, message: 'invalid CNI_ARGS: error parsing value of pair "g=yes": expected true, false, 1 or 0' })
  t.throws(() => argBool(args, 'h'), { code: 4, message: '"h="' })
})

t.test('checkCniArgs refuses unknown keys unless IgnoreUnknown', async (t) => {
  t.equal(IGNORE_UNKNOWN, 'IgnoreUnknown')
  t.doesNotThrow(() => checkCniArgs(parseCniArgs('IP=10.0.0.5'), ['IP']))
  t.doesNotThrow(() => checkCniArgs(parseCniArgs(''), []))
  t.doesNotThrow(() => checkCniArgs(parseCniArgs('IgnoreUnknown=0'), []), 'IgnoreUnknown itself is always known')
  t.throws(() => checkCniArgs(parseCniArgs('IP=10.0.0.5;FOO=bar;K8S_POD_NAME=x'), ['IP']), {
    code: 4,
    message: 'invalid CNI_ARGS: unknown args "FOO=bar", "K8S_POD_NAME=x" (set IgnoreUnknown=1 to allow them)',
  })
  t.throws(() => checkCniArgs(parseCniArgs('FOO=bar;IgnoreUnknown=false'), []), { code: 4, message: '"FOO=bar"' })
  for (const v of ['1', 'true', 'True']) t.doesNotThrow(() => checkCniArgs(parseCniArgs(`FOO=bar;IgnoreUnknown=${v}`), ['IP']), v)
  t.throws(() => checkCniArgs(parseCniArgs('IgnoreUnknown=maybe'), []), { code: 4, message: '"IgnoreUnknown=maybe"' })
  // key names are case-sensitive, as Go struct field names are
  t.throws(() => checkCniArgs(parseCniArgs('ip=10.0.0.5'), ['IP']), { code: 4, message: '"ip=10.0.0.5"' })
})
