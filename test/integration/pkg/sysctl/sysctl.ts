// Sysctls read and written inside a namespace, and keys that try to leave /proc/sys/net.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { readSysctl, writeSysctl } from '../../../../pkg/sysctl/sysctl.js'
import { createVethPair } from '../../../../pkg/link/veth.js'
import { NetnsHandle } from '../../../../pkg/ns/netns.js'
import { needsRoot } from '../../../helpers/privileges.js'
import { createRtnlNetns } from '../../../helpers/rtnl-ns.js'

t.test('read and write in a namespace, host untouched', { skip: needsRoot() }, async (t) => {
  const { ns, handle } = await createRtnlNetns(t)
  const home = NetnsHandle.current()
  t.teardown(() => home.close())
  const hostBefore = readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8')
  // A new namespace inherits IPv4 settings from the initial one (net.core.devconf_inherit_init_net=0),
  // so its starting value is the host's: flip it, whatever it is.
  const before = readSysctl('net.ipv4.ip_forward', handle)
  t.equal(before, ns.exec('cat', ['/proc/sys/net/ipv4/ip_forward']).trim(), 'reads the namespace value')
  const flipped = before === '1' ? '0' : '1'
  writeSysctl('net.ipv4.ip_forward', flipped, handle)
  t.equal(ns.exec('cat', ['/proc/sys/net/ipv4/ip_forward']).trim(), flipped, 'the namespace value changed')
  t.equal(readSysctl('net/ipv4/ip_forward', handle), flipped, 'slash form reads the same key')
  t.equal(readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8'), hostBefore, 'the host value is unchanged')
  const here = NetnsHandle.current()
  t.ok(here.equals(home), 'the thread is back home')
  here.close()

  writeSysctl('net.ipv6.conf.all.disable_ipv6', '1', handle)
  t.equal(ns.exec('sysctl', ['-n', 'net.ipv6.conf.all.disable_ipv6']).trim(), '1')

  t.throws(() => readSysctl('net.ipv4.no_such_key', handle), { code: 'ENOENT' }, 'missing key is ENOENT, not created')
})

t.test('interface names with dots need the slash form', { skip: needsRoot() }, async (t) => {
  const { ns, rt, handle } = await createRtnlNetns(t)
  await createVethPair(rt, { name: 'eth0.5', peerName: 'peer0' })
  writeSysctl('net/ipv4/conf/eth0.5/forwarding', '1', handle)
  t.equal(ns.exec('cat', ['/proc/sys/net/ipv4/conf/eth0.5/forwarding']).trim(), '1')
  t.throws(() => readSysctl('net.ipv4.conf.eth0.5.forwarding', handle), { code: 'ENOENT' }, 'dots split the name')
})

t.test('keys that escape are refused before anything is opened', { skip: needsRoot() }, async (t) => {
  const { handle } = await createRtnlNetns(t)
  const bad = [
    '../../etc/passwd',
    'net/../../etc/passwd',
    'net/ipv4/../../../etc/shadow',
    '/etc/passwd',
    '/proc/sys/net/ipv4/ip_forward',
    'net..ipv4.ip_forward',
    'net/./ipv4/ip_forward',
    'net/ipv4//ip_forward',
    'net.ipv4.ip_forward\0',
    'net/ipv4/ip forward',
    'kernel.hostname',
    'kernel/hostname',
    'fs.protected_symlinks',
    '',
  ]
  for (const key of bad) {
    t.throws(() => writeSysctl(key, '1', handle), { name: 'CniError', code: 7 }, `write ${JSON.stringify(key)}`)
    t.throws(() => readSysctl(key, handle), { name: 'CniError', code: 7 }, `read ${JSON.stringify(key)}`)
  }
  t.throws(() => writeSysctl('net.ipv4.ip_forward', '1\nnet.ipv4.x=1', handle), { code: 7 }, 'multi-line value')
})
