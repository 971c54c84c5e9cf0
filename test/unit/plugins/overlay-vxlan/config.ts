// overlay-vxlan configuration: defaults, and every bad value is CniError 7 naming the key.
import t from 'tap'
import { parseNetConf } from '../../../../pkg/cni/schema.js'
import { CniError } from '../../../../pkg/errors/cni-error.js'
import { parseOverlayConfig } from '../../../../plugins/overlay-vxlan/config.js'

const base = { cniVersion: '1.1.0', name: 'ov', type: 'overlay-vxlan', clusterCidr: '10.244.0.0/16' }
const parse = (extra: object, env: Record<string, string> = {}) => parseOverlayConfig(parseNetConf(JSON.stringify({ ...base, ...extra })), env)

t.test('defaults', async (t) => {
  const c = parse({})
  t.equal(c.net.clusterCidr, '10.244.0.0/16')
  t.equal(c.net.subnetLen, 24)
  t.equal(c.net.vni, 1)
  t.equal(c.net.port, 4789)
  t.equal(c.net.mtu, undefined, 'MTU from the underlay')
  t.same(c.net.store, { type: 'file', path: '/var/lib/berth/overlay' })
  t.equal(c.net.directRouting, false)
  t.equal(c.net.leaseTtlMs, 3_600_000)
  t.equal(c.net.vxlanName, 'berth.1')
  t.equal(c.net.bridgeName, 'berthbr1')
  t.equal(c.dataDir, undefined, "host-local's default without BERTH_ROOT")
  t.equal(c.stateDir, '/var/lib/cni/overlay-vxlan')
})

t.test('values given, BERTH_ROOT prefixes the per-host directories', async (t) => {
  const c = parse(
    { clusterCidr: '10.244.7.9/16', subnetLen: 26, vni: 16777215, port: 8472, mtu: 1400, underlayInterface: 'eth1', directRouting: true, leaseTtl: 30, store: { type: 'etcd', endpoints: ['http://10.0.0.1:2379'], prefix: '/x' } },
    { BERTH_ROOT: '/run/berth/rigs/r/host1/' },
  )
  t.equal(c.net.clusterCidr, '10.244.0.0/16', 'host bits cleared')
  t.equal(c.net.subnetLen, 26)
  t.equal(c.net.vxlanName, 'berth.16777215')
  t.equal(c.net.bridgeName, 'berthbr16777215')
  t.ok(c.net.bridgeName.length <= 15)
  t.equal(c.net.port, 8472)
  t.equal(c.net.mtu, 1400)
  t.equal(c.net.underlayInterface, 'eth1')
  t.equal(c.net.leaseTtlMs, 30_000)
  t.same(c.net.store, { type: 'etcd', endpoints: ['http://10.0.0.1:2379'], prefix: '/x' })
  t.equal(c.dataDir, '/run/berth/rigs/r/host1/var/lib/cni/networks')
  t.equal(c.stateDir, '/run/berth/rigs/r/host1/var/lib/cni/overlay-vxlan')
})

const bad: { name: string; extra: object; key: RegExp; code?: number; env?: Record<string, string> }[] = [
  { name: 'missing clusterCidr', extra: { clusterCidr: undefined }, key: /clusterCidr/ },
  { name: 'IPv6 clusterCidr', extra: { clusterCidr: 'fd00::/48' }, key: /clusterCidr/ },
  { name: 'not a CIDR', extra: { clusterCidr: '10.244.0.0' }, key: /clusterCidr/ },
  { name: 'cluster too small', extra: { clusterCidr: '10.244.0.0/30' }, key: /clusterCidr/ },
  { name: 'subnetLen not longer than the cluster prefix', extra: { clusterCidr: '10.244.0.0/16', subnetLen: 16 }, key: /subnetLen.*does not fit/ },
  { name: 'subnetLen shorter than the cluster prefix', extra: { clusterCidr: '10.244.0.0/24', subnetLen: 20 }, key: /subnetLen/ },
  { name: 'subnetLen too long', extra: { subnetLen: 31 }, key: /subnetLen/ },
  { name: 'VNI 0', extra: { vni: 0 }, key: /vni/ },
  { name: 'VNI too large', extra: { vni: 16777216 }, key: /vni/ },
  { name: 'VNI not an integer', extra: { vni: 1.5 }, key: /vni/ },
  { name: 'port 0', extra: { port: 0 }, key: /port/ },
  { name: 'port too large', extra: { port: 70000 }, key: /port/ },
  { name: 'mtu too small', extra: { mtu: 60 }, key: /mtu/ },
  { name: 'underlay name too long', extra: { underlayInterface: 'a-very-long-interface' }, key: /underlayInterface/ },
  { name: 'unknown store type', extra: { store: { type: 'consul' } }, key: /store/ },
  { name: 'etcd without endpoints', extra: { store: { type: 'etcd', endpoints: [] } }, key: /store\.endpoints/ },
  { name: 'etcd endpoint not an URL', extra: { store: { type: 'etcd', endpoints: ['10.0.0.1:2379'] } }, key: /store\.endpoints/ },
  { name: 'relative file store path', extra: { store: { type: 'file', path: 'leases' } }, key: /store\.path/ },
  { name: 'leaseTtl 0', extra: { leaseTtl: 0 }, key: /leaseTtl/ },
  { name: 'directRouting not a boolean', extra: { directRouting: 'yes' }, key: /directRouting/ },
  { name: 'relative dataDir', extra: { dataDir: 'x' }, key: /dataDir/ },
  { name: 'BERTH_ROOT with ..', extra: {}, env: { BERTH_ROOT: '/a/../b' }, key: /BERTH_ROOT/, code: 4 },
]

for (const b of bad) {
  t.test(b.name, async (t) => {
    try {
      parse(b.extra, b.env)
      t.fail('accepted')
    } catch (e) {
      t.type(e, CniError)
      t.equal((e as CniError).code, b.code ?? 7)
      t.match((e as CniError).message, b.key)
    }
  })
}

t.test("keys in any spelling Go accepts, the store's alternatives included", async (t) => {
  const c = parse({ ClusterCidr: '10.245.0.0/16', SubnetLen: 26, VNI: 7, Store: { Type: 'etcd', Endpoints: ['http://10.0.0.1:2379'], DialTimeoutMs: 500 }, StateDir: '/srv/ov' })
  t.equal(c.net.clusterCidr, '10.245.0.0/16')
  t.equal(c.net.subnetLen, 26)
  t.equal(c.net.vni, 7)
  t.same(c.net.store, { type: 'etcd', endpoints: ['http://10.0.0.1:2379'], dialTimeoutMs: 500 })
  t.equal(c.stateDir, '/srv/ov')
  t.same(parse({ store: { TYPE: 'file', Path: '/x' } }).net.store, { type: 'file', path: '/x' })
  t.throws(() => parse({ Store: { Type: 'etcd', Endpoints: [] } }), { code: 7, message: 'invalid network configuration: Store.Endpoints: must list at least one endpoint, received array' })
})
