// Permanent neighbour entries (ARP and NDP).
import t from 'tap'
import { addNeighbor, delNeighbor, delNeighborIfExists, listNeighbors, replaceNeighbor } from '../../../../pkg/link/neigh.js'
import { createVethPair } from '../../../../pkg/link/veth.js'
import { getLink, setLinkUp } from '../../../../pkg/link/link.js'
import { NUD_PERMANENT, NUD_NOARP } from '../../../../pkg/link/constants.js'
import { needsLinkKind } from '../../../helpers/privileges.js'
import { createRtnlNetns } from '../../../helpers/rtnl-ns.js'

interface NeighJson {
  dst: string
  dev: string
  lladdr?: string
  state?: string[]
  router?: null
}

t.test('permanent neighbours, IPv4 and IPv6', { skip: needsLinkKind('veth') }, async (t) => {
  const { ns, rt } = await createRtnlNetns(t)
  await createVethPair(rt, { name: 'eth0', peerName: 'peer0' })
  await setLinkUp(rt, 'eth0')
  const show = (): NeighJson[] => ns.ipJson(['neigh', 'show', 'nud', 'all', 'dev', 'eth0']) as NeighJson[]

  await addNeighbor(rt, { link: 'eth0', ip: '10.30.0.7', mac: '02:00:00:00:00:07' })
  await addNeighbor(rt, { link: 'eth0', ip: 'fd00:30::7', mac: '02:00:00:00:00:17', router: true })
  await addNeighbor(rt, { link: 'eth0', ip: '10.30.0.8', mac: '02:00:00:00:00:08', state: 'noarp' })

  const seen = show()
  t.match(seen.find((n) => n.dst === '10.30.0.7'), { lladdr: '02:00:00:00:00:07', state: ['PERMANENT'] })
  const v6 = seen.find((n) => n.dst === 'fd00:30::7')
  t.match(v6, { lladdr: '02:00:00:00:00:17', state: ['PERMANENT'] })
  t.ok(v6 && 'router' in v6, 'router flag')
  t.match(seen.find((n) => n.dst === '10.30.0.8'), { state: ['NOARP'] })

  const eth0 = await getLink(rt, 'eth0')
  const ours = await listNeighbors(rt, { link: 'eth0' })
  t.match(ours.find((n) => n.ip === '10.30.0.7'), { index: eth0.index, family: 4, mac: '02:00:00:00:00:07', state: NUD_PERMANENT })
  t.match(ours.find((n) => n.ip === 'fd00:30::7'), { family: 6, mac: '02:00:00:00:00:17' })
  t.equal(ours.find((n) => n.ip === '10.30.0.8')?.state, NUD_NOARP)
  t.ok((await listNeighbors(rt, { family: 6 })).every((n) => n.family === 6))

  await t.rejects(addNeighbor(rt, { link: 'eth0', ip: '10.30.0.7', mac: '02:00:00:00:00:99' }), {
    name: 'NetlinkError',
    code: 'EEXIST',
    op: 'add neighbour 10.30.0.7 lladdr 02:00:00:00:00:99 on',
    target: 'eth0',
  })
  await replaceNeighbor(rt, { link: 'eth0', ip: '10.30.0.7', mac: '02:00:00:00:00:99' })
  t.equal(show().find((n) => n.dst === '10.30.0.7')?.lladdr, '02:00:00:00:00:99', 'replaced')
  await replaceNeighbor(rt, { link: 'eth0', ip: '10.30.0.9', mac: '02:00:00:00:00:09' })
  t.ok(show().some((n) => n.dst === '10.30.0.9'), 'replace creates')

  await delNeighbor(rt, { link: 'eth0', ip: '10.30.0.7' })
  t.notOk(show().some((n) => n.dst === '10.30.0.7'))
  await t.rejects(delNeighbor(rt, { link: 'eth0', ip: '10.30.0.7' }), { code: 'ENOENT', op: 'delete neighbour 10.30.0.7 on', target: 'eth0' })
  t.equal(await delNeighborIfExists(rt, { link: 'eth0', ip: '10.30.0.7' }), false)
  t.equal(await delNeighborIfExists(rt, { link: 'eth0', ip: 'fd00:30::7' }), true)
  t.equal(await delNeighborIfExists(rt, { link: 'nothere', ip: 'fd00:30::7' }), false)
  await t.rejects(addNeighbor(rt, { link: 'eth0', ip: '10.30.0.7', mac: '02:00:00' }), { name: 'MacParseError' })
})
