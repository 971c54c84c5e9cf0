// Three hosts on one underlay, a container on each: every pair reaches each other (ICMP and a TCP payload)
// through the VXLAN overlay with the file store; per-host entries are O(hosts); CHECK passes; DEL is
// idempotent and leaves the per-host side in place.
import t from 'tap'
import { createTestNetns, type TestNetns } from '../../../helpers/netns.js'
import { containerId } from '../../../helpers/names.js'
import { createFakeRig, eventually, overlayRoutes, startAgent } from '../../../helpers/overlay-hosts.js'
import { pingOk, tcpPayloadOk } from '../../../helpers/overlay-traffic.js'
import { needsBuiltBin, needsLinkKind } from '../../../helpers/privileges.js'
import { BIN_DIR } from '../../../helpers/paths.js'

const skip = needsLinkKind('vxlan') || needsBuiltBin('overlay-vxlan', BIN_DIR)

t.test('containers on three hosts reach each other', { skip }, async (t) => {
  const rig = await createFakeRig(t, 3)
  const store = t.testdir({})
  const conf = {
    cniVersion: '1.1.0',
    name: `ov${containerId().slice(0, 8)}`,
    type: 'overlay-vxlan',
    clusterCidr: '10.244.0.0/16',
    vni: 42,
    store: { type: 'file', path: store },
  }
  const conts: { ns: TestNetns; ip: string; id: string; result: unknown }[] = []
  for (const h of rig.hosts) {
    const ns = await createTestNetns(t)
    const id = containerId()
    const r = h.plugin('overlay-vxlan', 'ADD', { containerId: id, netns: ns.path, stdin: conf })
    t.equal(r.status, 0, `ADD on ${h.name}: ${r.stdout}${r.stderr}`)
    const ips = (r.json?.['ips'] as { address: string }[] | undefined) ?? []
    const ip = ips[0]?.address.split('/')[0] ?? ''
    t.match(ip, /^10\.244\.\d+\.\d+$/, `${h.name} container address in the cluster CIDR`)
    conts.push({ ns, ip, id, result: r.json })
    t.teardown(() => h.plugin('overlay-vxlan', 'DEL', { containerId: id, netns: ns.path, stdin: conf }))
  }

  // Hosts that joined after an ADD learn of each other through their agents.
  for (const h of rig.hosts) await startAgent(t, h, conf)
  for (const h of rig.hosts) t.ok(await eventually(() => overlayRoutes(h).length === 2), `${h.name}: agent reconciled the peers`)

  // Per-host side: the VXLAN device with learning off, MTU = underlay - 50, address <subnet>.0/32.
  for (const [i, h] of rig.hosts.entries()) {
    const [dev] = h.ns.ipJson(['-d', 'link', 'show', 'berth.42']) as { mtu: number; linkinfo: { info_data: { id: number; port: number; learning: boolean } } }[]
    t.equal(dev?.mtu, 1450, `${h.name}: overlay MTU`)
    t.equal(dev?.linkinfo.info_data.id, 42)
    t.equal(dev?.linkinfo.info_data.port, 4789)
    t.equal(dev?.linkinfo.info_data.learning, false, 'learning off')
    const routes = h.ns.ipJson(['route', 'show', 'proto', '190']) as { dst: string; gateway: string; dev: string; flags: string[] }[]
    t.equal(routes.length, 2, `${h.name}: one route per other host`)
    for (const r of routes) {
      t.equal(r.dev, 'berth.42')
      t.ok(r.flags.includes('onlink'), 'onlink')
    }
    const neigh = h.ns.ipJson(['neigh', 'show', 'dev', 'berth.42']) as { dst: string; state: string[] }[]
    t.equal(neigh.length, 2, `${h.name}: one neighbour per other host`)
    t.ok(neigh.every((n) => n.state.includes('PERMANENT')))
    const fdb = JSON.parse(h.ns.exec('bridge', ['-j', 'fdb', 'show', 'dev', 'berth.42'])) as { mac: string; dst: string }[]
    t.same(fdb.map((f) => f.dst).sort(), rig.hosts.filter((_, j) => j !== i).map((x) => x.ip).sort(), `${h.name}: FDB points at the other hosts' underlay addresses`)
  }

  let port = 17000
  for (const [i, a] of conts.entries()) {
    for (const [j, b] of conts.entries()) {
      if (i === j) continue
      t.ok(pingOk(a.ns, b.ip), `ping host${i + 1} → host${j + 1}`)
      t.ok(await tcpPayloadOk(a.ns, b.ns, b.ip, port++), `TCP host${i + 1} → host${j + 1}`)
    }
  }
  // Full-size packets with DF cross without fragmentation (container MTU = overlay MTU).
  t.ok(pingOk(conts[0]!.ns, conts[1]!.ip, { size: 1450 - 28, df: true }), 'MTU-sized ping with DF set')

  // The self-test from host1: every peer reachable at the overlay MTU; then host3's underlay MTU shrinks
  // (a path MTU problem) and the self-test reports the mismatch while small packets still pass.
  const { runSelftest } = await import('../../../../pkg/overlay/selftest.js')
  const { parseOverlayNetwork } = await import('../../../../pkg/overlay/config.js')
  const { NetnsHandle } = await import('../../../../pkg/ns/netns.js')
  const net = parseOverlayNetwork(conf.name, conf)
  const h1ns = NetnsHandle.open(rig.hosts[0]!.ns.path)
  t.teardown(() => h1ns.close())
  const good = await runSelftest(net, { ns: h1ns })
  t.equal(good.ok, true, 'self-test ok')
  t.equal(good.peers.length, 2)
  t.equal(good.mtu, 1450)
  t.ok(good.peers.every((p) => p.reachable && p.mtuOk), 'all peers reachable at the MTU')
  rig.hosts[2]!.ns.exec('ip', ['link', 'set', 'eth0', 'mtu', '1400'])
  const bad = await runSelftest(net, { ns: h1ns })
  t.equal(bad.ok, false, 'self-test fails')
  const p3 = bad.peers.find((p) => p.hostId === rig.hosts[2]!.ip)
  t.same([p3?.reachable, p3?.mtuOk], [true, false], 'host3 reachable but with an MTU mismatch')
  t.ok(bad.peers.find((p) => p.hostId === rig.hosts[1]!.ip)?.mtuOk, 'host2 still fine')
  rig.hosts[2]!.ns.exec('ip', ['link', 'set', 'eth0', 'mtu', '1500'])

  // A second container on host1: no new per-host entries anywhere.
  const extra = await createTestNetns(t)
  const extraId = containerId()
  const h1 = rig.hosts[0]!
  t.equal(h1.plugin('overlay-vxlan', 'ADD', { containerId: extraId, netns: extra.path, stdin: conf }).status, 0, 'second container ADD')
  for (const h of rig.hosts) t.equal((h.ns.ipJson(['route', 'show', 'proto', '190']) as unknown[]).length, 2, `${h.name}: still 2 overlay routes`)

  // CHECK, DEL twice; the host side stays.
  const c0 = conts[0]!
  const check = h1.plugin('overlay-vxlan', 'CHECK', { containerId: c0.id, netns: c0.ns.path, stdin: { ...conf, prevResult: c0.result } })
  t.equal(check.status, 0, `CHECK: ${check.stdout}${check.stderr}`)
  t.equal(h1.plugin('overlay-vxlan', 'DEL', { containerId: extraId, netns: extra.path, stdin: conf }).status, 0, 'DEL')
  const del2 = h1.plugin('overlay-vxlan', 'DEL', { containerId: extraId, netns: extra.path, stdin: conf })
  t.equal(del2.status, 0, `second DEL: ${del2.stdout}`)
  t.same((extra.ipJson(['link', 'show']) as { ifname: string }[]).filter((l) => l.ifname === 'eth0'), [], 'container interface gone')
  t.equal((h1.ns.ipJson(['link', 'show', 'berth.42']) as unknown[]).length, 1, 'VXLAN device stays')
  t.ok(pingOk(c0.ns, conts[2]!.ip), 'others unaffected')
})
