// VLAN requests (pkg/link/bridge-vlan.ts) and the bridge's port VLAN plan, checked against a recording
// fake Rtnl (no kernel): message type, AF_BRIDGE ifinfomsg, nested IFLA_AF_SPEC with IFLA_BRIDGE_FLAGS
// and struct bridge_vlan_info entries.
import t from 'tap'
import type { RtnlRequest } from '../../../../pkg/link/rtnl.js'
import type { Link } from '../../../../pkg/link/link.js'
import { NetlinkError } from '../../../../pkg/errors/sys-error.js'
import * as C from '../../../../pkg/link/constants.js'
import * as V from '../../../../pkg/link/bridge-vlan.js'
import { setupPortVlans, usesVlans } from '../../../../plugins/bridge/bridge.js'
import { attrs } from '../../../helpers/nlattr.js'
import { body, FakeRtnl, find } from '../../../helpers/fakes/rtnl.js'


/** Decodes one request: header fields and the IFLA_AF_SPEC content. */
function decode(r: RtnlRequest | undefined) {
  const b = body(r)
  const spec = find(attrs(b.subarray(16)), V.IFLA_AF_SPEC)
  const inner = attrs(spec?.data ?? Buffer.alloc(0))
  return {
    type: r?.type,
    family: b[0],
    index: b.readInt32LE(4),
    nested: spec?.nested,
    bridgeFlags: find(inner, V.IFLA_BRIDGE_FLAGS)?.data.readUInt16LE(0),
    infos: inner.filter((a) => a.type === V.IFLA_BRIDGE_VLAN_INFO).map((a) => ({ flags: a.data.readUInt16LE(0), vid: a.data.readUInt16LE(2) })),
    lengths: inner.map((a) => a.data.length),
  }
}

t.test('addBridgeVlan: RTM_SETLINK, AF_BRIDGE, nested IFLA_AF_SPEC, master flag, pvid+untagged', async (t) => {
  const rt = new FakeRtnl()
  await V.addBridgeVlan(rt, 9, { vid: 100, pvid: true, untagged: true })
  const d = decode(rt.sent[0])
  t.match(rt.sent[0], { type: C.RTM_SETLINK, op: 'bridge vlan add vid 100 pvid untagged on', target: 'ifindex 9' })
  t.equal(d.family, C.AF_BRIDGE)
  t.equal(d.index, 9)
  t.equal(d.nested, true, 'IFLA_AF_SPEC carries NLA_F_NESTED')
  t.equal(d.bridgeFlags, V.BRIDGE_FLAGS_MASTER)
  t.same(d.infos, [{ flags: V.BRIDGE_VLAN_INFO_PVID | V.BRIDGE_VLAN_INFO_UNTAGGED, vid: 100 }])
  t.same(d.lengths, [2, 4], 'u16 flags, then struct bridge_vlan_info (4 bytes)')
  // The exact bytes of the attribute stream after the ifinfomsg.
  t.equal(
    body(rt.sent[0]).subarray(16).toString('hex'),
    ['14001a80' /* len 20, type 26 (IFLA_AF_SPEC) with NLA_F_NESTED */, '060000000100' + '0000' /* IFLA_BRIDGE_FLAGS=MASTER, pad */, '08000200' + '0600' + '6400' /* VLAN_INFO flags 6 vid 100 */].join(''),
  )
})

t.test('addBridgeVlan with a range: RANGE_BEGIN and RANGE_END entries, tagged; self target', async (t) => {
  const rt = new FakeRtnl()
  await V.addBridgeVlan(rt, 3, { vid: 10, to: 20 })
  t.same(decode(rt.sent[0]).infos, [
    { flags: V.BRIDGE_VLAN_INFO_RANGE_BEGIN, vid: 10 },
    { flags: V.BRIDGE_VLAN_INFO_RANGE_END, vid: 20 },
  ])
  await V.addBridgeVlan(rt, 3, { vid: 7, target: 'self' })
  t.equal(decode(rt.sent[1]).bridgeFlags, V.BRIDGE_FLAGS_SELF)
  await t.rejects(V.addBridgeVlan(rt, 3, { vid: 10, to: 20, pvid: true }), /cannot be the pvid/)
  await t.rejects(V.addBridgeVlan(rt, 3, { vid: 0 }), /out of range/)
  await t.rejects(V.addBridgeVlan(rt, 3, { vid: 4095 }), /out of range/)
  await t.rejects(V.addBridgeVlan(rt, 3, { vid: 20, to: 10 }), /ends before it starts/)
  t.equal(rt.sent.length, 2, 'invalid specs send nothing')
})

t.test('delBridgeVlan: RTM_DELLINK; delBridgeVlanIfExists treats ENOENT as done', async (t) => {
  const rt = new FakeRtnl()
  await V.delBridgeVlan(rt, 4, { vid: 1 })
  t.match(rt.sent[0], { type: C.RTM_DELLINK, op: 'bridge vlan del vid 1 on' })
  t.same(decode(rt.sent[0]).infos, [{ flags: 0, vid: 1 }])
  const missing = new FakeRtnl(() => {
    throw new NetlinkError('bridge vlan del', 2, 'x')
  })
  t.equal(await V.delBridgeVlanIfExists(missing, 4, { vid: 1 }), false)
  const other = new FakeRtnl(() => {
    throw new NetlinkError('bridge vlan del', 95, 'x')
  })
  await t.rejects(V.delBridgeVlanIfExists(other, 4, { vid: 1 }), /EOPNOTSUPP|not supported/i)
})

t.test('vlanRuns groups consecutive ids', async (t) => {
  t.same(V.vlanRuns([7, 1, 2, 3, 3, 9, 10]), [[1, 3], [7, 7], [9, 10]])
  t.same(V.vlanRuns([]), [])
})

const port = { index: 12, name: 'veth00000001' } as Link
const bridge = { index: 2, name: 'cni0', kind: 'bridge', infoData: undefined } as unknown as Link

t.test('setupPortVlans: the reference order (default VLAN removed, access PVID untagged, trunk tagged)', async (t) => {
  t.notOk(usesVlans({ vlan: 0, vlanTrunk: [] }))
  const none = new FakeRtnl()
  await setupPortVlans(none, port, bridge, { vlan: 0, vlanTrunk: [], preserveDefaultVlan: false })
  t.equal(none.sent.length, 0, 'no VLAN keys: nothing, even without preserveDefaultVlan')

  const access = new FakeRtnl()
  await setupPortVlans(access, port, bridge, { vlan: 100, vlanTrunk: [], preserveDefaultVlan: false })
  t.same(
    access.sent.map((r) => [r.type, decode(r).index, decode(r).infos]),
    [
      [C.RTM_DELLINK, 12, [{ flags: 0, vid: 1 }]],
      [C.RTM_SETLINK, 12, [{ flags: V.BRIDGE_VLAN_INFO_PVID | V.BRIDGE_VLAN_INFO_UNTAGGED, vid: 100 }]],
    ],
  )

  const trunk = new FakeRtnl()
  await setupPortVlans(trunk, port, bridge, { vlan: 0, vlanTrunk: [5, 6, 7, 42], preserveDefaultVlan: true })
  t.same(
    trunk.sent.map((r) => [r.type, decode(r).infos]),
    [
      [C.RTM_SETLINK, [{ flags: V.BRIDGE_VLAN_INFO_RANGE_BEGIN, vid: 5 }, { flags: V.BRIDGE_VLAN_INFO_RANGE_END, vid: 7 }]],
      [C.RTM_SETLINK, [{ flags: 0, vid: 42 }]],
    ],
    'default VLAN kept; one request per run',
  )
})
