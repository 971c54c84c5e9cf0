// Addresses, IPv4 and IPv6, with noprefixroute / nodad, listed and deleted.
import t from 'tap'
import { addAddress, delAddress, delAddressIfExists, listAddresses, replaceAddress } from '../../../../pkg/link/addr.js'
import { createVethPair } from '../../../../pkg/link/veth.js'
import { getLink, setLinkUp } from '../../../../pkg/link/link.js'
import { IFA_F_NODAD, IFA_F_NOPREFIXROUTE, IFA_F_PERMANENT } from '../../../../pkg/link/constants.js'
import { needsLinkKind } from '../../../helpers/privileges.js'
import { createRtnlNetns } from '../../../helpers/rtnl-ns.js'

interface AddrInfo {
  family: string
  local: string
  prefixlen: number
  broadcast?: string
  noprefixroute?: boolean
  nodad?: boolean
  tentative?: boolean
  scope: string
  label?: string
}
const addrs = (ns: { ipJson(a: string[]): unknown }, dev: string): AddrInfo[] =>
  ((ns.ipJson(['addr', 'show', 'dev', dev]) as { addr_info: AddrInfo[] }[])[0]?.addr_info ?? []).filter((a) => a.scope !== 'link')
const routes = (ns: { ipJson(a: string[]): unknown }, family = '-4'): { dst: string }[] => ns.ipJson([family, 'route', 'show']) as { dst: string }[]

t.test('IPv4 and IPv6 addresses', { skip: needsLinkKind('veth') }, async (t) => {
  const { ns, rt } = await createRtnlNetns(t)
  await createVethPair(rt, { name: 'eth0', peerName: 'peer0' })
  await setLinkUp(rt, 'eth0')
  await setLinkUp(rt, 'peer0')

  await addAddress(rt, 'eth0', '10.22.0.5/24')
  await addAddress(rt, 'eth0', '10.23.0.5/16', { noPrefixRoute: true, broadcast: false, label: 'eth0:x' })
  await addAddress(rt, 'eth0', 'fd00:22::5/64', { noDad: true })
  await addAddress(rt, 'eth0', 'fd00:23::5/64', { noDad: true, noPrefixRoute: true })

  const seen = addrs(ns, 'eth0')
  const a4 = seen.find((a) => a.local === '10.22.0.5')
  t.match(a4, { family: 'inet', prefixlen: 24, broadcast: '10.22.0.255', scope: 'global' }, 'broadcast computed like `brd +`')
  const b4 = seen.find((a) => a.local === '10.23.0.5')
  t.match(b4, { prefixlen: 16, noprefixroute: true, label: 'eth0:x' })
  t.equal(b4?.broadcast, undefined, 'no broadcast when asked')
  const a6 = seen.find((a) => a.local === 'fd00:22::5')
  t.match(a6, { family: 'inet6', prefixlen: 64, nodad: true })
  t.notOk(a6?.tentative, 'usable at once: no DAD')
  t.match(seen.find((a) => a.local === 'fd00:23::5'), { noprefixroute: true, nodad: true })

  // The prefix routes exist only for the addresses without noprefixroute.
  const r4 = routes(ns).map((r) => r.dst)
  t.ok(r4.includes('10.22.0.0/24'))
  t.notOk(r4.includes('10.23.0.0/16'))
  const r6 = routes(ns, '-6').map((r) => r.dst)
  t.ok(r6.includes('fd00:22::/64'))
  t.notOk(r6.includes('fd00:23::/64'))

  // Our listing agrees.
  const eth0 = await getLink(rt, 'eth0')
  const ours = await listAddresses(rt, { link: 'eth0' })
  t.ok(ours.every((a) => a.index === eth0.index))
  const o4 = ours.find((a) => a.cidr === '10.22.0.5/24')
  t.match(o4, { family: 4, ip: '10.22.0.5', prefixLen: 24, broadcast: '10.22.0.255' })
  t.equal((o4?.flags ?? 0) & IFA_F_PERMANENT, IFA_F_PERMANENT)
  t.equal((ours.find((a) => a.ip === '10.23.0.5')?.flags ?? 0) & IFA_F_NOPREFIXROUTE, IFA_F_NOPREFIXROUTE)
  t.equal(ours.find((a) => a.ip === '10.23.0.5')?.label, 'eth0:x')
  const o6 = ours.find((a) => a.ip === 'fd00:22::5')
  t.match(o6, { family: 6, prefixLen: 64, cidr: 'fd00:22::5/64' })
  t.equal((o6?.flags ?? 0) & IFA_F_NODAD, IFA_F_NODAD)
  t.same((await listAddresses(rt, { link: 'eth0', family: 4 })).map((a) => a.cidr).sort(), ['10.22.0.5/24', '10.23.0.5/16'])
  t.ok((await listAddresses(rt, { family: 6 })).every((a) => a.family === 6))
  await setLinkUp(rt, 'lo')
  t.ok((await listAddresses(rt)).some((a) => a.ip === '127.0.0.1'), 'whole namespace includes lo')

  await t.rejects(addAddress(rt, 'eth0', '10.22.0.5/24'), { name: 'NetlinkError', code: 'EEXIST', op: 'add address 10.22.0.5/24 on', target: 'eth0' })
  await t.rejects(addAddress(rt, 'nothere', '10.22.0.6/24'), { name: 'NetlinkError', code: 'ENODEV' })
  await replaceAddress(rt, 'eth0', '10.22.0.5/24')
  t.pass('replace accepts a present address')
  await replaceAddress(rt, 'eth0', '10.24.0.5/24')
  t.ok(addrs(ns, 'eth0').some((a) => a.local === '10.24.0.5'), 'replace adds a missing one')
  await delAddress(rt, 'eth0', '10.24.0.5/24')
  await replaceAddress(rt, 'eth0', 'fd00:22::5/64', { noDad: true, noPrefixRoute: true })
  t.equal(addrs(ns, 'eth0').find((a) => a.local === 'fd00:22::5')?.noprefixroute, true, 'IPv6 replace updates flags')

  await delAddress(rt, 'eth0', '10.22.0.5/24')
  await delAddress(rt, eth0, 'fd00:22::5/64')
  const left = addrs(ns, 'eth0').map((a) => a.local).sort()
  t.same(left, ['10.23.0.5', 'fd00:23::5'])
  await t.rejects(delAddress(rt, 'eth0', '10.22.0.5/24'), { code: 'EADDRNOTAVAIL', op: 'delete address 10.22.0.5/24 from', target: 'eth0' })
  t.equal(await delAddressIfExists(rt, 'eth0', '10.22.0.5/24'), false)
  t.equal(await delAddressIfExists(rt, 'eth0', 'fd00:23::5/64'), true)
  t.equal(await delAddressIfExists(rt, 'nothere', '10.0.0.1/8'), false, 'missing link')
  await t.rejects(addAddress(rt, 'eth0', '10.22.0.300/24'), { name: 'IpParseError', input: '10.22.0.300/24' }, 'bad CIDR is refused before any request')
})
