// VXLAN devices: attributes read back by `ip -d -j link`, ensureVxlan, and the kernel's own conflicts.
import t from 'tap'
import { createVxlan, ensureVxlan, vxlanInfoOf, VXLAN_PORT } from '../../../../pkg/link/vxlan.js'
import { createVethPair } from '../../../../pkg/link/veth.js'
import { getLink } from '../../../../pkg/link/link.js'
import { NetlinkError } from '../../../../pkg/errors/sys-error.js'
import { needsLinkKind } from '../../../helpers/privileges.js'
import { createRtnlNetns } from '../../../helpers/rtnl-ns.js'

interface VxlanJson {
  ifindex: number
  mtu: number
  address: string
  linkinfo?: {
    info_kind?: string
    info_data?: {
      id?: number
      local?: string
      local6?: string
      remote?: string
      group?: string
      group6?: string
      remote6?: string
      link?: string
      port?: number
      learning?: boolean
      ttl?: number
      tos?: string
      ageing?: number
      port_range?: { low: number; high: number }
      udp_csum?: boolean
      proxy?: boolean
      l2miss?: boolean
    }
  }
}
const show = (ns: { ipJson(a: string[]): unknown }, name: string): VxlanJson | undefined => (ns.ipJson(['-d', 'link', 'show', name]) as VxlanJson[])[0]

const skip = needsLinkKind('vxlan') || needsLinkKind('veth')

t.test('vxlan over a veth underlay, every attribute read back', { skip }, async (t) => {
  const { ns, rt } = await createRtnlNetns(t)
  await createVethPair(rt, { name: 'under0', peerName: 'under1' })
  await createVxlan(rt, {
    name: 'vx42',
    vni: 42,
    port: 4790,
    local: '10.9.0.1',
    remote: '10.9.0.2',
    underlay: 'under0',
    learning: false,
    ttl: 5,
    tos: 4,
    ageing: 120,
    srcPortRange: [1000, 2000],
    proxy: true,
    l2miss: true,
    mtu: 1400,
    mac: '02:00:00:00:42:00',
  })
  const j = show(ns, 'vx42')
  const d = j?.linkinfo?.info_data
  t.equal(j?.linkinfo?.info_kind, 'vxlan')
  t.equal(d?.id, 42)
  t.equal(d?.port, 4790)
  t.equal(d?.local, '10.9.0.1')
  t.equal(d?.remote, '10.9.0.2', 'a unicast group is shown as remote')
  t.equal(d?.link, 'under0')
  t.equal(d?.learning, false)
  t.equal(d?.ttl, 5)
  t.equal(d?.tos, '0x4')
  t.equal(d?.ageing, 120)
  t.same(d?.port_range, { low: 1000, high: 2000 })
  t.equal(d?.proxy, true)
  t.equal(d?.l2miss, true)
  t.equal(j?.mtu, 1400)
  t.equal(j?.address, '02:00:00:00:42:00')

  const link = await getLink(rt, 'vx42')
  t.same(vxlanInfoOf(link), {
    vni: 42,
    port: 4790,
    local: '10.9.0.1',
    remote: '10.9.0.2',
    underlayIndex: (await getLink(rt, 'under0')).index,
    learning: false,
    ttl: 5,
    tos: 4,
    ageing: 120,
  })
  t.equal(vxlanInfoOf(await getLink(rt, 'under0')), undefined, 'not a vxlan')
})

t.test('vxlan defaults, IPv6 local and multicast group', { skip }, async (t) => {
  const { ns, rt } = await createRtnlNetns(t)
  await createVethPair(rt, { name: 'under0', peerName: 'under1' })
  await createVxlan(rt, { name: 'vx7', vni: 7 })
  const d = show(ns, 'vx7')?.linkinfo?.info_data
  t.equal(d?.port, VXLAN_PORT, 'berth sends 4789, not the kernel default 8472')
  t.equal(d?.learning, true, 'kernel default learning stays when not asked')

  await createVxlan(rt, { name: 'vx8', vni: 8, local: 'fd00::1', remote: 'ff05::1', underlay: 'under0' })
  const d6 = show(ns, 'vx8')?.linkinfo?.info_data
  t.equal(d6?.local6, 'fd00::1')
  t.equal(d6?.group6, 'ff05::1')
  const info = vxlanInfoOf(await getLink(rt, 'vx8'))
  t.equal(info?.local, 'fd00::1')
  t.equal(info?.remote, 'ff05::1')
})

t.test('ensureVxlan reuses a matching device and refuses a different one', { skip }, async (t) => {
  const { rt } = await createRtnlNetns(t)
  const a = await ensureVxlan(rt, { name: 'vx42', vni: 42, local: '10.9.0.1', learning: false })
  const b = await ensureVxlan(rt, { name: 'vx42', vni: 42, local: '10.9.0.1', learning: false })
  t.equal(b.index, a.index, 'reused')
  await t.rejects(ensureVxlan(rt, { name: 'vx42', vni: 43 }), { name: 'NetlinkError', code: 'EEXIST', target: 'vx42', op: /ensure vxlan \(found vxlan id 42 dstport 4789 local 10\.9\.0\.1\)/ })
  await t.rejects(ensureVxlan(rt, { name: 'vx42', vni: 42, local: '10.9.0.2' }), { code: 'EEXIST', target: 'vx42' })
  await t.rejects(ensureVxlan(rt, { name: 'lo', vni: 42 }), { code: 'EEXIST', target: 'lo' }, 'another kind of device')

  // The kernel allows one device per VNI+port+underlay in a namespace.
  const e = await createVxlan(rt, { name: 'vx42b', vni: 42 }).catch((x: unknown) => x)
  t.ok(e instanceof NetlinkError)
  t.match(e, { code: 'EEXIST', op: 'create vxlan', target: 'vx42b' })

  await t.rejects(createVxlan(rt, { name: 'vx9', vni: 9, underlay: 'nothere' }), { code: 'ENODEV', target: 'nothere' })
  await t.rejects(createVxlan(rt, { name: 'vx9', vni: 1 << 24 }), RangeError)
})
