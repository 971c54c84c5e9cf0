import t from 'tap'
import { CniError } from '../../../../pkg/errors/cni-error.js'
import {
  checkCommandVersion,
  checkSupported,
  compareVersions,
  CURRENT_VERSION,
  parseVersion,
  SUPPORTED_VERSIONS,
  versionAtLeast,
  versionInfo,
} from '../../../../pkg/cni/spec.js'

t.test('supported versions and current version', async (t) => {
  t.same(SUPPORTED_VERSIONS, ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'])
  t.equal(CURRENT_VERSION, '1.1.0')
  t.ok(Object.isFrozen(SUPPORTED_VERSIONS))
})

t.test('parseVersion follows cni ParseVersion', async (t) => {
  const rows: [string, [number, number, number]][] = [
    ['', [0, 1, 0]], // no version declared means 0.1.0
    ['1', [1, 0, 0]],
    ['1.1', [1, 1, 0]],
    ['0.4.0', [0, 4, 0]],
    ['01.002.3', [1, 2, 3]],
    ['10.20.30', [10, 20, 30]],
  ]
  for (const [input, want] of rows) t.same(parseVersion(input), want, JSON.stringify(input))
})

t.test('compareVersions orders numerically, not as text', async (t) => {
  const rows: [string, string, number][] = [
    ['0.3.0', '0.3.1', -1],
    ['0.3.1', '0.3.0', 1],
    ['0.4.0', '0.4.0', 0],
    ['0.10.0', '0.9.0', 1],
    ['1.0.0', '0.4.0', 1],
    ['1.1', '1.1.0', 0],
    ['1', '1.0.0', 0],
    ['', '0.1.0', 0],
    ['2.0.0', '1.99.99', 1],
  ]
  for (const [a, b, want] of rows) t.equal(compareVersions(a, b), want, `${a} vs ${b}`)
})

t.test('malformed versions are decoding failures (code 6) naming the version', async (t) => {
  const rows: [string, RegExp][] = [
    ['1.0.0.0', /invalid CNI version "1\.0\.0\.0": too many parts/],
    ['1.x.0', /invalid CNI version "1\.x\.0": part "x" is not a number/],
    ['1.1.0-dev', /part "0-dev" is not a number/],
    ['v1.0.0', /part "v1" is not a number/],
    ['1..0', /part "" is not a number/],
    ['-1.0.0', /part "-1" is not a number/],
    ['99999999999999999999', /is not a number/],
  ]
  for (const [bad, msg] of rows) {
    t.throws(() => compareVersions(bad, '1.0.0'), { name: 'CniError', code: 6, message: msg }, `left ${bad}`)
    t.throws(() => compareVersions('1.0.0', bad), { code: 6, message: msg }, `right ${bad}`)
  }
})

t.test('versionAtLeast is GreaterThanOrEqualTo', async (t) => {
  t.equal(versionAtLeast('0.4.0', '0.4.0'), true)
  t.equal(versionAtLeast('1.0.0', '0.4.0'), true)
  t.equal(versionAtLeast('0.3.1', '0.4.0'), false)
  t.equal(versionAtLeast('1.1.0', '1.1.0'), true)
  t.equal(versionAtLeast('1.0.0', '1.1.0'), false)
  t.throws(() => versionAtLeast('one', '1.0.0'), { code: 6 })
})

t.test('checkSupported matches exact strings and reports code 1', async (t) => {
  for (const v of SUPPORTED_VERSIONS) t.doesNotThrow(() => checkSupported(v), v)
  const err = t.throws(() => checkSupported('9.9.9')) as CniError
  t.equal(err.code, 1)
  t.equal(err.message, 'incompatible CNI versions: config is "9.9.9", plugin supports 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0')
  t.equal(err.details, 'config is "9.9.9", plugin supports ["0.3.0" "0.3.1" "0.4.0" "1.0.0" "1.1.0"]')
  // cni's Reconciler compares strings: "1.1" is not "1.1.0"
  t.throws(() => checkSupported('1.1'), { code: 1 })
  t.throws(() => checkSupported('0.2.0'), { code: 1, message: /config is "0\.2\.0"/ })
  const none = t.throws(() => checkSupported('')) as CniError
  t.equal(none.message, 'incompatible CNI versions: config has no cniVersion (that means 0.1.0), plugin supports 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0')
  t.equal(none.details, 'config is "0.1.0", plugin supports ["0.3.0" "0.3.1" "0.4.0" "1.0.0" "1.1.0"]')
  t.doesNotThrow(() => checkSupported('0.4.0', ['0.4.0']))
  t.throws(() => checkSupported('1.0.0', ['0.4.0']), { code: 1, message: /plugin supports 0\.4\.0$/ })
  t.throws(() => checkSupported('2.0.0', undefined, 'prevResult'), { code: 1, message: /^incompatible CNI versions: prevResult is "2\.0\.0"/ })
})

t.test('checkCommandVersion gates CHECK, GC and STATUS as cni skel does', async (t) => {
  const rows: [string, string, boolean][] = [
    ['ADD', '0.3.0', true],
    ['DEL', '0.3.1', true],
    ['CHECK', '0.3.1', false],
    ['CHECK', '0.4.0', true],
    ['CHECK', '1.0.0', true],
    ['GC', '1.0.0', false],
    ['GC', '1.1.0', true],
    ['STATUS', '0.4.0', false],
    ['STATUS', '1.1.0', true],
    ['VERSION', '0.3.0', true],
  ]
  for (const [cmd, v, ok] of rows) {
    if (ok) t.doesNotThrow(() => checkCommandVersion(cmd, v), `${cmd} ${v}`)
    else {
      t.throws(() => checkCommandVersion(cmd, v), { code: 1, message: `config version "${v}" does not allow ${cmd} (needs ${cmd === 'CHECK' ? '0.4.0' : '1.1.0'} or later)` }, `${cmd} ${v}`)
    }
  }
  t.throws(() => checkCommandVersion('CHECK', 'x'), { code: 6 })
})

t.test('versionInfo is the VERSION output', async (t) => {
  t.same(versionInfo(), { cniVersion: '1.1.0', supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] })
  t.same(versionInfo(['1.0.0']), { cniVersion: '1.1.0', supportedVersions: ['1.0.0'] })
  const info = versionInfo()
  info.supportedVersions.push('x')
  t.equal(SUPPORTED_VERSIONS.length, 5, 'returns a copy')
})
