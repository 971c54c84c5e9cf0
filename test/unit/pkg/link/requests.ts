// What pkg/link sends, checked against a recording fake Rtnl (no kernel): flags, headers, attributes.
import t from 'tap'
import type { NetnsHandle } from '../../../../pkg/ns/netns.js'
import { setBridgePort, setLinkUp, delLinkIfExists } from '../../../../pkg/link/link.js'
import { addRoute, delRoute } from '../../../../pkg/link/route.js'
import { appendFdb } from '../../../../pkg/link/fdb.js'
import { createVethPair } from '../../../../pkg/link/veth.js'
import { createVxlan } from '../../../../pkg/link/vxlan.js'
import { addAddress } from '../../../../pkg/link/addr.js'
import { NetlinkError } from '../../../../pkg/errors/sys-error.js'
import * as C from '../../../../pkg/link/constants.js'
import { attrs } from '../../../helpers/nlattr.js'
import { body, FakeRtnl, find } from '../../../helpers/fakes/rtnl.js'


t.test('setLinkUp: RTM_SETLINK by name, IFF_UP in flags and change mask', async (t) => {
  const rt = new FakeRtnl()
  await setLinkUp(rt, 'eth0')
  const [r] = rt.sent
  t.match(r, { type: C.RTM_SETLINK, op: 'set link up', target: 'eth0' })
  const b = body(r)
  t.equal(b.readInt32LE(4), 0, 'no index: the kernel finds it by IFLA_IFNAME')
  t.equal(b.readUInt32LE(8), C.IFF_UP)
  t.equal(b.readUInt32LE(12), C.IFF_UP)
  t.equal(find(attrs(b.subarray(16)), 3)?.data.toString('latin1'), 'eth0\0')
})

t.test('setBridgePort: AF_BRIDGE + nested IFLA_PROTINFO with IFLA_BRPORT_*', async (t) => {
  const rt = new FakeRtnl()
  await setBridgePort(rt, 7, { hairpin: true, learning: false })
  const b = body(rt.sent[0])
  t.equal(b[0], C.AF_BRIDGE)
  t.equal(b.readInt32LE(4), 7)
  const p = find(attrs(b.subarray(16)), C.IFLA_PROTINFO)
  t.ok(p?.nested, 'NLA_F_NESTED set')
  const port = attrs(p?.data ?? Buffer.alloc(0))
  t.equal(find(port, 4)?.data[0], 1, 'IFLA_BRPORT_MODE = hairpin')
  t.equal(find(port, 8)?.data[0], 0, 'IFLA_BRPORT_LEARNING = 0')
})

t.test('addRoute: default via an onlink gateway', async (t) => {
  const rt = new FakeRtnl()
  await addRoute(rt, { gw: '192.168.255.1', dev: 3, onlink: true, metric: 7, mtu: 1400 })
  const [r] = rt.sent
  t.match(r, { type: C.RTM_NEWROUTE, flags: C.NLM_F_CREATE | C.NLM_F_EXCL, op: 'add route', target: 'default (IPv4) via 192.168.255.1 dev ifindex 3' })
  const b = body(r)
  t.same([...b.subarray(0, 8)], [C.AF_INET, 0, 0, 0, C.RT_TABLE_MAIN, C.RTPROT_BOOT, C.RT_SCOPE_UNIVERSE, C.RTN_UNICAST])
  t.equal(b.readUInt32LE(8), C.RTNH_F_ONLINK)
  const a = attrs(b.subarray(12))
  t.equal(find(a, 15)?.data.readUInt32LE(0), 254, 'RTA_TABLE')
  t.same([...(find(a, 5)?.data ?? [])], [192, 168, 255, 1], 'RTA_GATEWAY')
  t.equal(find(a, 4)?.data.readUInt32LE(0), 3, 'RTA_OIF')
  t.equal(find(a, 6)?.data.readUInt32LE(0), 7, 'RTA_PRIORITY')
  t.equal(find(a, 1), undefined, 'no RTA_DST for a default route')
  t.equal(find(attrs(find(a, 8)?.data ?? Buffer.alloc(0)), 2)?.data.readUInt32LE(0), 1400, 'RTA_METRICS/RTAX_MTU')
})

t.test('delRoute: any scope, table above 255 in RTA_TABLE only', async (t) => {
  const rt = new FakeRtnl()
  await delRoute(rt, { dst: '10.1.2.3/24', table: 1000 })
  const b = body(rt.sent[0])
  t.equal(b[1], 24)
  t.equal(b[4], C.RT_TABLE_UNSPEC)
  t.equal(b[6], C.RT_SCOPE_NOWHERE)
  const a = attrs(b.subarray(12))
  t.same([...(find(a, 1)?.data ?? [])], [10, 1, 2, 0], 'destination is the network address')
  t.equal(find(a, 15)?.data.readUInt32LE(0), 1000)
  t.equal(rt.sent[0]?.target, '10.1.2.0/24 table 1000')
})

t.test('appendFdb: AF_BRIDGE, NTF_SELF, permanent, NDA_DST/NDA_PORT/NDA_VNI', async (t) => {
  const rt = new FakeRtnl()
  await appendFdb(rt, { link: 4, mac: '00:00:00:00:00:00', dst: '10.9.0.2', port: 4790, vni: 43 })
  const [r] = rt.sent
  t.match(r, { type: C.RTM_NEWNEIGH, flags: C.NLM_F_CREATE | C.NLM_F_APPEND })
  const b = body(r)
  t.equal(b[0], C.AF_BRIDGE)
  t.equal(b.readInt32LE(4), 4)
  t.equal(b.readUInt16LE(8), C.NUD_PERMANENT)
  t.equal(b[10], C.NTF_SELF)
  const a = attrs(b.subarray(12))
  t.same([...(find(a, 1)?.data ?? [])], [10, 9, 0, 2])
  t.equal(find(a, 6)?.data.readUInt16BE(0), 4790, 'NDA_PORT is big-endian')
  t.equal(find(a, 7)?.data.readUInt32LE(0), 43)
})

t.test('createVethPair: peer namespace fd inside VETH_INFO_PEER', async (t) => {
  const rt = new FakeRtnl()
  const ns = { fd: 42, path: '/proc/1/ns/net' } as NetnsHandle
  await createVethPair(rt, { name: 'eth0', peerName: 'veth1234', peerNetns: ns, mtu: 1450 })
  const [r] = rt.sent
  t.match(r, { type: C.RTM_NEWLINK, flags: C.NLM_F_CREATE | C.NLM_F_EXCL, target: 'eth0', op: 'create veth (peer veth1234 in /proc/1/ns/net)' })
  const top = attrs(body(r).subarray(16))
  t.equal(find(top, 28), undefined, 'this end stays in the handle namespace')
  const info = attrs(find(top, 18)?.data ?? Buffer.alloc(0))
  t.equal(find(info, 1)?.data.toString('latin1'), 'veth\0')
  const peer = find(attrs(find(info, 2)?.data ?? Buffer.alloc(0)), 1)?.data ?? Buffer.alloc(0)
  const peerAttrs = attrs(peer.subarray(16))
  t.equal(find(peerAttrs, 28)?.data.readUInt32LE(0), 42)
  t.equal(find(peerAttrs, 4)?.data.readUInt32LE(0), 1450, 'peer MTU follows')
})

t.test('createVxlan: VNI, big-endian port, learning off, underlay by index', async (t) => {
  const rt = new FakeRtnl()
  await createVxlan(rt, { name: 'vx42', vni: 42, underlay: 2, learning: false, local: 'fd00::1' })
  const info = attrs(find(attrs(body(rt.sent[0]).subarray(16)), 18)?.data ?? Buffer.alloc(0))
  const d = attrs(find(info, 2)?.data ?? Buffer.alloc(0))
  t.equal(find(d, 1)?.data.readUInt32LE(0), 42, 'IFLA_VXLAN_ID')
  t.equal(find(d, 15)?.data.readUInt16BE(0), 4789, 'IFLA_VXLAN_PORT')
  t.equal(find(d, 7)?.data[0], 0, 'IFLA_VXLAN_LEARNING')
  t.equal(find(d, 3)?.data.readUInt32LE(0), 2, 'IFLA_VXLAN_LINK')
  t.equal(find(d, 17)?.data.length, 16, 'IFLA_VXLAN_LOCAL6')
})

t.test('addAddress: IFA_FLAGS and the computed broadcast', async (t) => {
  const rt = new FakeRtnl()
  await addAddress(rt, 3, '10.1.2.3/24', { noPrefixRoute: true })
  const b = body(rt.sent[0])
  t.same([...b.subarray(0, 4)], [C.AF_INET, 24, 0, 0])
  const a = attrs(b.subarray(8))
  t.same([...(find(a, 4)?.data ?? [])], [10, 1, 2, 255], 'IFA_BROADCAST')
  t.equal(find(a, 8)?.data.readUInt32LE(0), C.IFA_F_NOPREFIXROUTE, 'IFA_FLAGS')
})

t.test('*IfExists turns only "not there" into false', async (t) => {
  const gone = new FakeRtnl(() => {
    throw new NetlinkError('delete link', 19, 'eth0')
  })
  t.equal(await delLinkIfExists(gone, 'eth0'), false)
  const busy = new FakeRtnl(() => {
    throw new NetlinkError('delete link', 16, 'eth0')
  })
  await t.rejects(delLinkIfExists(busy, 'eth0'), { code: 'EBUSY' })
})
