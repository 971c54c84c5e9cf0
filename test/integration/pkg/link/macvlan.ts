// macvlan on a veth parent, in the parent's namespace or created directly in another one; dummy links.
import t from 'tap'
import { createMacvlan, macvlanInfoOf } from '../../../../pkg/link/macvlan.js'
import { createDummy } from '../../../../pkg/link/dummy.js'
import { createVethPair } from '../../../../pkg/link/veth.js'
import { getLink, linkByName } from '../../../../pkg/link/link.js'
import { needsLinkKind } from '../../../helpers/privileges.js'
import { createRtnlNetns } from '../../../helpers/rtnl-ns.js'

interface IpLinkD {
  ifindex: number
  ifname: string
  mtu: number
  link?: string
  link_index?: number
  linkinfo?: { info_kind?: string; info_data?: { mode?: string; bcqueuelen?: number } }
}
const show = (ns: { ipJson(a: string[]): unknown }, name: string): IpLinkD | undefined => (ns.ipJson(['-d', 'link', 'show', name]) as IpLinkD[])[0]

t.test('macvlan on a veth parent', { skip: needsLinkKind('macvlan') }, async (t) => {
  const { ns, rt } = await createRtnlNetns(t)
  await createVethPair(rt, { name: 'parent0', peerName: 'parent1' })
  await createMacvlan(rt, { name: 'mv0', parent: 'parent0', mode: 'bridge', mtu: 1400 })
  await createMacvlan(rt, { name: 'mv1', parent: 'parent0', mode: 'private', bcQueueLen: 333 })
  const j = show(ns, 'mv0')
  t.equal(j?.linkinfo?.info_kind, 'macvlan')
  t.equal(j?.linkinfo?.info_data?.mode, 'bridge')
  t.equal(j?.link, 'parent0')
  t.equal(j?.mtu, 1400)
  t.equal(show(ns, 'mv1')?.linkinfo?.info_data?.mode, 'private')
  t.equal(show(ns, 'mv1')?.linkinfo?.info_data?.bcqueuelen, 333, 'bcqueuelen (an attribute netlink 0.3.0 lacks)')

  const l = await getLink(rt, 'mv0')
  t.equal(l.kind, 'macvlan')
  t.equal(l.parentIndex, (await getLink(rt, 'parent0')).index)
  t.same(macvlanInfoOf(l), { mode: 'bridge' })
  t.same(macvlanInfoOf(await getLink(rt, 'mv1')), { mode: 'private' })
  t.equal(macvlanInfoOf(await getLink(rt, 'parent0')), undefined)

  await t.rejects(createMacvlan(rt, { name: 'mv0', parent: 'parent0' }), { name: 'NetlinkError', code: 'EEXIST', op: 'create macvlan', target: 'mv0' })
  await t.rejects(createMacvlan(rt, { name: 'mv2', parent: 'nothere' }), { code: 'ENODEV', target: 'nothere' })
})

t.test('macvlan created directly in another namespace', { skip: needsLinkKind('macvlan') }, async (t) => {
  const host = await createRtnlNetns(t)
  const ctr = await createRtnlNetns(t)
  await createVethPair(host.rt, { name: 'uplink0', peerName: 'uplink1' })
  await createMacvlan(host.rt, { name: 'eth0', parent: 'uplink0', mode: 'vepa', netns: ctr.handle })
  t.equal(await linkByName(host.rt, 'eth0'), undefined, 'not in the parent namespace')
  const j = show(ctr.ns, 'eth0')
  t.equal(j?.linkinfo?.info_kind, 'macvlan')
  t.equal(j?.linkinfo?.info_data?.mode, 'vepa')
  const l = await getLink(ctr.rt, 'eth0')
  t.type(l.netnsId, 'number', 'its parent is in another namespace')
})

t.test('dummy link', { skip: needsLinkKind('dummy') }, async (t) => {
  const { ns, rt } = await createRtnlNetns(t)
  await createDummy(rt, { name: 'dummy0', mtu: 9000 })
  t.equal(show(ns, 'dummy0')?.linkinfo?.info_kind, 'dummy')
  t.equal((await getLink(rt, 'dummy0')).mtu, 9000)
})

t.test('a kind the kernel lacks is reported as such', { skip: needsLinkKind('dummy') === false ? 'kernel has dummy' : false }, async (t) => {
  const { rt } = await createRtnlNetns(t)
  await t.rejects(createDummy(rt, { name: 'dummy0' }), { name: 'NetlinkError', code: 'EOPNOTSUPP', op: 'create dummy', target: 'dummy0' })
})
