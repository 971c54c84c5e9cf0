// bin/portmap against the kernel, chained after berth's bridge (ipMasq) + the reference host-local, with
// real TCP and UDP payloads. Everything runs inside throw-away namespaces: a fake host (where the plugins
// run, through nsenter), an "outside" namespace joined to it by a veth (10.99.0.0/24, fd99::/64), and
// containers. Servers are small node programs started inside the containers; they answer with their tag,
// the port and the peer address they saw, so a test sees both where a packet went and whether it was
// masqueraded.
import t, { type Test } from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { runPlugin, type PluginRun } from '../../helpers/run-plugin.js'
import { needsBuiltBin, needsRoot } from '../../helpers/privileges.js'
import { createTestNetns, type TestNetns } from '../../helpers/netns.js'
import { uniqueName } from '../../helpers/names.js'
import { BIN_DIR } from '../../helpers/paths.js'

const REF = '/usr/lib/cni'
const skip =
  needsRoot() ||
  needsBuiltBin('portmap', BIN_DIR) ||
  needsBuiltBin('bridge', BIN_DIR) ||
  (existsSync(join(REF, 'host-local')) ? false : `${REF}/host-local not installed (scripts/setup installs it)`)
const NET = 'pmtest'
const V = '1.0.0'

// Listens on TCP and UDP (dual stack) on each port given; answers "<tag> <proto> <port> from <peer>".
const SERVER = `
const net = require('net'), dgram = require('dgram')
const tag = process.argv[1]
const peer = (a) => a.replace(/^::ffff:/, '')
let pending = 0
for (const p of process.argv.slice(2).map(Number)) {
  pending += 2
  const done = () => { if (--pending === 0) console.log('ready') }
  net.createServer((s) => s.end(tag + ' tcp ' + p + ' from ' + peer(s.remoteAddress) + '\\n')).listen(p, '::', done)
  const u = dgram.createSocket({ type: 'udp6' })
  u.on('message', (m, r) => u.send(tag + ' udp ' + p + ' from ' + peer(r.address) + '\\n', r.port, r.address))
  u.bind(p, '::', done)
}
`
// Sends to host:port over proto and prints the answer, or "ERR <why>".
const CLIENT = `
const [h, p, proto] = process.argv.slice(1)
const net = require('net'), dgram = require('dgram')
const fail = (m) => { console.log('ERR ' + m); process.exit(0) }
setTimeout(() => fail('timeout'), 1500)
if (proto === 'tcp') {
  const s = net.connect(Number(p), h); let d = ''
  s.on('data', (c) => (d += c)); s.on('end', () => { process.stdout.write(d); process.exit(0) }); s.on('error', (e) => fail(e.code))
} else {
  const u = dgram.createSocket(h.includes(':') ? 'udp6' : 'udp4')
  u.on('message', (m) => { process.stdout.write(m.toString()); process.exit(0) }); u.on('error', (e) => fail(e.code))
  u.send('x', Number(p), h)
}
`

function talk(ns: TestNetns, host: string, port: number, proto: 'tcp' | 'udp' = 'tcp'): string {
  const r = spawnSync('nsenter', [`--net=${ns.path}`, '--', process.execPath, '-e', CLIENT, host, String(port), proto], { encoding: 'utf8', timeout: 10_000 })
  return (r.stdout ?? '').trim() || `ERR exit ${String(r.status)} ${r.stderr}`
}

async function serve(t: Test, ns: TestNetns, tag: string, ports: number[]): Promise<void> {
  const child = spawn('nsenter', [`--net=${ns.path}`, '--', process.execPath, '-e', SERVER, tag, ...ports.map(String)], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => {
    child.kill('SIGKILL')
  })
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server ${tag} did not start`)), 5000)
    child.stdout.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) {
        clearTimeout(timer)
        resolve()
      }
    })
    child.on('exit', (code) => reject(new Error(`server ${tag} exited ${String(code)}`)))
  })
}

interface Rig {
  host: TestNetns
  ext: TestNetns
  /** ADD bridge + portmap for a new container; returns it and bridge's result */
  container(id: string, mappings: unknown[], extra?: Record<string, unknown>): Promise<{ ns: TestNetns; prev: Record<string, unknown>; add: PluginRun }>
  pm(command: string, id: string, ns: TestNetns | string, conf: Record<string, unknown>): PluginRun
  pmConf(mappings: unknown[], prev?: Record<string, unknown>, extra?: Record<string, unknown>): Record<string, unknown>
  /** elements of the portmap table: map name → comments/keys as JSON text */
  elements(): { map: string; text: string }[]
}

async function rig(t: Test): Promise<Rig> {
  const host = await createTestNetns(t)
  const ext = await createTestNetns(t)
  host.exec('ip', ['link', 'set', 'lo', 'up'])
  ext.exec('ip', ['link', 'set', 'lo', 'up'])
  const up = uniqueName('up')
  host.exec('ip', ['link', 'add', up, 'type', 'veth', 'peer', 'name', 'ext0', 'netns', String(ext.pid)])
  host.exec('ip', ['addr', 'add', '10.99.0.1/24', 'dev', up])
  host.exec('ip', ['addr', 'add', 'fd99::1/64', 'dev', up, 'nodad'])
  host.exec('ip', ['link', 'set', up, 'up'])
  ext.exec('ip', ['addr', 'add', '10.99.0.2/24', 'dev', 'ext0'])
  ext.exec('ip', ['addr', 'add', 'fd99::2/64', 'dev', 'ext0', 'nodad'])
  ext.exec('ip', ['link', 'set', 'ext0', 'up'])
  // Only used by the "not local" test: the outside can route to the containers through the host.
  ext.exec('ip', ['route', 'add', '10.77.0.0/24', 'via', '10.99.0.1'])
  const dataDir = t.testdir()
  const bridge = uniqueName('br')
  const brConf = {
    cniVersion: V,
    name: NET,
    type: 'bridge',
    bridge,
    isDefaultGateway: true,
    ipMasq: true,
    // As podman's default network: with br_netfilter, a container reaching itself through a host port
    // is sent back out of the bridge port it came from.
    hairpinMode: true,
    ipam: { type: 'host-local', dataDir, ranges: [[{ subnet: '10.77.0.0/24' }], [{ subnet: 'fd77::/64' }]] },
  }
  const r: Rig = {
    host,
    ext,
    pmConf: (mappings, prev, extra = {}) => ({
      cniVersion: V,
      name: NET,
      type: 'portmap',
      runtimeConfig: { portMappings: mappings },
      ...(prev === undefined ? {} : { prevResult: prev }),
      ...extra,
    }),
    pm: (command, id, ns, conf) =>
      runPlugin('portmap', { command, netns: typeof ns === 'string' ? ns : ns.path, ifName: 'eth0', containerId: id, stdin: conf, hostNetns: host.path }),
    async container(id, mappings, extra = {}) {
      const ns = await createTestNetns(t)
      ns.exec('ip', ['link', 'set', 'lo', 'up'])
      const b = runPlugin('bridge', { command: 'ADD', netns: ns.path, ifName: 'eth0', containerId: id, path: REF, stdin: brConf, hostNetns: host.path })
      if (b.status !== 0) throw new Error(`bridge ADD ${id}: ${b.stdout}${b.stderr}`)
      const prev = b.json as Record<string, unknown>
      const add = r.pm('ADD', id, ns, r.pmConf(mappings, prev, extra))
      return { ns, prev, add }
    },
    elements() {
      const out = spawnSync('nsenter', [`--net=${host.path}`, '--', 'nft', '-j', 'list', 'table', 'inet', 'berth_portmap'], { encoding: 'utf8' })
      if (out.status !== 0) return []
      const list = (JSON.parse(out.stdout) as { nftables: Record<string, { name?: string; elem?: unknown[] }>[] }).nftables
      return list.flatMap((o) => {
        const s = o['map'] ?? o['set']
        return s?.elem === undefined ? [] : s.elem.map((e) => ({ map: String(s.name), text: JSON.stringify(e) }))
      })
    },
  }
  return r
}

const ok = (t: Test, r: PluginRun, what: string) => t.equal(r.status, 0, `${what}: ${r.stdout}${r.stderr}`)

t.test('reachability: outside, host (own address and 127.0.0.1), hairpin, the container itself; not for non-local destinations', { skip }, async (t) => {
  const rg = await rig(t)
  const c1 = await rg.container('c1', [
    { hostPort: 8080, containerPort: 80, protocol: 'tcp' },
    { hostPort: 8053, containerPort: 53, protocol: 'udp' },
  ])
  ok(t, c1.add, 'portmap ADD c1')
  t.same(c1.add.json, c1.prev, 'ADD returns prevResult unchanged')
  const c2 = await rg.container('c2', [])
  ok(t, c2.add, 'portmap ADD c2 without mappings')
  await serve(t, c1.ns, 'c1', [80, 53, 8080])
  await serve(t, c2.ns, 'c2', [8080])

  t.equal(talk(rg.ext, '10.99.0.1', 8080), 'c1 tcp 80 from 10.99.0.2', 'outside → host address (TCP), source kept')
  t.equal(talk(rg.ext, '10.99.0.1', 8053, 'udp'), 'c1 udp 53 from 10.99.0.2', 'outside → host address (UDP)')
  t.equal(talk(rg.ext, 'fd99::1', 8080), 'c1 tcp 80 from fd99::2', 'outside → host IPv6 address')
  t.equal(talk(rg.ext, 'fd99::1', 8053, 'udp'), 'c1 udp 53 from fd99::2', 'outside → host IPv6 address (UDP)')
  t.equal(talk(rg.host, '10.99.0.1', 8080), 'c1 tcp 80 from 10.99.0.1', 'host → its own address')
  t.equal(talk(rg.host, '10.77.0.1', 8080), 'c1 tcp 80 from 10.77.0.1', 'host → its bridge address')
  t.equal(talk(rg.host, '127.0.0.1', 8080), 'c1 tcp 80 from 10.77.0.1', 'host → 127.0.0.1 (route_localnet, masqueraded)')
  t.equal(talk(rg.host, '127.0.0.1', 8053, 'udp'), 'c1 udp 53 from 10.77.0.1', 'host → 127.0.0.1 over UDP')
  t.equal(talk(rg.host, 'fd99::1', 8080), 'c1 tcp 80 from fd99::1', 'host → its own IPv6 address')
  t.equal(talk(c2.ns, '10.99.0.1', 8080), 'c1 tcp 80 from 10.77.0.1', 'hairpin: another container → host address (masqueraded)')
  t.equal(talk(c2.ns, 'fd99::1', 8080), 'c1 tcp 80 from fd77::1', 'hairpin over IPv6')
  t.equal(talk(c1.ns, '10.99.0.1', 8080), 'c1 tcp 80 from 10.77.0.1', 'the container itself → host address')
  t.equal(talk(c1.ns, '10.99.0.1', 8053, 'udp'), 'c1 udp 53 from 10.77.0.1', 'the container itself → host address (UDP)')
  t.equal(talk(c1.ns, 'fd99::1', 8080), 'c1 tcp 80 from fd77::1', 'the container itself → host IPv6 address')
  // GHSA-jv3w-x3r3-g6rm: traffic routed through the host to another address keeps its destination.
  t.equal(talk(rg.ext, '10.77.0.3', 8080), 'c2 tcp 8080 from 10.99.0.2', 'a non-local destination on the mapped port is not DNATed')
  t.equal(talk(rg.ext, '10.77.0.2', 8080), 'c1 tcp 8080 from 10.99.0.2', "the container's own port 8080 is reached directly")

  const bridgeName = ((c1.prev['interfaces'] as { name: string }[])[0] ?? { name: '' }).name
  t.equal(rg.host.exec('cat', [`/proc/sys/net/ipv4/conf/${bridgeName}/route_localnet`]).trim(), '1', 'route_localnet on the bridge')
  const ruleset = rg.host.exec('nft', ['list', 'chain', 'inet', 'berth_portmap', 'guard'])
  t.match(ruleset, /iifname != "lo" ip daddr 127\.0\.0\.0\/8 drop/, '127.0.0.0/8 from anywhere but lo is dropped')
  const mine = rg.elements()
  t.equal(mine.filter((e) => e.map === 'any4').length, 2, 'one IPv4 element per mapping, in the hash map of every-address ports')
  t.equal(mine.filter((e) => e.map === 'any6').length, 2, 'one IPv6 element per mapping')
  t.ok(mine.every((e) => /id:c1 if:eth0/.test(e.text)), 'every element is owned by c1')

  ok(t, rg.pm('CHECK', 'c1', c1.ns, rg.pmConf([{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }, { hostPort: 8053, containerPort: 53, protocol: 'udp' }], c1.prev)), 'CHECK')
  ok(t, rg.pm('DEL', 'c1', '', rg.pmConf([])), 'DEL without netns or prevResult')
  t.same(rg.elements(), [], 'no element left')
  t.match(talk(rg.ext, '10.99.0.1', 8080), /^ERR/, 'no longer forwarded after DEL')
  ok(t, rg.pm('DEL', 'c1', '', rg.pmConf([])), 'DEL again')
})

t.test('conflicts: another container, a listening host process; nothing left behind', { skip }, async (t) => {
  const rg = await rig(t)
  const c1 = await rg.container('c1', [{ hostPort: 8080, containerPort: 80 }])
  ok(t, c1.add, 'ADD c1')
  const before = rg.elements()
  const c2 = await rg.container('c2', [
    { hostPort: 9000, containerPort: 90 },
    { hostPort: 8080, containerPort: 80, protocol: 'TCP' },
  ])
  t.match(c2.add.json, { code: 7, msg: /8080\/tcp is already mapped.*id:c1 if:eth0/ }, 'the same port is refused, naming the owner')
  t.same(rg.elements(), before, 'nothing of c2 in the table')
  const c3 = await rg.container('c3', [{ hostPort: 8080, containerPort: 80, hostIP: '10.99.0.1' }])
  t.match(c3.add.json, { code: 7, msg: /10\.99\.0\.1:8080\/tcp is already mapped/ }, 'a specific address conflicts with "every address"')
  const c4 = await rg.container('c4', [{ hostPort: 8080, containerPort: 80, protocol: 'udp' }])
  ok(t, c4.add, 'the same port over UDP is another mapping')

  await serve(t, rg.host, 'hostproc', [9191])
  const c5 = await rg.container('c5', [{ hostPort: 9191, containerPort: 80 }])
  t.match(c5.add.json, { code: 7, msg: /9191\/tcp is in use: a host process listens/ }, 'a listening host process is reported')
  t.notOk(rg.elements().some((e) => e.text.includes('id:c5')), 'nothing of c5 in the table')
})

t.test('port ranges: same-port ranges are one interval element, shifted ranges one element per port', { skip }, async (t) => {
  const rg = await rig(t)
  const same = [7000, 7001, 7002].map((p) => ({ hostPort: p, containerPort: p, protocol: 'tcp', hostIP: '10.99.0.1' }))
  const shifted = [0, 1, 2].map((i) => ({ hostPort: 8000 + i, containerPort: 80 + i, protocol: 'tcp', hostIP: '10.99.0.1' }))
  const c1 = await rg.container('c1', [...same, ...shifted])
  ok(t, c1.add, 'ADD')
  await serve(t, c1.ns, 'c1', [7000, 7001, 7002, 80, 81, 82])
  const els = rg.elements()
  t.equal(els.filter((e) => e.map === 'ranges4').length, 1, 'one element for 7000-7002')
  t.match(els.find((e) => e.map === 'ranges4')?.text, /"range":\[7000,7002\]/)
  t.equal(els.filter((e) => e.map === 'host4').length, 3, '8000-8002 → 80-82 is one element per port (of the hostIP hash map)')
  t.equal(els.filter((e) => /6$/.test(e.map) && e.map !== 'hairpin6').length, 0, 'IPv4 hostIP: no IPv6 elements')
  t.equal(talk(rg.ext, '10.99.0.1', 7001), 'c1 tcp 7001 from 10.99.0.2')
  t.equal(talk(rg.ext, '10.99.0.1', 7002), 'c1 tcp 7002 from 10.99.0.2')
  t.equal(talk(rg.ext, '10.99.0.1', 8002), 'c1 tcp 82 from 10.99.0.2')
  ok(t, rg.pm('CHECK', 'c1', c1.ns, rg.pmConf([...same, ...shifted], c1.prev)), 'CHECK')
})

t.test('CHECK reports a missing element; GC keeps valid attachments only', { skip }, async (t) => {
  const rg = await rig(t)
  const m1 = [{ hostPort: 8080, containerPort: 80 }]
  const m2 = [{ hostPort: 8081, containerPort: 80 }]
  const c1 = await rg.container('c1', m1)
  const c2 = await rg.container('c2', m2)
  ok(t, c1.add, 'ADD c1')
  ok(t, c2.add, 'ADD c2')
  t.match(rg.pm('CHECK', 'c1', c1.ns, rg.pmConf(m1)).json, { code: 7, msg: /prevResult/ }, 'CHECK needs prevResult')
  t.match(rg.pm('CHECK', 'c1', c1.ns, rg.pmConf([{ hostPort: 8089, containerPort: 80 }], c1.prev)).json, { code: 103, msg: /8089\/tcp is not mapped/ }, 'CHECK finds what is missing')
  rg.host.exec('nft', ['delete', 'element', 'inet', 'berth_portmap', 'any4', '{ tcp . 8080 }'])
  t.match(rg.pm('CHECK', 'c1', c1.ns, rg.pmConf(m1, c1.prev)).json, { code: 103, msg: /\*:8080\/tcp is not mapped/ })

  const gcEnv = { CNI_COMMAND: 'GC', CNI_PATH: BIN_DIR }
  const conf11 = { ...rg.pmConf([]), cniVersion: '1.1.0' }
  const gc = (valid: unknown) => runPlugin('portmap', { env: gcEnv, stdin: { ...conf11, 'cni.dev/valid-attachments': valid }, hostNetns: rg.host.path })
  ok(t, runPlugin('portmap', { env: gcEnv, stdin: conf11, hostNetns: rg.host.path }), 'GC without a list')
  t.ok(rg.elements().some((e) => e.text.includes('id:c1')), 'nothing collected without a list')
  ok(t, gc([{ containerID: 'c2', ifname: 'eth0' }]), 'GC')
  t.notOk(rg.elements().some((e) => e.text.includes('id:c1')), "c1's elements collected")
  t.ok(rg.elements().some((e) => e.text.includes('id:c2')), "c2's elements kept")
  ok(t, runPlugin('portmap', { env: { ...gcEnv, CNI_COMMAND: 'STATUS' }, stdin: conf11, hostNetns: rg.host.path }), 'STATUS')
})

t.test('ADD flushes stale UDP conntrack entries for the host port', { skip: skip || (existsSync('/usr/sbin/conntrack') ? false : 'conntrack tool not installed') }, async (t) => {
  const rg = await rig(t)
  // A first container: bridge's NAT table turns connection tracking on in the host namespace.
  ok(t, (await rg.container('c0', [])).add, 'ADD c0')
  t.match(talk(rg.ext, '10.99.0.1', 8053, 'udp'), /^ERR/, 'nothing answers before the mapping')
  const list = () => rg.host.exec('conntrack', ['-L', '-p', 'udp', '--orig-port-dst', '8053'])
  t.match(list(), /dport=8053/, 'a conntrack entry to the host port exists')
  const c1 = await rg.container('c1', [{ hostPort: 8053, containerPort: 53, protocol: 'udp' }])
  ok(t, c1.add, 'ADD')
  t.notMatch(list(), /dport=8053/, 'the stale entry is gone')
})

t.test('bad input: coded errors, nothing left behind', { skip }, async (t) => {
  const rg = await rig(t)
  const v4only = await createTestNetns(t)
  const prev4 = { cniVersion: V, interfaces: [{ name: 'eth0', sandbox: v4only.path }], ips: [{ address: '10.77.0.9/24', interface: 0 }] }
  const cases: [unknown, number, RegExp][] = [
    [{ hostPort: 0, containerPort: 80 }, 7, /hostPort: must be between 1 and 65535/],
    [{ hostPort: 70000, containerPort: 80 }, 7, /hostPort/],
    [{ hostPort: 80, containerPort: 0 }, 7, /containerPort/],
    [{ hostPort: 80, containerPort: 80, protocol: 'icmp' }, 7, /protocol: must be one of tcp, udp, sctp/],
    [{ hostPort: 80, containerPort: 80, hostIP: 'localhost' }, 7, /hostIP/],
    [{ hostPort: 80, containerPort: 80, hostIP: 'fd99::1' }, 7, /no IPv6 address/],
  ]
  for (const [m, code, msg] of cases) {
    t.match(rg.pm('ADD', 'c1', v4only, rg.pmConf([m], prev4)).json, { code, msg }, JSON.stringify(m))
  }
  t.match(rg.pm('ADD', 'c1', v4only, rg.pmConf([{ hostPort: 80, containerPort: 80 }, { hostPort: 80, containerPort: 81 }], prev4)).json, { code: 7, msg: /claim the same host port/ })
  t.match(rg.pm('ADD', 'c1', v4only, rg.pmConf([{ hostPort: 80, containerPort: 80 }], prev4, { conditionsV4: ['-s', '1.2.3.4'] })).json, { code: 2, msg: /conditionsV4/ })
  t.match(rg.pm('ADD', 'c1', v4only, rg.pmConf([{ hostPort: 80, containerPort: 80 }], prev4, { backend: 'pf' })).json, { code: 7, msg: /backend/ })
  t.match(rg.pm('ADD', 'c1', v4only, rg.pmConf([{ hostPort: 80, containerPort: 80 }], prev4, { markMasqBit: 40 })).json, { code: 7, msg: /markMasqBit/ })
  t.match(rg.pm('ADD', 'c1', v4only, rg.pmConf([{ hostPort: 80, containerPort: 80 }])).json, { code: 7, msg: /chained plugin/ })
  t.same(rg.elements(), [], 'no element added by any failed ADD')
})

const noIptables = existsSync('/usr/sbin/iptables-restore') && existsSync('/usr/sbin/ip6tables-restore') ? false : 'iptables-restore / ip6tables-restore not installed'

t.test('backend iptables: the same paths, a shifted range as one rule, conflicts across backends, CHECK/DEL/GC', { skip: skip || noIptables }, async (t) => {
  const rg = await rig(t)
  const ipt = { backend: 'iptables' }
  const m1 = [
    { hostPort: 8080, containerPort: 80, protocol: 'tcp' },
    { hostPort: 8053, containerPort: 53, protocol: 'udp' },
    ...[0, 1, 2].map((i) => ({ hostPort: 8000 + i, containerPort: 80 + i, protocol: 'tcp', hostIP: '10.99.0.1' })),
  ]
  const c1 = await rg.container('c1', m1, ipt)
  ok(t, c1.add, 'ADD c1 (iptables)')
  const c2 = await rg.container('c2', [], ipt)
  await serve(t, c1.ns, 'c1', [80, 81, 82, 53, 8080])
  await serve(t, c2.ns, 'c2', [8080])
  t.equal(talk(rg.ext, '10.99.0.1', 8080), 'c1 tcp 80 from 10.99.0.2', 'outside → host address')
  t.equal(talk(rg.ext, '10.99.0.1', 8053, 'udp'), 'c1 udp 53 from 10.99.0.2', 'outside → host address (UDP)')
  t.equal(talk(rg.ext, 'fd99::1', 8080), 'c1 tcp 80 from fd99::2', 'outside → host IPv6 address')
  t.equal(talk(rg.ext, '10.99.0.1', 8002), 'c1 tcp 82 from 10.99.0.2', 'shifted range')
  t.equal(talk(rg.host, '10.99.0.1', 8080), 'c1 tcp 80 from 10.99.0.1', 'host → its own address')
  t.equal(talk(rg.host, '127.0.0.1', 8080), 'c1 tcp 80 from 10.77.0.1', 'host → 127.0.0.1')
  t.equal(talk(c2.ns, '10.99.0.1', 8080), 'c1 tcp 80 from 10.77.0.1', 'hairpin')
  t.equal(talk(c1.ns, '10.99.0.1', 8080), 'c1 tcp 80 from 10.77.0.1', 'the container itself')
  t.equal(talk(rg.ext, '10.77.0.3', 8080), 'c2 tcp 8080 from 10.99.0.2', 'a non-local destination is not DNATed')

  const dnat = rg.host.exec('iptables-save', ['-t', 'nat']).split('\n').filter((l) => l.startsWith('-A BERTH-HOSTPORTS ') && l.includes('DNAT'))
  t.equal(dnat.length, 3, 'IPv4: one rule per mapping, the shifted range is one rule')
  t.ok(dnat.some((l) => l.includes('--dport 8000:8002') && l.includes('--to-destination 10.77.0.2:80-82/8000')))
  t.match(rg.host.exec('iptables-save', ['-t', 'raw']), /-d 127\.0\.0\.0\/8 ! -i lo .*-j DROP/, 'the 127.0.0.0/8 guard')

  const c3 = await rg.container('c3', [{ hostPort: 8080, containerPort: 80 }], ipt)
  t.match(c3.add.json, { code: 7, msg: /8080\/tcp is already mapped.*id:c1 if:eth0/ }, 'a conflict names the owner')
  t.notMatch(rg.host.exec('iptables-save', ['-t', 'nat']), /id:c3/, 'nothing of c3 left')
  ok(t, rg.pm('CHECK', 'c1', c1.ns, rg.pmConf(m1, c1.prev, ipt)), 'CHECK')
  const c4 = await rg.container('c4', [{ hostPort: 9090, containerPort: 80 }], ipt)
  ok(t, c4.add, 'ADD c4')
  const gc = runPlugin('portmap', { env: { CNI_COMMAND: 'GC', CNI_PATH: BIN_DIR }, stdin: { ...rg.pmConf([], undefined, ipt), cniVersion: '1.1.0', 'cni.dev/valid-attachments': [{ containerID: 'c1', ifname: 'eth0' }] }, hostNetns: rg.host.path })
  ok(t, gc, 'GC')
  t.notMatch(rg.host.exec('iptables-save', ['-t', 'nat']), /id:c4/, "c4's rules collected")
  ok(t, rg.pm('DEL', 'c1', '', rg.pmConf([], undefined, ipt)), 'DEL')
  const left = (f: string) => rg.host.exec(f, ['-t', 'nat']).split('\n').filter((l) => l.includes('id:c1'))
  t.same([...left('iptables-save'), ...left('ip6tables-save')], [], 'no rule of c1 left')
  t.match(talk(rg.ext, '10.99.0.1', 8080), /^ERR/, 'no longer forwarded')
  ok(t, rg.pm('DEL', 'c1', '', rg.pmConf([], undefined, ipt)), 'DEL again')
})
