// Rig planning without privileges: underlay parsing and address plan, the default underlay choice,
// rig and member names, and the environment `rig exec` gives a command.
import t from 'tap'
import { parseCidr } from '../../../pkg/ip/cidr.js'
import { CliError } from '../../../runtime-min/cli-error.js'
import { memberEnv } from '../../../runtime-min/rig/exec.js'
import { hostIndex, memberNetnsPath, memberRoot, validMember, validRigName } from '../../../runtime-min/rig/layout.js'
import { memberRecord } from '../../../runtime-min/rig/members.js'
import type { RigInfo } from '../../../runtime-min/rig/store.js'
import { hostAddress, maxHostIndex, overlaps, parseUnderlay, pickUnderlay, planUnderlay } from '../../../runtime-min/rig/underlay.js'

t.test('underlay: accepted prefixes and the address plan', async (t) => {
  const net = parseUnderlay('192.168.77.0/24', 3)
  t.same(planUnderlay(net, 3), { cidr: '192.168.77.0/24', prefixLen: 24, gateway: '192.168.77.1', hosts: ['192.168.77.2', '192.168.77.3', '192.168.77.4'] })
  t.equal(maxHostIndex(net), 253, 'a /24 holds the switch and 253 hosts')
  t.equal(hostAddress(net, 253), '192.168.77.254', 'the last host sits below the broadcast address')
  t.equal(maxHostIndex(parseUnderlay('10.0.0.0/29', 5)), 5)
  t.equal(planUnderlay(parseUnderlay('10.9.0.0/16', 1), 1).hosts[0], '10.9.0.2')
  t.equal(hostAddress(parseCidr('10.9.0.0/16'), 300), '10.9.1.45', 'addresses carry across octets')
})

t.test('underlay: refusals say what to fix', async (t) => {
  const cases: [string, number, RegExp][] = [
    ['nonsense', 1, /invalid --underlay "nonsense"; give an IPv4 prefix such as 10\.200\.0\.0\/24/],
    ['10.0.0.0', 1, /has no prefix length/],
    ['10.0.0.1/24', 1, /host bits set; did you mean 10\.0\.0\.0\/24\?/],
    ['fd00::/64', 1, /is IPv6/],
    ['10.0.0.0/29', 6, /too small for a switch and 6 hosts/],
    ['10.0.0.0/31', 1, /too small/],
    ['10.0.0.0/33', 1, /invalid --underlay/],
  ]
  for (const [text, hosts, msg] of cases) t.throws(() => parseUnderlay(text, hosts), msg, text)
  t.throws(() => parseUnderlay('nonsense', 1), CliError)
})

t.test('default underlay: the first /24 of 10.200.0.0/16 clear of what is taken', async (t) => {
  const p = (c: string) => parseCidr(c)
  t.equal(pickUnderlay([]).bytes.join('.'), '10.200.0.0')
  t.equal(pickUnderlay([p('10.200.0.0/24'), p('10.200.1.7/32')]).bytes.join('.'), '10.200.2.0', 'skips a rig and a host route')
  t.equal(pickUnderlay([p('10.200.0.0/23'), p('192.0.2.0/24')]).bytes.join('.'), '10.200.2.0')
  t.throws(() => pickUnderlay([p('10.0.0.0/8')]), /every \/24 of 10\.200\.0\.0\/16 is in use.*; pass --underlay CIDR/, 'a covering route leaves no room')
  t.ok(overlaps(p('10.200.0.0/16'), p('10.200.5.0/24')))
  t.ok(overlaps(p('10.200.5.0/24'), p('10.200.0.0/16')))
  t.notOk(overlaps(p('10.200.5.0/24'), p('10.200.6.0/24')))
  t.notOk(overlaps(p('10.200.5.0/24'), p('fd00::/8')))
})

t.test('names: rigs, members, namespaces and roots', async (t) => {
  for (const ok of ['lab', 'a', 'rig-1', 'x_y', 'A'.repeat(32)]) t.equal(validRigName(ok), ok)
  for (const bad of ['', 'a.b', '../x', '-x', '_x', 'a/b', 'A'.repeat(33), 'sp ace', 'é']) {
    t.throws(() => validRigName(bad), /invalid rig name .*; use 1-32 letters/, JSON.stringify(bad))
  }
  t.equal(memberNetnsPath('lab', 'host2'), '/run/netns/lab.host2')
  t.equal(memberRoot('lab', 'host2'), '/run/berth/rigs/lab/host2')
  t.equal(validMember('lab', 'switch', ['host1']), 'switch')
  t.equal(validMember('lab', 'host1', ['host1']), 'host1')
  t.throws(() => validMember('lab', 'host2', ['host1', 'host3']), /rig lab has no host "host2"; use switch, host1, host3/)
  t.equal(hostIndex('host12'), 12)
  t.equal(hostIndex('host0'), undefined)
  t.equal(hostIndex('switch'), undefined)
  t.same(memberRecord('lab', 'switch', '10.0.0.1', 24), {
    name: 'switch',
    netns: '/run/netns/lab.switch',
    address: '10.0.0.1/24',
    ip: '10.0.0.1',
    root: '/run/berth/rigs/lab/switch',
    interface: 'br0',
  })
  t.equal(memberRecord('lab', 'host1', '10.0.0.2', 24).interface, 'eth0')
})

t.test('rig exec environment: BERTH_ROOT, berth first on PATH, CNI_PATH unless set', async (t) => {
  const host = memberRecord('lab', 'host2', '10.0.0.3', 24)
  const rig = { name: 'lab' } as RigInfo
  const env = memberEnv(rig, host, { PATH: '/usr/bin:/opt/berth/bin:/bin', HOME: '/root' }, '/opt/berth/bin')
  t.equal(env['BERTH_ROOT'], '/run/berth/rigs/lab/host2')
  t.equal(env['PATH'], '/opt/berth/bin:/usr/bin:/bin', 'bin first, no duplicate')
  t.equal(env['CNI_PATH'], '/opt/berth/bin:/opt/cni/bin')
  t.equal(env['BERTH_RIG'], 'lab')
  t.equal(env['BERTH_RIG_MEMBER'], 'host2')
  t.equal(env['HOME'], '/root', 'the rest is kept')
  t.equal(memberEnv(rig, host, { CNI_PATH: '/x' }, '/b')['CNI_PATH'], '/x', "the caller's CNI_PATH wins")
  t.equal(memberEnv(rig, host, { BERTH_ROOT: '/elsewhere' }, '/b')['BERTH_ROOT'], '/run/berth/rigs/lab/host2', "the caller's BERTH_ROOT does not")
})

t.test('IPv6 underlay (--underlay6)', async (t) => {
  const net = parseUnderlay('fd00:200::/64', 3, 6)
  t.equal(hostAddress(net, 0), 'fd00:200::1')
  t.equal(hostAddress(net, 255), 'fd00:200::100')
  t.equal(maxHostIndex(parseUnderlay('fd00::/120', 253, 6)), 253)
  t.equal(maxHostIndex(net), 1_000_000, 'capped, not 2^64')
  t.throws(() => parseUnderlay('10.0.0.0/24', 1, 6), /--underlay6 10\.0\.0\.0\/24 is IPv4; give an IPv6 prefix/)
  t.throws(() => parseUnderlay('fd00::1/64', 1, 6), /host bits set; did you mean fd00::\/64\?/)
  t.throws(() => parseUnderlay('fd00::/127', 1, 6), /too small/)
})
