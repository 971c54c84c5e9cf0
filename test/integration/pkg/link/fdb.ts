// Bridge FDB entries: remote VTEPs on a vxlan (NTF_SELF, dst), and static entries on a bridge port (NTF_MASTER).
import t from 'tap'
import { createVxlan } from '../../../../pkg/link/vxlan.js'
import { createBridge } from '../../../../pkg/link/bridge.js'
import { createVethPair } from '../../../../pkg/link/veth.js'
import { getLink, setLinkMaster } from '../../../../pkg/link/link.js'
import { addFdb, appendFdb, delFdb, delFdbIfExists, listFdb, replaceFdb } from '../../../../pkg/link/fdb.js'
import { NTF_SELF, NUD_NOARP, NUD_PERMANENT } from '../../../../pkg/link/constants.js'
import { needsLinkKind } from '../../../helpers/privileges.js'
import { createRtnlNetns } from '../../../helpers/rtnl-ns.js'

interface FdbJson {
  mac: string
  dst?: string
  port?: number
  vni?: number
  flags?: string[]
  master?: string
  state?: string
}

t.test('vxlan FDB: append, replace, list, delete', { skip: needsLinkKind('vxlan') }, async (t) => {
  const { ns, rt } = await createRtnlNetns(t)
  await createVxlan(rt, { name: 'vx0', vni: 42, local: '10.9.0.1', learning: false })
  const fdb = (): FdbJson[] => (JSON.parse(ns.exec('bridge', ['-j', 'fdb', 'show', 'dev', 'vx0']) || '[]') as FdbJson[])
  const zero = '00:00:00:00:00:00'

  // Flood list: one all-zero entry per remote VTEP.
  await appendFdb(rt, { link: 'vx0', mac: zero, dst: '10.9.0.2' })
  await appendFdb(rt, { link: 'vx0', mac: zero, dst: '10.9.0.3' })
  await appendFdb(rt, { link: 'vx0', mac: zero, dst: '10.9.0.3' }) // vxlan: appending a present pair is a no-op
  await t.rejects(addFdb(rt, { link: 'vx0', mac: zero, dst: '10.9.0.4' }), { name: 'NetlinkError', code: 'EEXIST', op: `add fdb entry ${zero} dst 10.9.0.4 on`, target: 'vx0' })
  // A container MAC behind a VTEP, with its own port and VNI.
  await addFdb(rt, { link: 'vx0', mac: '02:00:00:00:00:09', dst: '10.9.0.2', port: 4790, vni: 43 })

  const seen = fdb()
  const zeros = seen.filter((e) => e.mac === zero).map((e) => e.dst).sort()
  t.same(zeros, ['10.9.0.2', '10.9.0.3'], 'bridge fdb shows both flood entries')
  const c = seen.find((e) => e.mac === '02:00:00:00:00:09')
  t.match(c, { dst: '10.9.0.2', port: 4790, vni: 43, state: 'permanent' })
  t.ok(c?.flags?.includes('self'))

  const ours = await listFdb(rt, { link: 'vx0' })
  const vx = await getLink(rt, 'vx0')
  t.same(
    ours.filter((e) => e.mac === zero).map((e) => e.dst).sort(),
    ['10.9.0.2', '10.9.0.3'],
  )
  const mine = ours.find((e) => e.mac === '02:00:00:00:00:09')
  t.match(mine, { index: vx.index, dst: '10.9.0.2', port: 4790, vni: 43, state: NUD_PERMANENT })
  t.equal((mine?.flags ?? 0) & NTF_SELF, NTF_SELF)

  // Move the container to another VTEP.
  await replaceFdb(rt, { link: 'vx0', mac: '02:00:00:00:00:09', dst: '10.9.0.3' })
  t.equal(fdb().find((e) => e.mac === '02:00:00:00:00:09')?.dst, '10.9.0.3')

  // Deleting one flood destination leaves the other.
  await delFdb(rt, { link: 'vx0', mac: zero, dst: '10.9.0.2' })
  t.same(fdb().filter((e) => e.mac === zero).map((e) => e.dst), ['10.9.0.3'])
  t.equal(await delFdbIfExists(rt, { link: 'vx0', mac: '02:00:00:00:00:09' }), true)
  t.equal(await delFdbIfExists(rt, { link: 'vx0', mac: '02:00:00:00:00:09' }), false, 'already gone')
  t.equal(await delFdbIfExists(rt, { link: 'nodev0', mac: zero }), false, 'missing device')
  await t.rejects(delFdb(rt, { link: 'vx0', mac: '02:00:00:00:00:77' }), { code: 'ENOENT', target: 'vx0' })
})

t.test('bridge FDB: a static entry on a port (master)', { skip: needsLinkKind('bridge') }, async (t) => {
  const { ns, rt } = await createRtnlNetns(t)
  await createBridge(rt, { name: 'br0' })
  await createVethPair(rt, { name: 'port0', peerName: 'ctr0' })
  await setLinkMaster(rt, 'port0', 'br0')
  await addFdb(rt, { link: 'port0', mac: '02:00:00:00:00:aa', master: true, state: 'static' })
  const seen = JSON.parse(ns.exec('bridge', ['-j', 'fdb', 'show', 'dev', 'port0'])) as FdbJson[]
  const e = seen.find((x) => x.mac === '02:00:00:00:00:aa')
  t.equal(e?.master, 'br0')
  t.equal(e?.state, 'static')

  const ours = (await listFdb(rt, { link: 'port0' })).find((x) => x.mac === '02:00:00:00:00:aa')
  t.equal(ours?.masterIndex, (await getLink(rt, 'br0')).index)
  t.equal(ours?.state, NUD_NOARP)
  await delFdb(rt, { link: 'port0', mac: '02:00:00:00:00:aa', master: true })
  t.notOk((await listFdb(rt, { link: 'port0' })).some((x) => x.mac === '02:00:00:00:00:aa'))
})
