// veth pairs across namespaces, and the `ip link set` changes: MTU, MAC, rename, up/down, promisc, netns.
import t from 'tap'
import { createVethPair } from '../../../../pkg/link/veth.js'
import {
  delLink,
  delLinkIfExists,
  getLink,
  linkByIndex,
  linkByName,
  listLinks,
  moveLinkToNetns,
  renameLink,
  setLinkDown,
  setLinkMac,
  setLinkMtu,
  setLinkPromisc,
  setLinkUp,
} from '../../../../pkg/link/link.js'
import { IFF_PROMISC, IFF_UP } from '../../../../pkg/link/constants.js'
import { NetlinkError } from '../../../../pkg/errors/sys-error.js'
import { needsLinkKind } from '../../../helpers/privileges.js'
import { createRtnlNetns } from '../../../helpers/rtnl-ns.js'

interface IpLink {
  ifindex: number
  ifname: string
  mtu: number
  address: string
  flags: string[]
  link?: string
  link_index?: number
  link_netnsid?: number
  operstate: string
  linkinfo?: { info_kind?: string }
}

const ipLinks = (ns: { ipJson(a: string[]): unknown }, ...args: string[]): IpLink[] => ns.ipJson(['-d', 'link', 'show', ...args]) as IpLink[]

t.test('veth pair across two namespaces', { skip: needsLinkKind('veth') }, async (t) => {
  const a = await createRtnlNetns(t)
  const b = await createRtnlNetns(t)
  await createVethPair(a.rt, { name: 'eth0', peerName: 'vethpeer0', peerNetns: b.handle, mtu: 1400, mac: '02:00:00:00:00:01', peerMac: '02:00:00:00:00:02' })

  // Each end is in its own namespace, as the kernel sees it.
  const [inA] = ipLinks(a.ns, 'eth0')
  const [inB] = ipLinks(b.ns, 'vethpeer0')
  t.equal(inA?.linkinfo?.info_kind, 'veth')
  t.equal(inA?.mtu, 1400)
  t.equal(inA?.address, '02:00:00:00:00:01')
  t.equal(inB?.mtu, 1400, 'peer MTU defaults to the MTU')
  t.equal(inB?.address, '02:00:00:00:00:02')
  t.throws(() => a.ns.exec('ip', ['link', 'show', 'vethpeer0']), 'the peer is not in namespace A')
  t.throws(() => b.ns.exec('ip', ['link', 'show', 'eth0']), 'eth0 is not in namespace B')

  // What we read back agrees with ip.
  const l = await getLink(a.rt, 'eth0')
  t.equal(l.index, inA?.ifindex)
  t.equal(l.kind, 'veth')
  t.equal(l.mtu, 1400)
  t.equal(l.mac, '02:00:00:00:00:01')
  t.equal(l.up, false)
  t.equal(l.parentIndex, inB?.ifindex, 'IFLA_LINK is the peer ifindex in the other namespace')
  t.type(l.netnsId, 'number', 'IFLA_LINK_NETNSID set for a peer in another namespace')
  t.equal(l.netnsId, inA?.link_netnsid)
  const peer = await getLink(b.rt, 'vethpeer0')
  t.equal(peer.parentIndex, l.index)

  t.same((await listLinks(a.rt)).map((x) => x.name).sort(), ['eth0', 'lo'])
  t.equal((await linkByIndex(a.rt, l.index))?.name, 'eth0')
  t.equal(await linkByName(a.rt, 'nothere0'), undefined)
  t.equal(await linkByIndex(a.rt, 99999), undefined)

  // Deleting one end deletes both.
  await delLink(b.rt, 'vethpeer0')
  t.equal(await linkByName(a.rt, 'eth0'), undefined)
})

t.test('veth pair in one namespace, up/down, promisc', { skip: needsLinkKind('veth') }, async (t) => {
  const a = await createRtnlNetns(t)
  await createVethPair(a.rt, { name: 'va', peerName: 'vb' })
  await setLinkUp(a.rt, 'va')
  await setLinkUp(a.rt, 'vb')
  const [va] = ipLinks(a.ns, 'va')
  t.ok(va?.flags.includes('UP'), 'ip sees UP')
  t.ok(va?.flags.includes('LOWER_UP'), 'carrier once both ends are up')
  const l = await getLink(a.rt, 'va')
  t.ok(l.up)
  t.equal(l.flags & IFF_UP, IFF_UP)
  t.equal(l.operstate, 'up')

  await setLinkPromisc(a.rt, 'va', true)
  t.ok(ipLinks(a.ns, 'va')[0]?.flags.includes('PROMISC'))
  t.equal((await getLink(a.rt, 'va')).flags & IFF_PROMISC, IFF_PROMISC)
  await setLinkPromisc(a.rt, 'va', false)
  t.notOk(ipLinks(a.ns, 'va')[0]?.flags.includes('PROMISC'))

  await setLinkDown(a.rt, l)
  t.notOk(ipLinks(a.ns, 'va')[0]?.flags.includes('UP'))
  t.equal((await getLink(a.rt, 'va')).up, false)
})

t.test('MTU, MAC, rename, move to another namespace', { skip: needsLinkKind('veth') }, async (t) => {
  const a = await createRtnlNetns(t)
  const b = await createRtnlNetns(t)
  await createVethPair(a.rt, { name: 'v0', peerName: 'v1' })

  await setLinkMtu(a.rt, 'v0', 1280)
  t.equal(ipLinks(a.ns, 'v0')[0]?.mtu, 1280)
  await setLinkMac(a.rt, 'v0', '02:AA:bb:cc:dd:ee')
  t.equal(ipLinks(a.ns, 'v0')[0]?.address, '02:aa:bb:cc:dd:ee')

  const before = await getLink(a.rt, 'v0')
  await renameLink(a.rt, 'v0', 'renamed0')
  t.equal(ipLinks(a.ns, 'renamed0')[0]?.ifindex, before.index, 'same link, new name')
  t.equal(await linkByName(a.rt, 'v0'), undefined)

  // A taken name is EEXIST, naming both names.
  await t.rejects(renameLink(a.rt, 'renamed0', 'v1'), { name: 'NetlinkError', code: 'EEXIST', op: 'set name v1 on', target: 'renamed0' })

  await moveLinkToNetns(a.rt, 'renamed0', b.handle)
  t.equal(await linkByName(a.rt, 'renamed0'), undefined, 'gone from A')
  t.equal(ipLinks(b.ns, 'renamed0')[0]?.mtu, 1280, 'in B with its settings')

  await moveLinkToNetns(a.rt, 'v1', b.handle, 'eth1')
  t.ok(ipLinks(b.ns, 'eth1')[0], 'moved and renamed in one step')
  t.equal((await getLink(b.rt, 'eth1')).parentIndex, (await getLink(b.rt, 'renamed0')).index, 'peers again in one namespace')

  // Move + rename onto a taken name: the kernel moves first, then fails the rename.
  await createVethPair(a.rt, { name: 'w0', peerName: 'w1' })
  await t.rejects(moveLinkToNetns(a.rt, 'w0', b.handle, 'eth1'), { name: 'NetlinkError', code: 'EEXIST', op: `set netns ${b.handle.path} on`, target: 'w0' })
  t.equal(await linkByName(a.rt, 'w0'), undefined, 'not atomic: the link left A anyway')
  t.ok(await linkByName(b.rt, 'w0'), 'and is in B under its old name')
})

t.test('errors name the operation and the object', { skip: needsLinkKind('veth') }, async (t) => {
  const a = await createRtnlNetns(t)
  await createVethPair(a.rt, { name: 'eth0', peerName: 'p0' })
  const e = await createVethPair(a.rt, { name: 'eth0', peerName: 'p1' }).then(
    () => undefined,
    (x: unknown) => x,
  )
  t.ok(e instanceof NetlinkError, 'a NetlinkError')
  t.match(e, { code: 'EEXIST', errno: 17, target: 'eth0', op: 'create veth (peer p1)' })
  t.equal((e as Error).message, 'create veth (peer p1) eth0: EEXIST')

  await t.rejects(getLink(a.rt, 'nothere'), { name: 'NetlinkError', code: 'ENODEV', op: 'get link', target: 'nothere' })
  await t.rejects(delLink(a.rt, 'nothere'), { code: 'ENODEV', op: 'delete link', target: 'nothere' })
  await t.rejects(setLinkUp(a.rt, 'nothere'), { code: 'ENODEV', op: 'set link up', target: 'nothere' })
  await t.rejects(setLinkMtu(a.rt, 'eth0', 10), { code: 'EINVAL', op: 'set link mtu', target: 'eth0' })
  t.equal(await delLinkIfExists(a.rt, 'nothere'), false)
  t.equal(await delLinkIfExists(a.rt, 'eth0'), true)
  t.equal(await delLinkIfExists(a.rt, 'eth0'), false, 'idempotent')
})
