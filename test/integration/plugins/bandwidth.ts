// bin/bandwidth chained after berth's bridge + host-local, against the kernel: qdiscs read back with `tc -j`,
// real TCP throughput measured with iperf3 between the container and the bridge's gateway address in the
// throw-away host namespace, and the reference's bandwidth plugin (/usr/lib/cni) CHECKing berth's work and
// the other way round.
import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { runPlugin, type PluginRun } from '../../helpers/run-plugin.js'
import { linkKindAvailable, needsBuiltBin, needsRoot } from '../../helpers/privileges.js'
import { createTestNetns, type TestNetns } from '../../helpers/netns.js'
import { uniqueName } from '../../helpers/names.js'
import { BIN_DIR } from '../../helpers/paths.js'
import { referenceIfbName as ifbName } from '../../helpers/ifb.js'

const REF_DIR = process.env['CNI_REFERENCE_DIR'] ?? '/usr/lib/cni'
const skip =
  needsRoot() ||
  needsBuiltBin('bandwidth', BIN_DIR) ||
  needsBuiltBin('bridge', BIN_DIR) ||
  (linkKindAvailable('ifb') ? false : 'the kernel has no ifb link kind') ||
  (existsSync('/usr/bin/iperf3') ? false : 'iperf3 is not installed')
const skipRef = skip || (existsSync(join(REF_DIR, 'bandwidth')) ? false : `no reference bandwidth plugin in ${REF_DIR}`)
const ok = (t: Test, r: PluginRun, what: string) => t.equal(r.status, 0, `${what}: ${r.stdout}${r.stderr}`)

interface Rig {
  host: TestNetns
  net: string
  gateway: string
  attach(c: TestNetns, id: string, version?: string): Record<string, unknown>
  bw(command: string, c: TestNetns | string, conf: Record<string, unknown>, o?: { id?: string; dir?: string }): PluginRun
  /** the host veth of the container's eth0 */
  hostVeth(c: TestNetns): string
  qdiscs(dev: string): { kind: string; handle: string; parent?: string; root?: boolean; options?: Record<string, unknown> }[]
  links(kind: string): string[]
}

async function rig(t: Test, subnet = '10.93.0.0/24'): Promise<Rig> {
  const host = await createTestNetns(t)
  host.exec('ip', ['link', 'set', 'lo', 'up'])
  const dir = t.testdir()
  const net = uniqueName('bwnet')
  const bridge = uniqueName('bw')
  const bridgeConf = (version: string) => ({
    cniVersion: version,
    name: net,
    type: 'bridge',
    bridge,
    isGateway: true,
    ipam: { type: 'host-local', ranges: [[{ subnet }]], dataDir: join(dir, 'ipam') },
  })
  const gateway = subnet.replace(/0\/24$/, '1')
  return {
    host,
    net,
    gateway,
    attach(c, id, version = '1.1.0') {
      const r = runPlugin('bridge', { command: 'ADD', netns: c.path, containerId: id, stdin: bridgeConf(version), hostNetns: host.path })
      if (r.status !== 0 || r.json === undefined) throw new Error(`bridge ADD failed: ${r.stdout}${r.stderr}`)
      return r.json
    },
    bw: (command, c, conf, o = {}) =>
      runPlugin('bandwidth', {
        command,
        netns: typeof c === 'string' ? c : c.path,
        containerId: o.id ?? 'c1',
        stdin: { cniVersion: '1.1.0', name: net, type: 'bandwidth', ...conf },
        hostNetns: host.path,
        ...(o.dir === undefined ? {} : { dir: o.dir }),
      }),
    hostVeth(c) {
      const peer = (c.ipJson(['link', 'show', 'eth0']) as { link_index: number }[])[0]!.link_index
      return (host.ipJson(['link', 'show']) as { ifindex: number; ifname: string }[]).find((l) => l.ifindex === peer)!.ifname
    },
    qdiscs: (dev) => JSON.parse(host.exec('tc', ['-j', 'qdisc', 'show', 'dev', dev])) as ReturnType<Rig['qdiscs']>,
    links: (kind) => (host.ipJson(['-d', 'link', 'show']) as { ifname: string; linkinfo?: { info_kind?: string } }[]).filter((l) => l.linkinfo?.info_kind === kind).map((l) => l.ifname),
  }
}

const RATE = 20_000_000 // bits/s
const BURST = 200_000 // bits: 25 KB, well under a second of traffic at RATE
const LIMITS = { ingressRate: RATE, ingressBurst: BURST, egressRate: RATE, egressBurst: BURST }

/** Mbit/s received in a `seconds` iperf3 TCP run from the container to the gateway (reverse: gateway to it). */
async function throughput(rg: Rig, c: TestNetns, reverse: boolean, seconds = 3): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await iperf(rg, c, reverse, seconds)
    } catch (e) {
      if (attempt >= 2) throw e
      console.error(`# iperf3 attempt ${attempt} failed (${(e as Error).message}): ${rg.host.exec('tc', ['-s', 'qdisc', 'show'])}`)
    }
  }
}

async function iperf(rg: Rig, c: TestNetns, reverse: boolean, seconds: number): Promise<number> {
  const port = String(20000 + Math.floor(Math.random() * 20000))
  const server = spawn('nsenter', [`--net=${rg.host.path}`, '--', 'iperf3', '-s', '-1', '-B', rg.gateway, '-p', port], { stdio: 'ignore' })
  try {
    for (let i = 0; rg.host.exec('ss', ['-Hltn', `sport = :${port}`]).trim() === ''; i++) {
      if (i >= 50) throw new Error(`iperf3 server on ${rg.gateway}:${port} did not start`)
      await new Promise((r) => setTimeout(r, 100))
    }
    const out = c.exec('iperf3', ['-c', rg.gateway, '-p', port, '-t', String(seconds), '-O', '1', '-J', ...(reverse ? ['-R'] : [])], { timeout: (seconds + 10) * 1000 })
    const j = JSON.parse(out) as { end: { sum_received: { bits_per_second: number } } }
    return j.end.sum_received.bits_per_second / 1e6
  } finally {
    server.kill('SIGKILL')
  }
}

const within = (t: Test, mbps: number, want: number, what: string) => t.ok(Math.abs(mbps - want) <= want * 0.15, `${what}: ${mbps.toFixed(2)} Mbit/s, configured ${want} (±15%)`)

t.test('ADD shapes both directions to the configured rate; CHECK, DEL, DEL again', { skip }, async (t) => {
  const rg = await rig(t)
  const c1 = await createTestNetns(t)
  const prev = rg.attach(c1, 'c1')
  const veth = rg.hostVeth(c1)
  const unshapedIn = await throughput(rg, c1, true, 2)
  t.ok(unshapedIn > (RATE / 1e6) * 3, `before ADD the veth carries far more than the limit (${unshapedIn.toFixed(0)} Mbit/s)`)

  const add = rg.bw('ADD', c1, { ...LIMITS, prevResult: prev })
  ok(t, add, 'ADD')
  const ifb = ifbName(rg.net, 'c1')
  const res = add.json as { interfaces: { name: string; mac?: string; sandbox?: string }[]; ips: unknown[] }
  t.same(res.ips, (prev as { ips: unknown[] }).ips, 'ips passed through')
  t.match(res.interfaces.at(-1), { name: ifb, mac: /^[0-9a-f:]{17}$/ }, 'the ifb is added to the result, as the reference does')
  t.same(rg.links('ifb'), [ifb], 'one ifb, with the reference name')

  const root = rg.qdiscs(veth).find((q) => q.root === true)
  t.match(root, { kind: 'tbf', handle: '1:' }, 'tbf at the host veth root')
  t.equal(root?.options?.['rate'], RATE / 8, 'rate in bytes/s')
  t.ok(rg.qdiscs(veth).some((q) => q.kind === 'ingress'), 'ingress qdisc on the host veth')
  const filters = JSON.parse(rg.host.exec('tc', ['-j', 'filter', 'show', 'dev', veth, 'ingress'])) as { options?: { actions?: { kind: string; to_dev?: string }[] } }[]
  t.ok(filters.some((f) => f.options?.actions?.some((a) => a.kind === 'mirred' && a.to_dev === ifb)), 'the ingress filter redirects to the ifb')
  t.match(rg.qdiscs(ifb).find((q) => q.root === true), { kind: 'tbf', options: { rate: RATE / 8 } }, 'tbf at the ifb root')

  within(t, await throughput(rg, c1, true), RATE / 1e6, 'to the container')
  within(t, await throughput(rg, c1, false), RATE / 1e6, 'from the container')

  ok(t, rg.bw('CHECK', c1, { ...LIMITS, prevResult: add.json }), 'CHECK')
  t.match(rg.bw('CHECK', c1, { ...LIMITS, ingressRate: RATE * 2, prevResult: add.json }).json, { msg: /rate on .* is 2500000, configured 5000000/ }, 'CHECK sees another rate')
  t.match(rg.bw('CHECK', c1, LIMITS).json, { code: 7, msg: /prevResult/ })

  ok(t, rg.bw('DEL', c1, { ...LIMITS, prevResult: add.json }), 'DEL')
  t.same(rg.links('ifb'), [], 'ifb deleted')
  t.notOk(rg.qdiscs(veth).some((q) => q.kind === 'tbf' || q.kind === 'ingress'), 'qdiscs removed from the host veth')
  t.ok((await throughput(rg, c1, false, 2)) > (RATE / 1e6) * 3, 'unshaped again')
  ok(t, rg.bw('DEL', c1, LIMITS), 'DEL again')
  ok(t, rg.bw('DEL', '/run/netns/berth-no-such-netns', LIMITS), 'DEL with the namespace gone')
  ok(t, rg.bw('DEL', '', LIMITS), 'DEL with no namespace')
})

t.test('unshapedSubnets and shapedSubnets decide which remote traffic is shaped', { skip }, async (t) => {
  const rg = await rig(t, '10.94.0.0/24')
  const cases = [
    { key: 'unshapedSubnets', list: ['10.94.0.0/24'], shaped: false },
    { key: 'unshapedSubnets', list: ['192.0.2.0/24', 'fd00:db8::/64'], shaped: true },
    { key: 'shapedSubnets', list: ['10.94.0.0/25'], shaped: true },
    { key: 'shapedSubnets', list: ['198.51.100.0/24'], shaped: false },
  ]
  let n = 0
  for (const k of cases) {
    const c = await createTestNetns(t)
    const id = `c${++n}`
    const prev = rg.attach(c, id)
    const conf = { ...LIMITS, [k.key]: k.list }
    const add = rg.bw('ADD', c, { ...conf, prevResult: prev }, { id })
    ok(t, add, `ADD ${k.key} ${k.list.join(',')}`)
    t.match(rg.qdiscs(rg.hostVeth(c)).find((q) => q.root === true), { kind: 'htb' }, 'htb at the root')
    for (const reverse of [true, false]) {
      const mbps = await throughput(rg, c, reverse, 2)
      const dir = reverse ? 'to the container' : 'from the container'
      if (k.shaped) within(t, mbps, RATE / 1e6, `${k.key} ${k.list.join(',')}: gateway traffic ${dir} is shaped`)
      else t.ok(mbps > (RATE / 1e6) * 3, `${k.key} ${k.list.join(',')}: gateway traffic ${dir} is not (${mbps.toFixed(0)} Mbit/s)`)
    }
    ok(t, rg.bw('CHECK', c, { ...conf, prevResult: add.json }, { id }), 'CHECK')
    ok(t, rg.bw('DEL', c, conf, { id }), 'DEL')
  }
  t.same(rg.links('ifb'), [], 'no ifb left')
})

t.test('the bandwidth capability, in any key spelling; configuration keys win', { skip }, async (t) => {
  const rg = await rig(t)
  const c1 = await createTestNetns(t)
  const prev = rg.attach(c1, 'c1')
  const veth = rg.hostVeth(c1)
  // containerd's go-cni sends Go's field names.
  const cap = { runtimeConfig: { bandwidth: { IngressRate: 8_000_000, IngressBurst: 80_000 } }, prevResult: prev }
  ok(t, rg.bw('ADD', c1, cap), 'ADD with the capability')
  t.equal(rg.qdiscs(veth).find((q) => q.root === true)?.options?.['rate'], 1_000_000, 'the capability rate is applied')
  t.same(rg.links('ifb'), [], 'no egress limit, no ifb')
  ok(t, rg.bw('DEL', c1, cap), 'DEL')

  // One top-level key, even 0, makes the configuration win over the capability (Go's embedded pointer).
  const both = { egressRate: 0, runtimeConfig: { bandwidth: { ingressRate: 8_000_000, ingressBurst: 80_000 } }, prevResult: prev }
  const r = rg.bw('ADD', c1, both)
  ok(t, r, 'ADD with a top-level key and the capability')
  t.notOk(rg.qdiscs(veth).some((q) => q.kind === 'tbf'), 'nothing shaped: the configuration sets no rate')
  t.same(r.json?.['interfaces'], (prev as { interfaces: unknown }).interfaces, 'prevResult passes through')
})

t.test('bad input: error 7 naming the key, and nothing changes', { skip }, async (t) => {
  const rg = await rig(t)
  const c1 = await createTestNetns(t)
  const prev = rg.attach(c1, 'c1')
  const veth = rg.hostVeth(c1)
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ ingressRate: RATE }, /ingressRate is set, so ingressBurst must be set/],
    [{ egressBurst: BURST }, /egressBurst is set, so egressRate must be set/],
    [{ ingressRate: RATE, ingressBurst: 8 * 0xffffffff }, /ingressBurst .* too large/],
    [{ ingressRate: -1, ingressBurst: BURST }, /ingressRate/],
    [{ ingressRate: '10M', ingressBurst: BURST }, /ingressRate/],
    [{ ...LIMITS, unshapedSubnets: ['10.0.0.0/8'], shapedSubnets: ['10.1.0.0/16'] }, /unshapedSubnets and shapedSubnets cannot both be set/],
    [{ ...LIMITS, shapedSubnets: ['10.0.0.1'] }, /shapedSubnets\[0\]: "10.0.0.1" is not a subnet/],
    [{ ...LIMITS, unshapedSubnets: ['nonsense/8'] }, /unshapedSubnets\[0\]/],
    [{ runtimeConfig: { bandwidth: { egressRate: RATE } } }, /runtimeConfig\.bandwidth\.egressRate is set/],
  ]
  for (const [conf, msg] of cases) {
    const r = rg.bw('ADD', c1, { ...conf, prevResult: prev })
    t.match(r.json, { code: 7, msg }, `${JSON.stringify(conf)}`)
    t.not(r.status, 0)
  }
  t.match(rg.bw('ADD', c1, LIMITS).json, { code: 7, msg: /prevResult missing/ }, 'no prevResult')
  t.notOk(rg.qdiscs(veth).some((q) => q.kind === 'tbf' || q.kind === 'ingress' || q.kind === 'htb'), 'no qdisc added')
  t.same(rg.links('ifb'), [], 'no ifb')

  // A failure half-way (the ifb's name is taken by a link that is not ours) rolls the ingress tbf back.
  rg.host.exec('ip', ['link', 'add', ifbName(rg.net, 'c1'), 'type', 'veth', 'peer', 'name', uniqueName('bwx')])
  const r = rg.bw('ADD', c1, { ...LIMITS, prevResult: prev })
  t.not(r.status, 0, `ADD fails: ${r.stdout}`)
  t.notOk(rg.qdiscs(veth).some((q) => q.kind === 'tbf' || q.kind === 'ingress'), 'the tbf made before the failure is removed')
  t.same(rg.links('ifb'), [], 'no ifb')
})

t.test('every result version from 0.3.0; STATUS', { skip }, async (t) => {
  const rg = await rig(t)
  for (const v of ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0']) {
    const c = await createTestNetns(t)
    const id = `v${v.replaceAll('.', '')}`
    const prev = rg.attach(c, id, v)
    const add = rg.bw('ADD', c, { cniVersion: v, ...LIMITS, prevResult: prev }, { id })
    ok(t, add, `ADD ${v}`)
    t.equal(add.json?.['cniVersion'], v, `result in ${v}`)
    t.ok((add.json?.['interfaces'] as { name: string }[]).some((i) => i.name === ifbName(rg.net, id)), `${v}: the ifb is in the result`)
    // CHECK exists from 0.4.0 on.
    if (!v.startsWith('0.3')) ok(t, rg.bw('CHECK', c, { cniVersion: v, ...LIMITS, prevResult: add.json }, { id }), `CHECK ${v}`)
    ok(t, rg.bw('DEL', c, { cniVersion: v, ...LIMITS }, { id }), `DEL ${v}`)
  }
  ok(t, rg.bw('STATUS', '', {}), 'STATUS')
  t.same(rg.links('ifb'), [], 'no ifb left')
})

t.test('GC deletes the ifbs of attachments that are no longer valid, of this network only', { skip }, async (t) => {
  const rg = await rig(t)
  const cs = [await createTestNetns(t), await createTestNetns(t)]
  const adds = cs.map((c, i) => rg.bw('ADD', c, { ...LIMITS, prevResult: rg.attach(c, `g${i}`) }, { id: `g${i}` }))
  adds.forEach((a, i) => ok(t, a, `ADD g${i}`))
  const gc = (valid: { containerID: string; ifname: string }[], name = rg.net) =>
    runPlugin('bandwidth', { command: 'GC', netns: '', containerId: '', stdin: { cniVersion: '1.1.0', name, type: 'bandwidth', 'cni.dev/valid-attachments': valid }, hostNetns: rg.host.path })
  ok(t, gc([], 'another-network'), 'GC of another network')
  t.equal(rg.links('ifb').length, 2, "another network's GC leaves them")
  ok(t, gc([{ containerID: 'g1', ifname: 'eth0' }]), 'GC keeping g1')
  t.same(rg.links('ifb'), [ifbName(rg.net, 'g1')], 'g0 collected, g1 kept')
  ok(t, gc([]), 'GC with none valid')
  t.same(rg.links('ifb'), [], 'all collected')
})

t.test("the reference's bandwidth and berth's check and clean each other's work", { skip: skipRef }, async (t) => {
  const rg = await rig(t)
  const c1 = await createTestNetns(t)
  const c2 = await createTestNetns(t)
  const berthAdd = rg.bw('ADD', c1, { cniVersion: '1.0.0', ...LIMITS, prevResult: rg.attach(c1, 'c1', '1.0.0') })
  ok(t, berthAdd, 'berth ADD')
  ok(t, rg.bw('CHECK', c1, { cniVersion: '1.0.0', ...LIMITS, prevResult: berthAdd.json }, { dir: REF_DIR }), "the reference's CHECK accepts berth's qdiscs")
  const refAdd = rg.bw('ADD', c2, { cniVersion: '1.0.0', ...LIMITS, prevResult: rg.attach(c2, 'c2', '1.0.0') }, { id: 'c2', dir: REF_DIR })
  ok(t, refAdd, 'reference ADD')
  ok(t, rg.bw('CHECK', c2, { cniVersion: '1.0.0', ...LIMITS, prevResult: refAdd.json }, { id: 'c2' }), "berth's CHECK accepts the reference's qdiscs")
  ok(t, rg.bw('DEL', c2, { cniVersion: '1.0.0', ...LIMITS }, { id: 'c2' }), "berth's DEL")
  ok(t, rg.bw('DEL', c1, { cniVersion: '1.0.0', ...LIMITS }, { dir: REF_DIR }), "the reference's DEL")
  t.same(rg.links('ifb'), [], "each deleted the other's ifb")
})
