// One host: ADD → CHECK → DEL → DEL for each CNI version with CHECK, a failure in the delegated bridge ADD
// that must undo the host side this ADD made, and a CHECK that reports the missing VXLAN device.
// Two hosts with directRouting: a plain route via the peer's underlay address, no VXLAN entries.
import t from 'tap'
import { spawn } from 'node:child_process'
import { readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createTestNetns } from '../../../helpers/netns.js'
import { containerId } from '../../../helpers/names.js'
import { createFakeRig, overlayRoutes, type FakeHost } from '../../../helpers/overlay-hosts.js'
import { pingOk } from '../../../helpers/overlay-traffic.js'
import { needsBuiltBin, needsLinkKind } from '../../../helpers/privileges.js'
import { BIN_DIR } from '../../../helpers/paths.js'
import { openStore } from '../../../../pkg/overlay/store.js'

const skip = needsLinkKind('vxlan') || needsBuiltBin('overlay-vxlan', BIN_DIR)
const links = (h: FakeHost) => (h.ns.ipJson(['link', 'show']) as { ifname: string }[]).map((l) => l.ifname).filter((n) => n !== 'lo' && n !== 'eth0').sort()
const records = (h: FakeHost) => {
  try {
    return readdirSync(join(h.root, 'var/lib/cni/overlay-vxlan'), { recursive: true }).map(String).filter((f) => f.endsWith('.json'))
  } catch {
    return []
  }
}

t.test('lifecycle per CNI version, rollback, CHECK', { skip }, async (t) => {
  const rig = await createFakeRig(t, 1)
  const h = rig.hosts[0]!
  const storePath = t.testdir({})
  const base = { type: 'overlay-vxlan', name: 'ovl', clusterCidr: '10.247.0.0/16', vni: 5, store: { type: 'file', path: storePath } }

  await t.test('a failing bridge ADD undoes everything this ADD made', async (t) => {
    const cont = await createTestNetns(t)
    // the container already has an eth0: the delegated bridge refuses (101)
    cont.exec('ip', ['link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'x0'])
    const r = h.plugin('overlay-vxlan', 'ADD', { containerId: containerId(), netns: cont.path, stdin: { ...base, cniVersion: '1.1.0' } })
    t.equal(r.json?.['code'], 101, r.stdout)
    t.same(links(h), [], 'no VXLAN device or bridge left')
    t.notMatch(h.ns.exec('nft', ['list', 'tables']), /berth_overlay/, 'no NAT table left')
    t.same(records(h), [], 'no attachment record')
    t.same(await openStore({ type: 'file', path: storePath }).list('ovl'), [], 'the lease this ADD took is released')
  })

  for (const v of ['0.4.0', '1.0.0', '1.1.0']) {
    await t.test(`cniVersion ${v}: ADD, CHECK, DEL, DEL`, async (t) => {
      const conf = { ...base, cniVersion: v }
      const cont = await createTestNetns(t)
      const id = containerId()
      const add = h.plugin('overlay-vxlan', 'ADD', { containerId: id, netns: cont.path, stdin: conf })
      t.equal(add.status, 0, add.stdout)
      t.equal(add.json?.['cniVersion'], v)
      const ips = add.json?.['ips'] as { address: string; version?: string }[] | undefined
      t.match(ips?.[0]?.address, /^10\.247\.\d+\.\d+\/24$/)
      if (v === '0.4.0') t.equal(ips?.[0]?.version, '4', '0.4.0 result shape')
      const check = h.plugin('overlay-vxlan', 'CHECK', { containerId: id, netns: cont.path, stdin: { ...conf, prevResult: add.json } })
      t.equal(check.status, 0, `CHECK: ${check.stdout}`)
      t.equal(h.plugin('overlay-vxlan', 'DEL', { containerId: id, netns: cont.path, stdin: { ...conf, prevResult: add.json } }).status, 0, 'DEL')
      t.equal(h.plugin('overlay-vxlan', 'DEL', { containerId: id, netns: cont.path, stdin: conf }).status, 0, 'DEL again')
      t.same((cont.ipJson(['link', 'show']) as { ifname: string }[]).map((l) => l.ifname), ['lo'], 'container interface gone')
      t.same(records(h), [], 'record gone')
      t.ok(links(h).includes('berth.5'), 'the VXLAN device stays for the host')
    })
  }

  await t.test('GC removes attachments the runtime no longer knows', async (t) => {
    const conf = { ...base, cniVersion: '1.1.0' }
    const [keep, stale] = [await createTestNetns(t), await createTestNetns(t)]
    const [keepId, staleId] = [containerId(), containerId()]
    t.equal(h.plugin('overlay-vxlan', 'ADD', { containerId: keepId, netns: keep.path, stdin: conf }).status, 0)
    t.equal(h.plugin('overlay-vxlan', 'ADD', { containerId: staleId, netns: stale.path, stdin: conf }).status, 0)
    t.equal(records(h).length, 2)
    // a reservation with no attachment record (an ADD killed between IPAM and its record): host-local's format
    const resDir = join(h.root, 'var/lib/cni/networks/ovl')
    const leased = readdirSync(resDir).find((f) => /^10\.247\.\d+\.\d+$/.test(f))!
    const orphan = leased.replace(/\.\d+$/, '.200')
    writeFileSync(join(resDir, orphan), `${containerId()}\r\neth0`)
    const gc = h.plugin('overlay-vxlan', 'GC', { containerId: '', netns: '', ifName: '', stdin: { ...conf, 'cni.dev/valid-attachments': [{ containerID: keepId, ifname: 'eth0' }] } })
    t.equal(gc.status, 0, `GC: ${gc.stdout}`)
    t.equal(records(h).length, 1, 'one record left')
    t.same((stale.ipJson(['link', 'show']) as { ifname: string }[]).map((l) => l.ifname), ['lo'], "the stale container's interface is gone")
    t.ok((keep.ipJson(['link', 'show']) as { ifname: string }[]).some((l) => l.ifname === 'eth0'), 'the valid one stays')
    const left = readdirSync(resDir).filter((f) => /^10\.247\./.test(f))
    t.notOk(left.includes(orphan), 'the reservation without a record is released (host-local GC through the bridge)')
    t.equal(left.length, 1, "only the valid attachment's reservation stays")
    t.equal(h.plugin('overlay-vxlan', 'DEL', { containerId: keepId, netns: keep.path, stdin: conf }).status, 0)
    t.same(records(h), [])
  })

  await t.test('CHECK reports a missing VXLAN device', async (t) => {
    const conf = { ...base, cniVersion: '1.1.0' }
    const cont = await createTestNetns(t)
    const id = containerId()
    const add = h.plugin('overlay-vxlan', 'ADD', { containerId: id, netns: cont.path, stdin: conf })
    t.equal(add.status, 0)
    h.ns.exec('ip', ['link', 'del', 'berth.5'])
    const check = h.plugin('overlay-vxlan', 'CHECK', { containerId: id, netns: cont.path, stdin: { ...conf, prevResult: add.json } })
    t.equal(check.json?.['code'], 103)
    t.match(String(check.json?.['msg']), /berth\.5 is missing/)
    // the next ADD repairs the host side
    const again = h.plugin('overlay-vxlan', 'ADD', { containerId: containerId(), netns: (await createTestNetns(t)).path, stdin: conf })
    t.equal(again.status, 0)
    t.equal(h.plugin('overlay-vxlan', 'CHECK', { containerId: id, netns: cont.path, stdin: { ...conf, prevResult: add.json } }).status, 0, 'CHECK passes again')
  })
})

t.test('directRouting: plain routes between hosts on one underlay subnet', { skip }, async (t) => {
  const rig = await createFakeRig(t, 2)
  const conf = { cniVersion: '1.1.0', type: 'overlay-vxlan', name: 'ovd', clusterCidr: '10.248.0.0/16', vni: 6, directRouting: true, store: { type: 'file', path: t.testdir({}) } }
  const conts = []
  for (const h of rig.hosts) {
    const ns = await createTestNetns(t)
    const r = h.plugin('overlay-vxlan', 'ADD', { containerId: containerId(), netns: ns.path, stdin: conf })
    t.equal(r.status, 0, r.stdout)
    conts.push({ ns, ip: ((r.json?.['ips'] as { address: string }[])[0]?.address ?? '').split('/')[0] ?? '' })
  }
  // host1 joined first: a second ADD there picks up host2 (no agent in this test)
  t.equal(rig.hosts[0]!.plugin('overlay-vxlan', 'ADD', { containerId: containerId(), netns: (await createTestNetns(t)).path, stdin: conf }).status, 0)
  for (const [i, h] of rig.hosts.entries()) {
    const routes = overlayRoutes(h)
    const peer = rig.hosts[1 - i]!
    t.equal(routes.length, 1)
    t.equal(routes[0]?.gateway, peer.ip, `${h.name}: via the peer's underlay address`)
    t.equal(routes[0]?.dev, 'eth0')
    t.same(JSON.parse(h.ns.exec('bridge', ['-j', 'fdb', 'show', 'dev', 'berth.6'])), [], 'no FDB entry')
  }
  t.ok(pingOk(conts[0]!.ns, conts[1]!.ip), 'host1 → host2')
  t.ok(pingOk(conts[1]!.ns, conts[0]!.ip), 'host2 → host1')
})

t.test('parallel first ADDs on a host, one of them failing', { skip }, async (t) => {
  const rig = await createFakeRig(t, 1)
  const h = rig.hosts[0]!
  const conf = { cniVersion: '1.1.0', type: 'overlay-vxlan', name: 'ovp', clusterCidr: '10.249.0.0/16', vni: 9, store: { type: 'file', path: t.testdir({}) } }
  const conts = []
  for (let i = 0; i < 5; i++) conts.push(await createTestNetns(t))
  // the last container already has an eth0: its ADD fails in the delegated bridge and rolls back
  conts[4]!.exec('ip', ['link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'x0'])
  const add = (ns: string) =>
    new Promise<{ status: number | null; out: string }>((resolve) => {
      const p = spawn('nsenter', [`--net=${h.ns.path}`, '--', join(BIN_DIR, 'overlay-vxlan')], {
        env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', CNI_COMMAND: 'ADD', CNI_CONTAINERID: containerId(), CNI_NETNS: ns, CNI_IFNAME: 'eth0', CNI_PATH: BIN_DIR, BERTH_ROOT: h.root },
        stdio: ['pipe', 'pipe', 'ignore'],
      })
      let out = ''
      p.stdout.on('data', (d: Buffer) => (out += d.toString()))
      p.on('close', (status) => resolve({ status, out }))
      p.stdin.end(JSON.stringify(conf))
    })
  const results = await Promise.all(conts.map((c) => add(c.path)))
  t.same(results.map((r) => r.status), [0, 0, 0, 0, 1], results.map((r) => r.out).join('\n'))
  t.ok(links(h).includes('berth.9'), 'the VXLAN device stays for the containers that made it')
  const ips = results.slice(0, 4).map((r) => ((JSON.parse(r.out) as { ips: { address: string }[] }).ips[0]?.address ?? '').split('/')[0] ?? '')
  t.equal(new Set(ips).size, 4, 'distinct addresses')
  t.ok(pingOk(conts[0]!, ips[3]!), 'containers of the network reach each other')
  t.equal((await openStore({ type: 'file', path: conf.store.path }).list('ovp')).length, 1, 'the host keeps its one lease')
})
