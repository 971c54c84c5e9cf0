// The VLAN gateway ("<bridge>.<vlan>" veth pair, the reference's ensureVlanInterface) against a fake Rtnl
// that keeps a small link table: this kernel has no bridge vlan_filtering, so the requests are checked
// here and the kernel test (test/integration/plugins/bridge.ts) is skipped with that reason.
import t from 'tap'
import * as C from '../../../../pkg/link/constants.js'
import { NetlinkError } from '../../../../pkg/errors/sys-error.js'
import type { Link } from '../../../../pkg/link/link.js'
import { linkInfoData, type RtMessage, type RtnlRequest } from '../../../../pkg/link/rtnl.js'
import { checkVlanGatewayName, ensureVlanGateway, vlanGatewayName } from '../../../../plugins/bridge/vlan-gateway.js'
import { attrs } from '../../../helpers/nlattr.js'
import { body, FakeRtnl, find } from '../../../helpers/fakes/rtnl.js'

const IFLA_IFNAME = 3
const IFLA_MASTER = 10
const IFLA_LINKINFO = 18
const IFLA_INFO_DATA = 2
const VETH_INFO_PEER = 1
const ENODEV = 19
const EEXIST = 17

interface FakeLink {
  index: number
  name: string
  kind: string
  mtu: number
  master?: number
  up: boolean
}

/** A link table answering get/create/set like the kernel would, for veth pairs only. */
function fakeKernel(initial: FakeLink[], opts: { clashOnce?: string } = {}) {
  const links = [...initial]
  let next = 100
  let clash = opts.clashOnce
  const nameOf = (b: Buffer) => find(attrs(b), IFLA_IFNAME)?.data.toString('utf8').replace(/\0+$/, '')
  const msg = (l: FakeLink): RtMessage => ({
    kind: 'link',
    hdr: { family: 0, type: 1, index: l.index, flags: l.up ? C.IFF_UP : 0, change: 0 },
    attrs: { ifname: l.name, mtu: l.mtu, linkinfo: linkInfoData({ kind: l.kind }), ...(l.master ? { master: l.master } : {}) },
  })
  const rt = new FakeRtnl((req: RtnlRequest) => {
    const b = body(req)
    const index = b.readInt32LE(4)
    const name = nameOf(b.subarray(16))
    const target = () => links.find((l) => (index > 0 ? l.index === index : l.name === name))
    switch (req.type) {
      case C.RTM_GETLINK: {
        const l = target()
        if (l === undefined) throw new NetlinkError('get link', ENODEV, name)
        return [msg(l)]
      }
      case C.RTM_NEWLINK: {
        if (name === clash) {
          clash = undefined
          links.push({ index: next++, name: name ?? '', kind: 'veth', mtu: 1500, up: false })
          throw new NetlinkError('create veth', EEXIST, name)
        }
        const info = attrs(find(attrs(b.subarray(16)), IFLA_LINKINFO)?.data ?? Buffer.alloc(0))
        const peerBuf = find(attrs(find(info, IFLA_INFO_DATA)?.data ?? Buffer.alloc(0)), VETH_INFO_PEER)?.data ?? Buffer.alloc(0)
        const peer = nameOf(peerBuf.subarray(16)) ?? ''
        const mtu = find(attrs(b.subarray(16)), 4)?.data.readUInt32LE(0) ?? 1500
        links.push({ index: next++, name: name ?? '', kind: 'veth', mtu, up: false }, { index: next++, name: peer, kind: 'veth', mtu, up: false })
        return []
      }
      case C.RTM_SETLINK: {
        const l = target()
        if (l === undefined) throw new NetlinkError('set link', ENODEV, name)
        const master = find(attrs(b.subarray(16)), IFLA_MASTER)
        if (master) l.master = master.data.readUInt32LE(0)
        if ((b.readUInt32LE(12) & C.IFF_UP) !== 0 && (b.readUInt32LE(8) & C.IFF_UP) !== 0) l.up = true
        return []
      }
      default:
        return []
    }
  })
  return { rt, links }
}

const bridge = { index: 2, name: 'cni0', kind: 'bridge', mtu: 1400, infoData: undefined } as unknown as Link

t.test('the name is "<bridge>.<vlan>" and must fit IFNAMSIZ', async (t) => {
  t.equal(vlanGatewayName('cni0', 100), 'cni0.100')
  t.doesNotThrow(() => checkVlanGatewayName('abcdefghij', 4094))
  t.throws(() => checkVlanGatewayName('abcdefghijk', 4094), { code: 7, message: /bridge: the VLAN gateway interface "abcdefghijk.4094" would be longer than 15 bytes/ })
})

t.test('first ADD of the VLAN: the pair, its peer an access port of the VLAN on the bridge, both up', async (t) => {
  const k = fakeKernel([{ index: 2, name: 'cni0', kind: 'bridge', mtu: 1400, up: true }])
  const r = await ensureVlanGateway(k.rt, bridge, { vlan: 100, preserveDefaultVlan: false })
  t.equal(r.created, true)
  t.equal(r.link.name, 'cni0.100')
  const gw = k.links.find((l) => l.name === 'cni0.100')
  const peer = k.links.find((l) => l.name.startsWith('veth'))
  t.ok(gw?.up && peer?.up, 'both ends up')
  t.equal(peer?.master, 2, 'the peer is a port of the bridge')
  t.equal(gw?.master, undefined, 'the gateway end is not')
  t.equal(gw?.mtu, 1400, "the bridge's MTU")
  t.match(peer?.name, /^veth[0-9a-f]{8}$/)
  const vlanReqs = k.rt.sent.filter((q) => q.op.startsWith('bridge vlan'))
  t.same(
    vlanReqs.map((q) => [q.type, body(q).readInt32LE(4), q.op]),
    [
      [C.RTM_DELLINK, peer?.index, 'bridge vlan del vid 1 on'],
      [C.RTM_SETLINK, peer?.index, 'bridge vlan add vid 100 pvid untagged on'],
    ],
    'the peer leaves the default VLAN and joins VLAN 100 as PVID, untagged',
  )
  t.notOk(k.rt.sent.some((q) => q.op.startsWith('bridge vlan') && body(q).readInt32LE(4) === gw?.index), 'no VLAN request on the gateway end')
})

t.test('later ADDs reuse it; preserveDefaultVlan keeps the default VLAN; a non-veth of that name is 101', async (t) => {
  const k = fakeKernel([{ index: 7, name: 'cni0.100', kind: 'veth', mtu: 1500, up: true }])
  const r = await ensureVlanGateway(k.rt, bridge, { vlan: 100, preserveDefaultVlan: false })
  t.equal(r.created, false)
  t.equal(r.link.index, 7)
  t.same(k.rt.sent.map((q) => q.type), [C.RTM_GETLINK], 'one lookup, nothing created')

  const p = fakeKernel([])
  await ensureVlanGateway(p.rt, bridge, { vlan: 30, preserveDefaultVlan: true })
  t.same(p.rt.sent.filter((q) => q.op.startsWith('bridge vlan')).map((q) => q.op), ['bridge vlan add vid 30 pvid untagged on'])

  const odd = fakeKernel([{ index: 8, name: 'cni0.100', kind: 'bridge', mtu: 1500, up: true }])
  await t.rejects(ensureVlanGateway(odd.rt, bridge, { vlan: 100, preserveDefaultVlan: false }), { code: 101, message: /"cni0.100" exists and is a bridge, not a veth/ })
})

t.test('a concurrent ADD creating it first (EEXIST): reused, not created twice', async (t) => {
  const k = fakeKernel([], { clashOnce: 'cni0.100' })
  const r = await ensureVlanGateway(k.rt, bridge, { vlan: 100, preserveDefaultVlan: false })
  t.equal(r.created, false)
  t.equal(k.links.filter((l) => l.name === 'cni0.100').length, 1)
})
