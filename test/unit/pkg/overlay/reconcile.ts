// planPeers: what a host's tables should hold for a set of live leases.
import t from 'tap'
import { planPeers } from '../../../../pkg/overlay/reconcile.js'
import type { Lease } from '../../../../pkg/overlay/store.js'

const lease = (hostId: string, subnet: string, publicIp: string, vtepMac: string, directRoutingOk = false): Lease => ({
  network: 'ov',
  subnet,
  hostId,
  publicIp,
  vtepMac,
  expiresAt: Date.now() + 60_000,
  directRoutingOk,
})
const leases = [
  lease('10.0.0.2', '10.244.1.0/24', '10.0.0.2', '0e:00:00:00:00:01', true),
  lease('10.0.0.3', '10.244.2.0/24', '10.0.0.3', '0E:00:00:00:00:02', true),
  lease('10.9.0.4', '10.244.3.0/24', '10.9.0.4', '0e:00:00:00:00:03', true),
  lease('10.0.0.5', '10.245.0.0/24', '10.0.0.5', '0e:00:00:00:00:04'),
]
const ctx = { hostId: '10.0.0.2', clusterCidr: '10.244.0.0/16', underlayCidr: '10.0.0.2/24', directRouting: false }

t.test('one route, neighbour and FDB entry per other host', async (t) => {
  const p = planPeers(leases, ctx)
  t.same([...p.routes.values()], [
    { dst: '10.244.2.0/24', gw: '10.244.2.0', via: 'vxlan' },
    { dst: '10.244.3.0/24', gw: '10.244.3.0', via: 'vxlan' },
  ], 'own lease and the lease outside the cluster CIDR get nothing')
  t.same([...p.neighbors], [['10.244.2.0', '0e:00:00:00:00:02'], ['10.244.3.0', '0e:00:00:00:00:03']], 'MACs lower-cased')
  t.same([...p.fdb], [['0e:00:00:00:00:02', '10.0.0.3'], ['0e:00:00:00:00:03', '10.9.0.4']])
})

t.test('directRouting: peers on the same underlay subnet get a plain route', async (t) => {
  const p = planPeers(leases, { ...ctx, directRouting: true })
  t.same(p.routes.get('10.244.2.0/24'), { dst: '10.244.2.0/24', gw: '10.0.0.3', via: 'underlay' })
  t.same(p.routes.get('10.244.3.0/24'), { dst: '10.244.3.0/24', gw: '10.244.3.0', via: 'vxlan' }, 'another underlay subnet: VXLAN')
  t.notOk(p.fdb.has('0e:00:00:00:00:02'), 'no FDB entry for a directly routed peer')
  const off = planPeers([lease('10.0.0.3', '10.244.2.0/24', '10.0.0.3', '0e:00:00:00:00:02', false)], { ...ctx, directRouting: true })
  t.equal(off.routes.get('10.244.2.0/24')?.via, 'vxlan', 'a peer that does not offer direct routing')
})

t.test('no peers: an empty plan', async (t) => {
  const p = planPeers([leases[0]!], ctx)
  t.equal(p.routes.size + p.neighbors.size + p.fdb.size, 0)
})
