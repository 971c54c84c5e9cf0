// The agent: a host that goes away disappears from the others' tables once its lease expires; a host that
// joins later is reached by the others; restarting the agents changes nothing in the kernel and an open TCP
// connection across the overlay survives it.
import t from 'tap'
import { spawn } from 'node:child_process'
import { createTestNetns, type TestNetns } from '../../../helpers/netns.js'
import { containerId } from '../../../helpers/names.js'
import { createFakeRig, eventually, overlayRoutes, startAgent, type FakeHost, type RunningAgent } from '../../../helpers/overlay-hosts.js'
import { pingOk } from '../../../helpers/overlay-traffic.js'
import { needsBuiltBin, needsLinkKind } from '../../../helpers/privileges.js'
import { BIN_DIR } from '../../../helpers/paths.js'

const skip = needsLinkKind('vxlan') || needsBuiltBin('overlay-vxlan', BIN_DIR)

t.test('joins, leaves and restarts', { skip }, async (t) => {
  const rig = await createFakeRig(t, 3)
  const conf = {
    cniVersion: '1.1.0',
    name: `ov${containerId().slice(0, 8)}`,
    type: 'overlay-vxlan',
    clusterCidr: '10.250.0.0/16',
    vni: 77,
    leaseTtl: 3,
    store: { type: 'file', path: t.testdir({}) },
  }
  // Agents started inside a subtest must outlive it: they are torn down with this test.
  const top = t
  const conts = new Map<FakeHost, { ns: TestNetns; ip: string }>()
  const agents = new Map<FakeHost, RunningAgent>()
  const attach = async (h: FakeHost) => {
    const ns = await createTestNetns(top)
    const r = h.plugin('overlay-vxlan', 'ADD', { containerId: containerId(), netns: ns.path, stdin: conf })
    t.equal(r.status, 0, `ADD on ${h.name}: ${r.stdout}`)
    const ip = ((r.json?.['ips'] as { address: string }[] | undefined)?.[0]?.address ?? '').split('/')[0] ?? ''
    conts.set(h, { ns, ip })
    agents.set(h, await startAgent(top, h, conf, { resyncMs: 500 }))
  }
  for (const h of rig.hosts) await attach(h)
  for (const h of rig.hosts) t.ok(await eventually(() => overlayRoutes(h).length === 2), `${h.name} knows both peers`)
  const c = (h: FakeHost) => conts.get(h)!
  const [h1, h2, h3] = rig.hosts as [FakeHost, FakeHost, FakeHost]
  t.ok(pingOk(c(h1).ns, c(h3).ip), 'host1 → host3 before the leave')

  await t.test('a host that joins later is reached', async (t) => {
    const h4 = await rig.addHost()
    await attach(h4)
    for (const h of [h1, h2, h3]) t.ok(await eventually(() => overlayRoutes(h).length === 3), `${h.name} learned host4`)
    t.ok(pingOk(c(h1).ns, c(h4).ip), 'host1 → host4')
    t.ok(pingOk(c(h4).ns, c(h2).ip), 'host4 → host2')
    await agents.get(h4)!.stop()
    h4.destroy()
  })

  await t.test('an agent restart disturbs nothing and keeps an open TCP connection', async (t) => {
    // an echo server in host2's container, a long-lived client in host1's
    const port = 18123
    const server = spawn('nsenter', [`--net=${c(h2).ns.path}`, '--', 'socat', `TCP-LISTEN:${port},reuseaddr`, 'EXEC:cat'], { stdio: 'ignore' })
    t.teardown(() => server.kill('SIGKILL'))
    t.ok(await eventually(() => c(h2).ns.exec('ss', ['-Htln', `sport = :${port}`]).trim() !== ''), 'echo server listening')
    const client = spawn('nsenter', [`--net=${c(h1).ns.path}`, '--', 'socat', '-', `TCP:${c(h2).ip}:${port}`], { stdio: ['pipe', 'pipe', 'ignore'] })
    t.teardown(() => client.kill('SIGKILL'))
    let got = ''
    client.stdout.on('data', (d: Buffer) => (got += d.toString()))
    client.stdin.write('before\n')
    t.ok(await eventually(() => got === 'before\n'), 'echo before the restart')

    for (const h of [h1, h2]) {
      await agents.get(h)!.stop()
      const again = await startAgent(top, h, conf, { resyncMs: 500 })
      agents.set(h, again)
      t.ok(await eventually(() => again.passes.length >= 2), `${h.name}: restarted agent reconciled`)
      t.same(
        again.passes.map((p) => p.added + p.removed),
        again.passes.map(() => 0),
        `${h.name}: the restarted agent found every entry in place and changed none`,
      )
    }
    client.stdin.write('after\n')
    t.ok(await eventually(() => got === 'before\nafter\n'), 'the same connection still echoes after the restart')
    t.equal(client.exitCode, null, 'client still connected')
  })

  await t.test('the agent makes a deleted VXLAN device again', async (t) => {
    h2.ns.exec('ip', ['link', 'del', 'berth.77'])
    t.ok(await eventually(() => overlayRoutes(h2).length === 2), 'host2: device and peer routes back')
    t.ok(await eventually(() => pingOk(c(h1).ns, c(h2).ip)), 'host1 → host2 again')
  })

  await t.test('a host that goes away disappears after its lease expires', async (t) => {
    const gone = c(h3).ip.replace(/\.\d+$/, '.0/24')
    await agents.get(h3)!.stop()
    h3.destroy()
    for (const h of [h1, h2]) {
      t.ok(await eventually(() => !overlayRoutes(h).some((r) => r.dst === gone), 20_000), `${h.name}: route to host3's subnet removed`)
      t.ok(await eventually(() => (h.ns.ipJson(['neigh', 'show', 'dev', 'berth.77']) as unknown[]).length === 1), `${h.name}: neighbour removed`)
      const fdb = JSON.parse(h.ns.exec('bridge', ['-j', 'fdb', 'show', 'dev', 'berth.77'])) as { dst?: string }[]
      t.notOk(fdb.some((f) => f.dst === h3.ip), `${h.name}: FDB entry removed`)
    }
    t.ok(pingOk(c(h1).ns, c(h2).ip), 'host1 → host2 still fine')

  })
})
