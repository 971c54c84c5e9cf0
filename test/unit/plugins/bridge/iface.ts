import t from 'tap'
import type { CniResult } from '../../../../pkg/cni/result.js'
import { defaultGatewayOf, planGateways, randomVethName } from '../../../../plugins/bridge/iface.js'

t.test('defaultGatewayOf: first address of the subnet', async (t) => {
  t.equal(defaultGatewayOf('10.1.2.3/24'), '10.1.2.1')
  t.equal(defaultGatewayOf('10.1.3.255/23'), '10.1.2.1')
  t.equal(defaultGatewayOf('192.168.0.77/30'), '192.168.0.77')
  t.equal(defaultGatewayOf('10.0.0.9/8'), '10.0.0.1')
  t.equal(defaultGatewayOf('fd00::5/64'), 'fd00::1')
  t.equal(defaultGatewayOf('fd00:0:0:1::5/63'), 'fd00::1')
})

t.test('randomVethName: veth + 8 hex', async (t) => {
  t.match(randomVethName(), /^veth[0-9a-f]{8}$/)
  t.not(randomVethName(), randomVethName())
})

t.test('planGateways (the reference calcGateways)', async (t) => {
  const base = (): CniResult => ({ cniVersion: '1.0.0', ips: [{ address: '10.1.0.5/24' }, { address: 'fd00::5/64', gateway: 'fd00::fe' }] })

  let r = base()
  let p = planGateways(r, { isGateway: false, isDefaultGateway: false }, 2)
  t.same(r.ips, [{ address: '10.1.0.5/24', interface: 2 }, { address: 'fd00::5/64', gateway: 'fd00::fe', interface: 2 }], 'no gateway made up')
  t.same(p.gateways, [])
  t.notOk(r.routes)

  r = base()
  p = planGateways(r, { isGateway: true, isDefaultGateway: false }, 2)
  t.equal(r.ips?.[0]?.gateway, '10.1.0.1', 'missing gateway becomes the first address')
  t.same(p.gateways, ['10.1.0.1/24', 'fd00::fe/64'])
  t.same([...p.families], [4, 6])
  t.notOk(r.routes, 'no default route without isDefaultGateway')

  r = base()
  planGateways(r, { isGateway: true, isDefaultGateway: true }, 2)
  t.same(r.routes, [{ dst: '0.0.0.0/0', gw: '10.1.0.1' }, { dst: '::/0', gw: 'fd00::fe' }])

  r = { ...base(), routes: [{ dst: '0.0.0.0/0', gw: '10.1.0.254' }] }
  planGateways(r, { isGateway: true, isDefaultGateway: true }, 2)
  t.same(r.routes, [{ dst: '0.0.0.0/0', gw: '10.1.0.254' }, { dst: '::/0', gw: 'fd00::fe' }], "IPAM's default route is kept")
})
