// Subnet arithmetic for `net create` and the conflist builders (pure parts of runtime-min/netconf).
import t from 'tap'
import { parseCidr } from '../../../pkg/ip/cidr.js'
import { bridgeConflist, macvlanConflist, summarize, vxlanConflist } from '../../../runtime-min/netconf/conflist.js'
import { canonicalSubnet, firstHost, hostRoutes, overlaps, pickSubnet, userSubnetPool } from '../../../runtime-min/netconf/subnets.js'

const c = parseCidr

t.test('overlaps', async (t) => {
  t.ok(overlaps(c('10.0.0.0/8'), c('10.89.1.0/24')))
  t.ok(overlaps(c('10.89.1.0/24'), c('10.89.1.128/25')))
  t.notOk(overlaps(c('10.89.1.0/24'), c('10.89.2.0/24')))
  t.notOk(overlaps(c('10.89.1.0/24'), c('fd00::/8')), 'families never overlap')
  t.ok(overlaps(c('fd00::/64'), c('fd00::1/128')))
  t.ok(overlaps(c('10.89.1.77/24'), c('10.89.1.0/24')), 'host bits ignored')
})

t.test('pickSubnet walks the pool past what is taken', async (t) => {
  const pool = [...userSubnetPool()]
  t.equal(pool.length, 11 * 256)
  t.equal(canonicalSubnet(pool[0]!), '10.89.0.0/24')
  t.equal(canonicalSubnet(pool.at(-1)!), '10.99.255.0/24')
  const taken = [c('10.89.0.0/23'), c('10.89.2.0/24')]
  t.equal(canonicalSubnet(pickSubnet(userSubnetPool(), taken)!), '10.89.3.0/24')
  t.equal(pickSubnet(userSubnetPool(), [c('10.0.0.0/8')]), undefined, 'nothing free')
  t.equal(firstHost(c('10.89.3.0/24')), '10.89.3.1')
  t.equal(firstHost(c('fd00:8::/64')), 'fd00:8::1')
  t.equal(canonicalSubnet(c('10.89.3.9/24')), '10.89.3.0/24')
})

t.test("hostRoutes reads this namespace's routes, default routes left out", async (t) => {
  for (const r of hostRoutes()) t.ok(r.prefixLen > 0, `${canonicalSubnet(r)} is not a default route`)
})

t.test('conflist shapes', async (t) => {
  const br = bridgeConflist({ name: 'n', bridge: 'berth3', subnets: [{ subnet: '10.89.3.0/24', gateway: '10.89.3.1' }], internal: false, dataDir: '/d' })
  t.same(br, {
    cniVersion: '1.1.0',
    name: 'n',
    plugins: [
      { type: 'bridge', bridge: 'berth3', isGateway: true, ipMasq: true, hairpinMode: true, capabilities: { ips: true, mac: true }, ipam: { type: 'host-local', routes: [{ dst: '0.0.0.0/0' }], ranges: [[{ subnet: '10.89.3.0/24', gateway: '10.89.3.1' }]], dataDir: '/d' } },
      { type: 'portmap', capabilities: { portMappings: true } },
      { type: 'firewall', backend: '' },
      { type: 'tuning' },
    ],
  })
  t.same(summarize((br as { plugins: never[] }).plugins), { driver: 'bridge', subnets: ['10.89.3.0/24'], internal: false, bridge: 'berth3' })
  const iso = bridgeConflist({ name: 'n', bridge: 'berth3', subnets: [{ subnet: 'fd00:1::/64', gateway: 'fd00:1::1' }], internal: true, mtu: 1400, dataDir: '/d' })
  const p0 = (iso as { plugins: Record<string, unknown>[] }).plugins[0]!
  t.same([p0['isGateway'], p0['ipMasq'], p0['mtu']], [false, false, 1400])
  t.same(p0['ipam'], { type: 'host-local', ranges: [[{ subnet: 'fd00:1::/64' }]], dataDir: '/d' }, 'internal: no gateway, no routes')
  const vx = vxlanConflist({ name: 'o', clusterCidr: '10.244.0.0/16' })
  t.same((vx as { plugins: unknown[] }).plugins[0], { type: 'overlay-vxlan', clusterCidr: '10.244.0.0/16', subnetLen: 24, vni: 1, store: { type: 'file' } })
  t.same(summarize((vx as { plugins: never[] }).plugins), { driver: 'vxlan', subnets: ['10.244.0.0/16'], internal: false })
  // podman's `network create -d macvlan -o parent=eth1 --subnet ...`, plus the mac capability
  const mv = macvlanConflist({ name: 'lan', parent: 'eth1', subnets: [{ subnet: '192.168.1.0/24', gateway: '192.168.1.254' }], internal: false, mtu: 1400, dataDir: '/d' })
  t.same(mv, {
    cniVersion: '1.1.0',
    name: 'lan',
    plugins: [
      { type: 'macvlan', master: 'eth1', mtu: 1400, capabilities: { ips: true, mac: true }, ipam: { type: 'host-local', routes: [{ dst: '0.0.0.0/0' }], ranges: [[{ subnet: '192.168.1.0/24', gateway: '192.168.1.254' }]], dataDir: '/d' } },
    ],
  })
  t.same(summarize((mv as { plugins: never[] }).plugins), { driver: 'macvlan', subnets: ['192.168.1.0/24'], internal: false, parent: 'eth1' })
  const mvi = macvlanConflist({ name: 'lan', subnets: [{ subnet: '192.168.1.0/24', gateway: '192.168.1.1' }], internal: true, dataDir: '/d' })
  t.notOk('master' in ((mvi as { plugins: Record<string, unknown>[] }).plugins[0] ?? {}), 'no --parent: no master (the plugin takes the default route\'s interface)')
  t.same(summarize((mvi as { plugins: never[] }).plugins), { driver: 'macvlan', subnets: ['192.168.1.0/24'], internal: true })
})
