import t from 'tap'
import { CniCode, CniError } from '../../../../pkg/errors/cni-error.js'
import { describe } from '../../../../pkg/errors/describe.js'
import { ErrorList } from '../../../../pkg/errors/error-list.js'
import { errnoName, errorCode, NetlinkError, SysError } from '../../../../pkg/errors/sys-error.js'
import { toCniError } from '../../../../pkg/errors/to-cni-error.js'

t.test('SysError and NetlinkError name the operation, object and errno', async (t) => {
  const s = new SysError('setns', 9, 'fd 12')
  t.match(s, { name: 'SysError', syscall: 'setns', code: 'EBADF', errno: 9, path: 'fd 12', message: 'setns fd 12: EBADF' })
  t.equal(new SysError('nft', 22, undefined, 'Error: no such table').detail, 'Error: no such table')
  const n = new NetlinkError('create veth', -17, 'eth0')
  t.match(n, { name: 'NetlinkError', op: 'create veth', code: 'EEXIST', errno: 17, message: 'create veth eth0: EEXIST' })
  t.equal(errnoName(19), 'ENODEV')
  t.equal(errnoName(100000), 'E100000')
  t.equal(errorCode(n), 'EEXIST')
  t.equal(errorCode(new Error('x')), undefined)
  t.equal(errorCode('EEXIST'), undefined)
})

t.test('toCniError keeps CniErrors and maps the rest by errno code', async (t) => {
  const c = new CniError(CniCode.AddressesExhausted, 'range full')
  t.equal(toCniError(c), c)
  t.match(toCniError(new SysError('flock', 11, '/x/lock')), { code: 11, message: /try again later: flock \/x\/lock: EAGAIN/ })
  t.match(toCniError(new NetlinkError('add route', -16, '10.0.0.0/8')), { code: 11 })
  t.match(toCniError(new SysError('setns', 1)), { code: 999, message: /permission denied .*CAP_NET_ADMIN/ })
  const wrapped = toCniError(new Error('outer', { cause: new Error('inner') }))
  t.match(wrapped, { code: 999, message: 'outer', details: 'outer: inner' })
  t.match(toCniError('a string'), { code: 999, message: 'a string' })
})

t.test('describe renders the cause chain', async (t) => {
  t.equal(describe(new Error('a', { cause: new Error('b', { cause: 'c' }) })), 'a: b: c')
  t.equal(describe(42), '42')
})

t.test('ErrorList runs every step and reports all failures at the end', async (t) => {
  const list = new ErrorList()
  const ran: string[] = []
  await list.attempt('remove veth', () => {
    ran.push('veth')
    throw new CniError(CniCode.KernelFailure, 'busy')
  })
  await list.attempt('release IPAM', async () => void ran.push('ipam'))
  await list.attempt('remove NAT', async () => {
    ran.push('nat')
    throw new Error('nft failed')
  })
  t.same(ran, ['veth', 'ipam', 'nat'], 'kept going after failures')
  t.notOk(list.empty)
  t.throws(() => list.throwIfAny('DEL failed'), { code: 103, message: 'DEL failed: remove veth: busy; remove NAT: nft failed' })
  const ok = new ErrorList()
  await ok.attempt('x', () => {})
  t.ok(ok.empty)
  t.doesNotThrow(() => ok.throwIfAny('nothing'))
})

t.test('shared errno numbers get the kernel name', async (t) => {
  t.equal(errnoName(11), 'EAGAIN')
  t.equal(errnoName(95), 'EOPNOTSUPP')
  t.equal(errnoName(-35), 'EDEADLK')
})
