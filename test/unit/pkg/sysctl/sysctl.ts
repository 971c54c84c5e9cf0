// Sysctl key validation (no privileges, no file access).
import t from 'tap'
import { sysctlPath, SysctlKeyError } from '../../../../pkg/sysctl/sysctl.js'

t.test('accepted keys and their paths', async (t) => {
  t.equal(sysctlPath('net.ipv4.ip_forward'), '/proc/sys/net/ipv4/ip_forward')
  t.equal(sysctlPath('net/ipv4/ip_forward'), '/proc/sys/net/ipv4/ip_forward')
  t.equal(sysctlPath('net/ipv4/conf/eth0.100/rp_filter', { netOnly: true }), '/proc/sys/net/ipv4/conf/eth0.100/rp_filter')
  t.equal(sysctlPath('net.ipv6.conf.veth-1a2b@x.disable_ipv6', { netOnly: true }), '/proc/sys/net/ipv6/conf/veth-1a2b@x/disable_ipv6')
  t.equal(sysctlPath('kernel.hostname'), '/proc/sys/kernel/hostname', 'outside net only without a namespace')
})

t.test('refused keys', async (t) => {
  const cases: [string, RegExp, boolean?][] = [
    ['', /empty/],
    ['x'.repeat(600), /too long/],
    ['/proc/sys/net/ipv4/ip_forward', /absolute/],
    ['../etc/passwd', /bad component "\.\."/],
    ['net/../../etc', /bad component "\.\."/],
    ['net/./ipv4', /bad component "\."/],
    ['net..ipv4', /bad component ""/],
    ['net/ipv4/', /bad component ""/],
    ['net/ipv4/ip forward', /bad characters/],
    ['net/ipv4/ip_forward\n', /bad characters/],
    ['net/ipv4/*', /bad characters/],
    ['kernel.hostname', /only net\.\*/, true],
    ['netfilter.x', /only net\.\*/, true],
  ]
  for (const [key, msg, netOnly] of cases) {
    const e = (() => {
      try {
        sysctlPath(key, { netOnly: netOnly ?? true })
      } catch (x) {
        return x
      }
      return undefined
    })()
    t.ok(e instanceof SysctlKeyError, `${JSON.stringify(key).slice(0, 40)} refused`)
    t.match(e, { code: 7, key, message: msg })
  }
})
