// Bad input and faults: each is a coded CNI error and leaves nothing behind on the host (no VXLAN device,
// bridge, NAT table, attachment record or lease of this host).
import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { createTestNetns } from '../../../helpers/netns.js'
import { containerId } from '../../../helpers/names.js'
import { createFakeRig, type FakeHost } from '../../../helpers/overlay-hosts.js'
import { needsBuiltBin, needsLinkKind } from '../../../helpers/privileges.js'
import { BIN_DIR } from '../../../helpers/paths.js'
import { openStore } from '../../../../pkg/overlay/store.js'

const skip = needsLinkKind('vxlan') || needsBuiltBin('overlay-vxlan', BIN_DIR)

function berthLinks(h: FakeHost): string[] {
  return (h.ns.ipJson(['link', 'show']) as { ifname: string }[]).map((l) => l.ifname).filter((n) => n.startsWith('berth') || n.startsWith('veth'))
}
function nftTables(h: FakeHost): string {
  return h.ns.exec('nft', ['list', 'tables'])
}
function records(h: FakeHost): string[] {
  try {
    return readdirSync(join(h.root, 'var/lib/cni/overlay-vxlan'), { recursive: true }).map(String)
  } catch {
    return []
  }
}

t.test('bad input leaves nothing behind', { skip }, async (t) => {
  const rig = await createFakeRig(t, 1)
  const h = rig.hosts[0]!
  const storePath = t.testdir({})
  const base = { cniVersion: '1.1.0', type: 'overlay-vxlan', store: { type: 'file', path: storePath } }
  const cont = await createTestNetns(t)

  const expectNothing = async (t: Test, what: string, hostHadNetwork = false) => {
    if (!hostHadNetwork) {
      t.same(berthLinks(h), [], `${what}: no device left`)
      t.notMatch(nftTables(h), /berth_overlay/, `${what}: no NAT table`)
    }
    t.same(records(h).filter((f) => f.endsWith('.json')), [], `${what}: no attachment record`)
    t.same((cont.ipJson(['link', 'show']) as { ifname: string }[]).map((l) => l.ifname), ['lo'], `${what}: container untouched`)
  }
  const add = (conf: object) => h.plugin('overlay-vxlan', 'ADD', { containerId: containerId(), netns: cont.path, stdin: conf })

  await t.test('VNI out of range', async (t) => {
    const r = add({ ...base, name: 'ova', clusterCidr: '10.200.0.0/16', vni: 16777216 })
    t.equal(r.json?.['code'], 7)
    t.match(String(r.json?.['msg']), /vni/)
    await expectNothing(t, 'vni')
  })

  await t.test('subnetLen that does not fit', async (t) => {
    const r = add({ ...base, name: 'ova', clusterCidr: '10.200.0.0/16', subnetLen: 12 })
    t.equal(r.json?.['code'], 7)
    t.match(String(r.json?.['msg']), /subnetLen/)
    await expectNothing(t, 'subnetLen')
  })

  await t.test('unreachable store is 11', async (t) => {
    const r = add({ ...base, name: 'ova', clusterCidr: '10.200.0.0/16', store: { type: 'etcd', endpoints: ['http://127.0.0.1:9'], dialTimeoutMs: 500 } })
    t.equal(r.json?.['code'], 11, r.stdout)
    await expectNothing(t, 'store')
  })

  await t.test('UDP port in use', async (t) => {
    const sock = spawn('nsenter', [`--net=${h.ns.path}`, '--', 'socat', '-u', 'UDP4-RECV:4789', 'STDOUT'], { stdio: 'ignore' })
    t.teardown(() => sock.kill('SIGKILL'))
    for (let i = 0; i < 100 && !/:4789\b/.test(h.ns.exec('ss', ['-Huln'])); i++) await new Promise((r) => setTimeout(r, 20))
    const r = add({ ...base, name: 'ovp', clusterCidr: '10.201.0.0/16', vni: 7 })
    t.equal(r.json?.['code'], 101, r.stdout)
    t.match(String(r.json?.['msg']), /port 4789 is in use/)
    await expectNothing(t, 'port')
    t.same((await openStore({ type: 'file', path: storePath }).list('ovp')).map((l) => l.hostId), [], 'no lease taken')
  })

  await t.test('exhausted cluster CIDR is 100', async (t) => {
    const store = openStore({ type: 'file', path: storePath })
    const rec = { network: 'ovx', clusterCidr: '10.202.0.0/28', subnetLen: 30, vni: 9 }
    await store.registerNetwork(rec)
    for (let i = 0; i < 4; i++) await store.acquire({ network: 'ovx', hostId: `192.0.2.${i + 1}`, publicIp: `192.0.2.${i + 1}`, vtepMac: `0e:00:00:00:00:0${i + 1}`, ttlMs: 600_000 })
    const r = add({ ...base, name: 'ovx', clusterCidr: '10.202.0.0/28', subnetLen: 30, vni: 9 })
    t.equal(r.json?.['code'], 100, r.stdout)
    await expectNothing(t, 'exhausted')
    t.notOk((await store.list('ovx')).some((l) => l.hostId === h.ip), 'no lease for this host')
    await store.close()
  })

  await t.test('overlapping cluster CIDRs', async (t) => {
    const ok = add({ ...base, name: 'ovo1', clusterCidr: '10.210.0.0/16', vni: 11 })
    t.equal(ok.status, 0, `first network: ${ok.stdout}`)
    const links = berthLinks(h)
    const r = h.plugin('overlay-vxlan', 'ADD', {
      containerId: containerId(),
      netns: (await createTestNetns(t)).path,
      stdin: { ...base, name: 'ovo2', clusterCidr: '10.210.128.0/17', vni: 12 },
    })
    t.equal(r.json?.['code'], 7, r.stdout)
    t.match(String(r.json?.['msg']), /overlap/)
    t.same(berthLinks(h), links, 'no device of the second network')
  })
})
