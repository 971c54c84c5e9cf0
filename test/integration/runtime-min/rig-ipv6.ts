// Dual-stack rigs (--underlay6): every member also gets an IPv6 underlay address (no DAD wait), hosts a
// default IPv6 route via the switch and IPv6 forwarding, and hosts reach each other over IPv6.
import t from 'tap'
import { randomBytes, randomInt } from 'node:crypto'
import { BIN_DIR } from '../../helpers/paths.js'
import { needsBuiltBin, needsRoot } from '../../helpers/privileges.js'
import { berth, downOnTeardown, ipIn, makeRig, netnsNames, rigName, type RigView } from '../../helpers/rig.js'

const skip = needsRoot() || needsBuiltBin('berth', BIN_DIR)
// A random ULA /64 per run, so parallel runs do not overlap.
// Groups of 0x1000..0xffff have no leading zeros, so the text is already in canonical (RFC 5952) form.
const group = () => (0x1000 + randomInt(0xf000)).toString(16)
const ula = () => `fd${randomBytes(1).toString('hex')}:${group()}:${group()}::/64`

t.test('--underlay6: IPv6 addresses, default routes and forwarding; hosts reach each other', { skip }, async (t) => {
  const underlay6 = ula()
  const name = rigName()
  downOnTeardown(t, name)
  const up = berth(['rig', 'up', '--name', name, '--hosts', '3', '--underlay6', underlay6, '--json'])
  t.equal(up.status, 0, up.stderr)
  const rig = JSON.parse(up.stdout) as RigView
  const base = underlay6.replace('::/64', '::')
  t.equal(rig.underlay6, underlay6)
  t.equal(rig.gateway6, `${base}1`)
  t.same(rig.hosts.map((h) => h.address6), [`${base}2/64`, `${base}3/64`, `${base}4/64`])
  for (const h of rig.hosts) {
    const routes = ipIn(h, ['-6', 'route', 'show', 'default']) as { gateway?: string; dev: string }[]
    t.same(routes.map((r) => [r.gateway, r.dev]), [[rig.gateway6, 'eth0']], `${h.name} IPv6 default route via the switch`)
    const addrs = ipIn(h, ['-6', 'addr', 'show', 'eth0', 'scope', 'global']) as { addr_info: { local: string; prefixlen: number; tentative?: boolean }[] }[]
    // `ip -j` adds an empty object to addr_info when a filter hides addresses; skip it.
    const global = addrs[0]?.addr_info.filter((a) => a.local !== undefined)
    t.same(global?.map((a) => [`${a.local}/${a.prefixlen}`, a.tentative ?? false]), [[h.address6, false]], `${h.name} has its address, usable at once`)
    t.equal(berth(['rig', 'exec', rig.name, h.name, '--', 'cat', '/proc/sys/net/ipv6/conf/all/forwarding']).stdout.trim(), '1', `${h.name} forwards IPv6`)
  }
  const ping = berth(['rig', 'exec', rig.name, 'host1', '--', 'ping', '-6', '-c', '1', '-W', '5', rig.hosts[2]?.ip6 ?? ''])
  t.equal(ping.status, 0, `host1 pings host3 over IPv6: ${ping.stdout}${ping.stderr}`)
  t.match(berth(['rig', 'inspect', rig.name]).stdout, /IPv6 underlay .* via /)

  const add = berth(['rig', 'add-host', rig.name, '--json'])
  t.equal(add.status, 0, add.stderr)
  const grown = JSON.parse(add.stdout) as RigView
  t.equal(grown.hosts[3]?.address6, `${base}5/64`, 'a new host gets its IPv6 address too')
  const back = berth(['rig', 'exec', rig.name, 'host4', '--', 'ping', '-6', '-c', '1', '-W', '5', rig.hosts[0]?.ip6 ?? ''])
  t.equal(back.status, 0, 'host4 pings host1 over IPv6')
})

t.test('--underlay6 refusals leave nothing', { skip }, async (t) => {
  const name = rigName()
  downOnTeardown(t, name)
  for (const [value, msg] of [
    ['10.0.0.0/8', /^berth: --underlay6 10\.0\.0\.0\/8 is IPv4; give an IPv6 prefix such as fd00:200::\/64\n$/],
    ['fd00::1/64', /has host bits set; did you mean fd00::\/64\?/],
    ['fd00::/127', /too small for a switch and 2 hosts/],
    ['zz::/64', /invalid --underlay6 "zz::\/64"/],
  ] as const) {
    const r = berth(['rig', 'up', '--name', name, '--hosts', '2', '--underlay6', value])
    t.equal(r.status, 1)
    t.match(r.stderr, msg)
  }
  t.same(netnsNames().filter((n) => n.startsWith(`${name}.`)), [], 'nothing made')
  const a = makeRig(t, { hosts: 1 })
  t.notOk('underlay6' in a, 'IPv4 only unless asked')
})
