// Routes, IPv4 and IPv6: via a gateway, device routes, default routes, onlink, metric, mtu/advmss, tables.
import t from 'tap'
import { addAddress } from '../../../../pkg/link/addr.js'
import { addRoute, delRoute, delRouteIfExists, listRoutes, replaceRoute } from '../../../../pkg/link/route.js'
import { createVethPair } from '../../../../pkg/link/veth.js'
import { getLink, setLinkUp } from '../../../../pkg/link/link.js'
import { RT_SCOPE_LINK, RT_SCOPE_UNIVERSE } from '../../../../pkg/link/constants.js'
import { needsLinkKind } from '../../../helpers/privileges.js'
import { createRtnlNetns } from '../../../helpers/rtnl-ns.js'

interface RouteJson {
  dst: string
  gateway?: string
  dev?: string
  scope?: string
  metric?: number
  flags?: string[]
  metrics?: { mtu?: number; advmss?: number }[]
  table?: string
  prefsrc?: string
}
const show = (ns: { ipJson(a: string[]): unknown }, family: '-4' | '-6', ...a: string[]): RouteJson[] => ns.ipJson([family, 'route', 'show', ...a]) as RouteJson[]

async function setup(t: { teardown(fn: () => unknown): void }) {
  const x = await createRtnlNetns(t)
  await createVethPair(x.rt, { name: 'eth0', peerName: 'peer0' })
  await setLinkUp(x.rt, 'eth0')
  await setLinkUp(x.rt, 'peer0')
  await addAddress(x.rt, 'eth0', '10.30.0.2/24')
  await addAddress(x.rt, 'eth0', 'fd00:30::2/64', { noDad: true })
  return x
}

t.test('IPv4 routes', { skip: needsLinkKind('veth') }, async (t) => {
  const { ns, rt } = await setup(t)
  await addRoute(rt, { dst: '10.40.0.0/16', gw: '10.30.0.1', metric: 50 })
  await addRoute(rt, { dst: '10.50.0.0/24', dev: 'eth0', mtu: 1300, advmss: 1260, src: '10.30.0.2' })
  await addRoute(rt, { gw: '10.30.0.1' })

  const seen = show(ns, '-4')
  t.match(seen.find((r) => r.dst === '10.40.0.0/16'), { gateway: '10.30.0.1', dev: 'eth0', metric: 50 })
  const dev = seen.find((r) => r.dst === '10.50.0.0/24')
  t.match(dev, { dev: 'eth0', scope: 'link', prefsrc: '10.30.0.2' }, 'a device route is link-scoped')
  t.same(dev?.metrics, [{ mtu: 1300, advmss: 1260 }])
  t.match(seen.find((r) => r.dst === 'default'), { gateway: '10.30.0.1', dev: 'eth0' })

  const eth0 = await getLink(rt, 'eth0')
  const ours = await listRoutes(rt, { family: 4 })
  t.match(ours.find((r) => r.dst === '10.40.0.0/16'), { gw: '10.30.0.1', devIndex: eth0.index, metric: 50, scope: RT_SCOPE_UNIVERSE, table: 254 })
  t.match(ours.find((r) => r.dst === '10.50.0.0/24'), { gw: undefined, mtu: 1300, advmss: 1260, scope: RT_SCOPE_LINK, src: '10.30.0.2' })
  t.match(ours.find((r) => r.dst === '0.0.0.0/0'), { gw: '10.30.0.1' }, 'default route')
  t.ok((await listRoutes(rt, { family: 4, dev: 'eth0' })).every((r) => r.devIndex === eth0.index))

  await t.rejects(addRoute(rt, { gw: '10.30.0.1' }), { name: 'NetlinkError', code: 'EEXIST', op: 'add route', target: 'default (IPv4) via 10.30.0.1' })
  await replaceRoute(rt, { gw: '10.30.0.3' })
  t.equal(show(ns, '-4').find((r) => r.dst === 'default')?.gateway, '10.30.0.3', 'replaced')

  await delRoute(rt, { dst: '10.40.0.0/16' })
  t.notOk(show(ns, '-4').some((r) => r.dst === '10.40.0.0/16'))
  await t.rejects(delRoute(rt, { dst: '10.40.0.0/16' }), { code: 'ESRCH', op: 'delete route', target: '10.40.0.0/16' })
  t.equal(await delRouteIfExists(rt, { dst: '10.40.0.0/16' }), false)
  t.equal(await delRouteIfExists(rt, { family: 4, gw: '10.30.0.3' }), true)
  t.notOk(show(ns, '-4').some((r) => r.dst === 'default'))
})

t.test('onlink: a gateway outside every subnet', { skip: needsLinkKind('veth') }, async (t) => {
  const { ns, rt } = await setup(t)
  // Without onlink the kernel refuses a gateway it cannot reach.
  await t.rejects(addRoute(rt, { gw: '192.168.255.1', dev: 'eth0' }), { name: 'NetlinkError', code: 'ENETUNREACH', op: 'add route' })
  await addRoute(rt, { gw: '192.168.255.1', dev: 'eth0', onlink: true })
  const d = show(ns, '-4').find((r) => r.dst === 'default')
  t.match(d, { gateway: '192.168.255.1', dev: 'eth0' })
  t.ok(d?.flags?.includes('onlink'), 'ip sees onlink')
  t.equal((await listRoutes(rt, { family: 4 })).find((r) => r.dst === '0.0.0.0/0')?.onlink, true)

  await addRoute(rt, { dst: 'fd00:99::/64', gw: 'fd00:ffff::1', dev: 'eth0', onlink: true })
  t.ok(show(ns, '-6').find((r) => r.dst === 'fd00:99::/64')?.flags?.includes('onlink'), 'IPv6 onlink')
})

t.test('IPv6 routes', { skip: needsLinkKind('veth') }, async (t) => {
  const { ns, rt } = await setup(t)
  await addRoute(rt, { dst: 'fd00:40::/64', gw: 'fd00:30::1', metric: 10 })
  await addRoute(rt, { gw: 'fd00:30::1', dev: 'eth0' })
  await addRoute(rt, { family: 6, dst: '::/0', gw: 'fd00:30::9', dev: 'eth0', metric: 2000 })
  const seen = show(ns, '-6')
  t.match(seen.find((r) => r.dst === 'fd00:40::/64'), { gateway: 'fd00:30::1', metric: 10 })
  t.same(
    seen.filter((r) => r.dst === 'default').map((r) => r.gateway).sort(),
    ['fd00:30::1', 'fd00:30::9'],
    'two default routes with different metrics',
  )

  const ours = await listRoutes(rt, { family: 6, dev: 'eth0' })
  t.match(ours.find((r) => r.dst === 'fd00:40::/64'), { family: 6, gw: 'fd00:30::1', metric: 10 })
  t.ok(ours.some((r) => r.dst === 'fd00:30::/64'), 'the prefix route of the address')
  t.same(ours.filter((r) => r.dst === '::/0').map((r) => r.gw).sort(), ['fd00:30::1', 'fd00:30::9'])

  await delRoute(rt, { family: 6, gw: 'fd00:30::9', metric: 2000 })
  t.same(show(ns, '-6').filter((r) => r.dst === 'default').map((r) => r.gateway), ['fd00:30::1'], 'deleted by metric and gateway')
  await t.rejects(addRoute(rt, { dst: '10.0.0.0/8', gw: 'fd00:30::1' }), TypeError, 'family mismatch')
  await t.rejects(addRoute(rt, { dev: 'eth0' }), TypeError, 'no family')
})

t.test('a route in another table', { skip: needsLinkKind('veth') }, async (t) => {
  const { ns, rt } = await setup(t)
  await addRoute(rt, { dst: '10.60.0.0/24', gw: '10.30.0.1', table: 100 })
  await addRoute(rt, { dst: '10.61.0.0/24', gw: '10.30.0.1', table: 1000 })
  t.match(show(ns, '-4', 'table', '100'), [{ dst: '10.60.0.0/24', gateway: '10.30.0.1' }])
  t.match(show(ns, '-4', 'table', '1000'), [{ dst: '10.61.0.0/24' }], 'table ids above 255 go in RTA_TABLE')
  t.notOk(show(ns, '-4').some((r) => r.dst === '10.60.0.0/24'), 'not in main')
  t.same((await listRoutes(rt, { family: 4, table: 100 })).map((r) => r.dst), ['10.60.0.0/24'])
  t.same((await listRoutes(rt, { family: 4, table: 1000 })).map((r) => r.dst), ['10.61.0.0/24'])
  await delRoute(rt, { dst: '10.61.0.0/24', table: 1000 })
  t.same(show(ns, '-4', 'table', '1000'), [])
})
