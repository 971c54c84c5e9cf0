// The overlay with a real etcd (started in the underlay's switch namespace, where every host reaches it):
// containers on three hosts reach each other; while etcd is down the agents keep the data path as it is;
// once etcd is back a host that joins is learned by the others.
import t from 'tap'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { startEtcd, needsEtcd } from '../../../helpers/etcd-server.js'
import { createTestNetns, type TestNetns } from '../../../helpers/netns.js'
import { containerId } from '../../../helpers/names.js'
import { createFakeRig, eventually, overlayRoutes, startAgentProcess, type FakeHost } from '../../../helpers/overlay-hosts.js'
import { pingOk, tcpPayloadOk } from '../../../helpers/overlay-traffic.js'
import { needsBuiltBin, needsLinkKind } from '../../../helpers/privileges.js'
import { BIN_DIR } from '../../../helpers/paths.js'

const skip = needsLinkKind('vxlan') || needsBuiltBin('berth', BIN_DIR) || needsEtcd()

t.test('three hosts on an etcd store', { skip }, async (t) => {
  const rig = await createFakeRig(t, 3)
  const etcd = await startEtcd(t, { host: `${rig.prefix}.1`, wrap: ['nsenter', `--net=${rig.switchNs.path}`, '--'], clientPort: 2379, peerPort: 2380 })
  const name = `ove${containerId().slice(0, 8)}`
  const conf = {
    cniVersion: '1.1.0',
    name,
    type: 'overlay-vxlan',
    clusterCidr: '10.246.0.0/16',
    vni: 88,
    leaseTtl: 10,
    store: { type: 'etcd', endpoints: [etcd.endpoint], prefix: `/berth-test/${name}`, dialTimeoutMs: 1000 },
  }
  const confDir = join(t.testdir({}), 'net.d')
  mkdirSync(confDir)
  writeFileSync(join(confDir, `${name}.conflist`), JSON.stringify({ cniVersion: '1.1.0', name, plugins: [conf] }))
  const conts = new Map<FakeHost, { ns: TestNetns; ip: string }>()
  const join1 = async (h: FakeHost) => {
    startAgentProcess(t, h, confDir, name)
    const ns = await createTestNetns(t)
    const r = h.plugin('overlay-vxlan', 'ADD', { containerId: containerId(), netns: ns.path, stdin: conf })
    t.equal(r.status, 0, `ADD on ${h.name}: ${r.stdout}`)
    conts.set(h, { ns, ip: ((r.json?.['ips'] as { address: string }[] | undefined)?.[0]?.address ?? '').split('/')[0] ?? '' })
  }
  for (const h of rig.hosts) await join1(h)
  for (const h of rig.hosts) t.ok(await eventually(() => overlayRoutes(h).length === 2), `${h.name} learned both peers from etcd`)
  const c = (h: FakeHost) => conts.get(h)!
  let port = 19100
  for (const a of rig.hosts) {
    for (const b of rig.hosts) {
      if (a === b) continue
      t.ok(pingOk(c(a).ns, c(b).ip), `ping ${a.name} → ${b.name}`)
    }
  }
  const [h1, h2, h3] = rig.hosts as [FakeHost, FakeHost, FakeHost]
  t.ok(await tcpPayloadOk(c(h1).ns, c(h3).ns, c(h3).ip, port++), 'TCP host1 → host3')

  await etcd.stop()
  // The agents cannot reach etcd now; they keep every entry (a later look finds them all still there).
  await new Promise((r) => setTimeout(r, 3000))
  for (const h of rig.hosts) t.equal(overlayRoutes(h).length, 2, `${h.name}: routes kept while etcd is down`)
  t.ok(pingOk(c(h2).ns, c(h1).ip), 'traffic flows while etcd is down')
  const down = h1.plugin('overlay-vxlan', 'ADD', { containerId: containerId(), netns: (await createTestNetns(t)).path, stdin: conf })
  t.equal(down.json?.['code'], 11, `ADD while etcd is down is 11: ${down.stdout}`)

  await etcd.start()
  const h4 = await rig.addHost()
  await join1(h4)
  for (const h of [h1, h2, h3]) t.ok(await eventually(() => overlayRoutes(h).length === 3, 20_000), `${h.name} learned host4 after etcd came back`)
  t.ok(pingOk(c(h1).ns, c(h4).ip), 'host1 → host4')
  t.ok(pingOk(c(h4).ns, c(h3).ip), 'host4 → host3')
})
