// safeJoin keeps untrusted names inside the state directory.
import t from 'tap'
import { CniCode } from '../../../../pkg/errors/cni-error.js'
import { safeJoin } from '../../../../pkg/fsutil/safe-path.js'

const ROOT = '/var/lib/berth/networks'

t.test('ordinary names join', async (t) => {
  t.equal(safeJoin(ROOT, 'net1'), `${ROOT}/net1`)
  t.equal(safeJoin(ROOT, ['net1', '10.88.0.2']), `${ROOT}/net1/10.88.0.2`)
  t.equal(safeJoin(ROOT, 'net1/last_reserved_ip.0'), `${ROOT}/net1/last_reserved_ip.0`, 'several components in one part')
  t.equal(safeJoin(ROOT, '..foo'), `${ROOT}/..foo`, 'dots inside a name are fine')
  t.equal(safeJoin(ROOT, 'a..b'), `${ROOT}/a..b`)
  t.equal(safeJoin(ROOT, '2001:db8::1'), `${ROOT}/2001:db8::1`)
  t.equal(safeJoin('relative/state', 'x'), 'relative/state/x')
  t.equal(safeJoin(ROOT, 'x'.repeat(255)), `${ROOT}/${'x'.repeat(255)}`)
})

t.test('traversal, absolute parts, NUL and empty components are refused', async (t) => {
  const bad: [string | string[], RegExp][] = [
    ['..', /"\.\."/],
    ['../etc/passwd', /"\.\.\/etc\/passwd"/],
    ['a/../../b', /must not contain empty, "\." or "\.\." components/],
    [['ok', '..'], /"\.\."/],
    ['/etc/passwd', /must be a relative name/],
    [['net1', '/abs'], /must be a relative name/],
    ['a\0b', /"a\\u0000b": must not contain NUL/],
    ['', /must not contain empty/],
    ['.', /must not contain empty/],
    ['a//b', /must not contain empty/],
    ['a/', /must not contain empty/],
    [[], /nothing to join/],
    ['y'.repeat(256), /longer than 255 bytes/],
  ]
  for (const [parts, msg] of bad) {
    t.throws(() => safeJoin(ROOT, parts), { name: 'CniError', code: CniCode.InvalidConfig, message: msg }, JSON.stringify(parts))
  }
  t.throws(() => safeJoin('', 'x'), { code: CniCode.InvalidConfig, message: /state directory/ })
  t.throws(() => safeJoin('/a\0', 'x'), { code: CniCode.InvalidConfig, message: /state directory/ })
})

t.test('the code and wording follow the source of the name', async (t) => {
  t.throws(() => safeJoin(ROOT, '../x', { code: CniCode.InvalidEnv, what: 'container ID' }), {
    code: CniCode.InvalidEnv,
    message: 'invalid container ID "../x": must not contain empty, "." or ".." components',
  })
  t.throws(() => safeJoin(ROOT, '..', { what: 'network name' }), { code: CniCode.InvalidConfig, message: /^invalid network name "\.\."/ })
})
