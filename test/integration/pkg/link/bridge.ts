// Bridges: create/ensure, ports (master/nomaster), up, vlan_filtering, hairpin/learning on a port.
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { bridgeInfoOf, createBridge, ensureBridge, setBridgeVlanFiltering } from '../../../../pkg/link/bridge.js'
import { createVethPair } from '../../../../pkg/link/veth.js'
import { bridgePortOf, getLink, setBridgePort, setLinkMaster, setLinkNoMaster, setLinkUp } from '../../../../pkg/link/link.js'
import { NetlinkError } from '../../../../pkg/errors/sys-error.js'
import { needsLinkKind } from '../../../helpers/privileges.js'
import { createRtnlNetns } from '../../../helpers/rtnl-ns.js'

interface IpLinkD {
  ifindex: number
  ifname: string
  mtu: number
  flags: string[]
  master?: string
  linkinfo?: {
    info_kind?: string
    info_data?: { vlan_filtering?: number }
    info_slave_kind?: string
    info_slave_data?: { hairpin?: boolean; learning?: boolean; flood?: boolean }
  }
}
const show = (ns: { ipJson(a: string[]): unknown }, name: string): IpLinkD | undefined => (ns.ipJson(['-d', 'link', 'show', name]) as IpLinkD[])[0]

t.test('bridge with a veth port, up', { skip: needsLinkKind('bridge') }, async (t) => {
  const { ns, rt } = await createRtnlNetns(t)
  await createBridge(rt, { name: 'br0', mtu: 1450 })
  await createVethPair(rt, { name: 'port0', peerName: 'ctr0', mtu: 1450 })
  await setLinkMaster(rt, 'port0', 'br0')
  await setLinkUp(rt, 'br0')
  await setLinkUp(rt, 'port0')

  const br = show(ns, 'br0')
  t.equal(br?.linkinfo?.info_kind, 'bridge')
  t.equal(br?.mtu, 1450)
  t.ok(br?.flags.includes('UP'))
  const port = show(ns, 'port0')
  t.equal(port?.master, 'br0', 'ip sees the port enslaved')
  t.equal(port?.linkinfo?.info_slave_kind, 'bridge')

  const brLink = await getLink(rt, 'br0')
  const portLink = await getLink(rt, 'port0')
  t.equal(brLink.kind, 'bridge')
  t.equal(portLink.masterIndex, brLink.index)
  t.equal(portLink.slaveKind, 'bridge')
  t.same(bridgeInfoOf(brLink), { vlanFiltering: false })

  await setLinkNoMaster(rt, 'port0')
  t.equal(show(ns, 'port0')?.master, undefined, 'nomaster')
  t.equal((await getLink(rt, 'port0')).masterIndex, undefined)

  await t.rejects(setLinkMaster(rt, 'port0', 'nobridge'), { name: 'NetlinkError', code: 'ENODEV', target: 'port0', op: 'set master nobridge on' })
})

t.test('hairpin and learning on a bridge port', { skip: needsLinkKind('bridge') }, async (t) => {
  const { ns, rt } = await createRtnlNetns(t)
  await createBridge(rt, { name: 'br0' })
  await createVethPair(rt, { name: 'port0', peerName: 'ctr0' })
  await setLinkMaster(rt, 'port0', 'br0')

  const before = show(ns, 'port0')?.linkinfo?.info_slave_data
  t.equal(before?.hairpin, false, 'kernel default: hairpin off')
  t.equal(before?.learning, true, 'kernel default: learning on')

  await setBridgePort(rt, 'port0', { hairpin: true, learning: false })
  const after = show(ns, 'port0')?.linkinfo?.info_slave_data
  t.equal(after?.hairpin, true, 'hairpin on')
  t.equal(after?.learning, false, 'learning off')
  t.same(bridgePortOf(await getLink(rt, 'port0')), { hairpin: true, learning: false, flood: true })

  await setBridgePort(rt, 'port0', { hairpin: false })
  t.equal(show(ns, 'port0')?.linkinfo?.info_slave_data?.hairpin, false)
  t.equal(show(ns, 'port0')?.linkinfo?.info_slave_data?.learning, false, 'untouched settings stay')

  await setLinkNoMaster(rt, 'port0')
  t.equal(bridgePortOf(await getLink(rt, 'port0')), undefined, 'not a port any more')
  await t.rejects(setBridgePort(rt, 'port0', { hairpin: true }), { name: 'NetlinkError', op: 'set bridge port', target: 'port0' }, 'not enslaved')
})

t.test('ensureBridge creates, reuses, and refuses another kind', { skip: needsLinkKind('bridge') }, async (t) => {
  const { rt } = await createRtnlNetns(t)
  const a = await ensureBridge(rt, { name: 'cni0' })
  t.equal(a.kind, 'bridge')
  const b = await ensureBridge(rt, { name: 'cni0', vlanFiltering: false })
  t.equal(b.index, a.index, 'reused (vlan_filtering already off: nothing to change)')

  // Concurrent ensures converge on one bridge.
  const [x, y] = await Promise.all([ensureBridge(rt, { name: 'cni1' }), ensureBridge(rt, { name: 'cni1' })])
  t.equal(x.index, y.index)

  await createVethPair(rt, { name: 'notbr', peerName: 'notbr1' })
  const e = await ensureBridge(rt, { name: 'notbr' }).catch((x: unknown) => x)
  t.ok(e instanceof NetlinkError)
  t.match(e, { code: 'EEXIST', target: 'notbr', op: /ensure bridge \(found veth/ })
  await t.rejects(createBridge(rt, { name: 'cni0' }), { code: 'EEXIST', op: 'create bridge', target: 'cni0' })
})

function needsVlanFiltering(): false | string {
  const kind = needsLinkKind('bridge')
  if (kind) return kind
  try {
    execFileSync('unshare', ['--net', 'ip', 'link', 'add', 'probe0', 'type', 'bridge', 'vlan_filtering', '1'], { stdio: 'ignore', timeout: 5000 })
    return false
  } catch {
    return 'kernel bridge has no VLAN filtering (CONFIG_BRIDGE_VLAN_FILTERING)'
  }
}

t.test('vlan_filtering on create, on ensure, and set later', { skip: needsVlanFiltering() }, async (t) => {
  const { ns, rt } = await createRtnlNetns(t)
  const a = await ensureBridge(rt, { name: 'cni0', vlanFiltering: true })
  t.equal(show(ns, 'cni0')?.linkinfo?.info_data?.vlan_filtering, 1, 'created with vlan_filtering')
  const b = await ensureBridge(rt, { name: 'cni0' })
  t.equal(b.index, a.index, 'reused')
  t.equal(show(ns, 'cni0')?.linkinfo?.info_data?.vlan_filtering, 1, 'left as it was')
  const c = await ensureBridge(rt, { name: 'cni0', vlanFiltering: false })
  t.equal(c.index, a.index)
  t.equal(show(ns, 'cni0')?.linkinfo?.info_data?.vlan_filtering, 0, 'vlan_filtering brought in line')
  t.same(bridgeInfoOf(c), { vlanFiltering: false })
  await setBridgeVlanFiltering(rt, 'cni0', true)
  t.same(bridgeInfoOf(await getLink(rt, 'cni0')), { vlanFiltering: true })
})

t.test('vlan_filtering unsupported by the kernel is reported, not ignored', { skip: needsLinkKind('bridge') || (needsVlanFiltering() === false ? 'kernel supports VLAN filtering' : false) }, async (t) => {
  const { rt } = await createRtnlNetns(t)
  await t.rejects(createBridge(rt, { name: 'br0', vlanFiltering: true }), { name: 'NetlinkError', code: 'EOPNOTSUPP', op: 'create bridge', target: 'br0' })
})
