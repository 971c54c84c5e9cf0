import t from 'tap'
import type { CniError } from '../../../../pkg/errors/cni-error.js'
import { MAX_IFNAME_BYTES, validateContainerId, validateIfName, validateNetworkName } from '../../../../pkg/cni/validate.js'

const good = ['a', 'A', '0', 'abc123', 'a_b.c-d', '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08', 'a'.repeat(1000), 'a..', 'a-']
const bad = ['-a', '_a', '.a', 'a b', 'a/b', 'a:b', 'a\n', '\na', 'é', 'a;b', 'a$', '..']

t.test('validateContainerId: cni regex, code 4 naming CNI_CONTAINERID', async (t) => {
  for (const id of good) t.doesNotThrow(() => validateContainerId(id), JSON.stringify(id))
  for (const id of bad) {
    t.throws(() => validateContainerId(id), { name: 'CniError', code: 4, message: `invalid CNI_CONTAINERID ${JSON.stringify(id)}: invalid characters in containerID` }, JSON.stringify(id))
  }
  t.throws(() => validateContainerId(''), { code: 4, message: 'invalid CNI_CONTAINERID: missing containerID' })
})

t.test('validateNetworkName: cni regex, code 7', async (t) => {
  for (const n of good) t.doesNotThrow(() => validateNetworkName(n), JSON.stringify(n))
  for (const n of bad) {
    t.throws(() => validateNetworkName(n), { name: 'CniError', code: 7, message: `invalid network configuration: invalid characters found in network name ${JSON.stringify(n)}` }, JSON.stringify(n))
  }
  t.throws(() => validateNetworkName(''), { code: 7, message: 'invalid network configuration: missing network name' })
})

t.test('validateIfName: the kernel rules as cni words them, code 4 naming CNI_IFNAME', async (t) => {
  t.equal(MAX_IFNAME_BYTES, 15)
  const ok = ['eth0', 'a', 'x'.repeat(15), 'net1.100', 'veth-1_a', '...', 'a.', 'é'.repeat(7), '-', 'eth0@', 'a\u200bb']
  for (const n of ok) t.doesNotThrow(() => validateIfName(n), JSON.stringify(n))
  const rows: [string, string][] = [
    ['', 'interface name is empty'],
    ['x'.repeat(16), 'interface name is too long (16 bytes)'],
    ['é'.repeat(8), 'interface name is too long (16 bytes)'], // 8 characters, 16 bytes: the limit is in bytes
    ['.', 'interface name is . or ..'],
    ['..', 'interface name is . or ..'],
    ['a/b', 'interface name contains / or : or whitespace characters'],
    ['eth0:1', 'interface name contains / or : or whitespace characters'],
    ['eth 0', 'interface name contains / or : or whitespace characters'],
    ['eth\t0', 'interface name contains / or : or whitespace characters'],
    ['eth0\n', 'interface name contains / or : or whitespace characters'],
    ['a\u00a0b', 'interface name contains / or : or whitespace characters'], // Go's unicode.IsSpace includes NBSP
    ['a\u0085b', 'interface name contains / or : or whitespace characters'], // and NEL, which JS's \s does not
    ['a\u3000b', 'interface name contains / or : or whitespace characters'],
    ['%d', 'interface name contains %, which the kernel reads as a pattern (eth%d)'],
    ['eth%d', 'interface name contains %, which the kernel reads as a pattern (eth%d)'],
  ]
  for (const [name, msg] of rows) {
    t.throws(() => validateIfName(name), { name: 'CniError', code: 4, message: `invalid CNI_IFNAME ${JSON.stringify(name)}: ${msg}` }, JSON.stringify(name))
  }
  t.doesNotThrow(() => validateIfName('a\ufeffb'), "U+FEFF is not a space to Go (it is to JS's \\s)")
  const err = t.throws(() => validateIfName('x'.repeat(16))) as CniError
  t.equal(err.details, 'interface name should be less than 16 characters')
})

t.test('decodeJson refuses values nested deeper than MAX_DEPTH with code 6, before parsing', async (t) => {
  const { decodeJson, nestingDepth, MAX_DEPTH } = await import('../../../../pkg/cni/decode.js')
  t.equal(nestingDepth('{"a":[1,{"b":"[[[{"}]}'), 3, 'brackets in strings do not count')
  t.equal(nestingDepth('["\\"[[["]'), 1, 'an escaped quote does not end the string')
  t.same(decodeJson(`${'['.repeat(MAX_DEPTH)}${']'.repeat(MAX_DEPTH)}`, 'x') !== undefined, true, 'MAX_DEPTH levels are fine')
  const deep = `{"a":${'['.repeat(100_000)}${']'.repeat(100_000)}}`
  t.throws(() => decodeJson(deep, 'network configuration on stdin'), { name: 'CniError', code: 6, message: /nested 100001 levels deep \(at most 1000\)/ })
})
