// The VXLAN overlay (overlay-vxlan + `berth overlay agent`) on a throw-away multi-host underlay:
//   1. TCP throughput (iperf3) container → container across two hosts through the overlay, against the
//      underlay host → host between the same two hosts, in the same run (goal >= 0.9x). Each round runs
//      every path once, the order rotated round by round so drift on a shared machine hits every path
//      alike; medians over BENCH_IPERF_ROUNDS (>= 5). A third path, host → host through the two VTEPs
//      (VXLAN encapsulation alone: no container, bridge, forwarding or NAT), shows how much of the gap
//      the encapsulation itself takes.
//   2. Join time: a new host starts its agent and attaches a container; the time until every other host's
//      container can reach it (ping), median over BENCH_JOINS joins; also the part after the new container's
//      ADD returned (its lease is in the store: the other agents' reaction, goal < 1 s).
//   3. Routes per host stay O(hosts): overlay routes on host1 with H hosts and C containers per host.
//
// Hosts are namespaces on a bridge in a "switch" namespace (as `berth rig` builds them); the plugin runs
// under `nsenter --net=HOST` and each agent is `bin/berth overlay agent` inside its host. The lease store is
// a temporary directory. Everything is held by `unshare --net sleep` processes and removed at exit.
import { spawn, spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { cleanup, errMsg, f1, installCleanup, iperfClient, median, newNamespaces, nsExec, nsSpawn, PATH_ENV, ratio, sleep, tempDir, track, waitListening, type Ns } from './lib/harness.js'

const ROOT = process.cwd()
const BIN = join(ROOT, 'bin')
const HOSTS = Number(process.env['BENCH_HOSTS'] ?? 3)
const EXTRA_CONTAINERS = Number(process.env['BENCH_CONTAINERS'] ?? 10)
const IPERF_SECONDS = Number(process.env['BENCH_IPERF_SECONDS'] ?? 3)
const IPERF_ROUNDS = Math.max(5, Number(process.env['BENCH_IPERF_ROUNDS'] ?? 5))
const JOINS = Number(process.env['BENCH_JOINS'] ?? 3)
const NET = 'benchov'

installCleanup('bench/overlay')
const dir = tempDir('berth-bench-overlay-')
const confDir = join(dir, 'net.d')
mkdirSync(confDir)
const conf = { cniVersion: '1.1.0', name: NET, type: 'overlay-vxlan', clusterCidr: '10.244.0.0/16', vni: 4242, leaseTtl: 60, store: { type: 'file', path: join(dir, 'store') } }
writeFileSync(join(confDir, `${NET}.conflist`), JSON.stringify({ cniVersion: '1.1.0', name: NET, plugins: [conf] }))

interface Host {
  name: string
  ns: Ns
  ip: string
  root: string
  containers: { ns: Ns; ip: string }[]
}

const [sw] = await newNamespaces(1, 3600)
if (sw === undefined) throw new Error('no switch namespace')
nsExec(sw, 'ip', ['link', 'add', 'br0', 'type', 'bridge'])
nsExec(sw, 'ip', ['addr', 'add', '10.99.0.1/24', 'dev', 'br0'])
nsExec(sw, 'ip', ['link', 'set', 'br0', 'up'])
const hosts: Host[] = []

async function addHost(): Promise<Host> {
  const k = hosts.length + 1
  const [ns] = await newNamespaces(1, 3600)
  if (ns === undefined) throw new Error('no host namespace')
  const ip = `10.99.0.${k + 1}`
  nsExec(ns, 'ip', ['link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', `sw${k}`, 'netns', String(sw!.pid)])
  nsExec(sw!, 'ip', ['link', 'set', `sw${k}`, 'master', 'br0', 'up'])
  for (const args of [['link', 'set', 'lo', 'up'], ['addr', 'add', `${ip}/24`, 'dev', 'eth0'], ['link', 'set', 'eth0', 'up'], ['route', 'add', 'default', 'via', '10.99.0.1']]) nsExec(ns, 'ip', args)
  nsExec(ns, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1'])
  if (process.env['BENCH_GRO'] === '1') nsExec(ns, 'ethtool', ['-K', 'eth0', 'gro', 'on'])
  const root = join(dir, `host${k}`)
  mkdirSync(root)
  const h: Host = { name: `host${k}`, ns, ip, root, containers: [] }
  hosts.push(h)
  return h
}

function startAgent(h: Host): void {
  track(
    spawn('nsenter', [`--net=${h.ns.path}`, '--', join(BIN, 'berth'), 'overlay', 'agent', '--net', NET, '--cni-conf-dir', confDir, '--resync', '1000'], {
      stdio: 'ignore',
      env: { PATH: PATH_ENV, BERTH_ROOT: h.root, BERTH_LOG_LEVEL: 'warn' },
    }),
  )
}

async function attach(h: Host): Promise<{ ns: Ns; ip: string }> {
  const [ns] = await newNamespaces(1, 3600)
  if (ns === undefined) throw new Error('no container namespace')
  const id = `bench${h.name}c${h.containers.length}`
  const r = spawnSync('nsenter', [`--net=${h.ns.path}`, '--', join(BIN, 'overlay-vxlan')], {
    env: { PATH: PATH_ENV, CNI_COMMAND: 'ADD', CNI_CONTAINERID: id, CNI_NETNS: ns.path, CNI_IFNAME: 'eth0', CNI_PATH: BIN, BERTH_ROOT: h.root },
    input: JSON.stringify(conf),
    encoding: 'utf8',
    timeout: 60_000,
  })
  if (r.status !== 0) throw new Error(`ADD on ${h.name} failed: ${r.stdout}${r.stderr}`)
  const ip = ((JSON.parse(r.stdout) as { ips: { address: string }[] }).ips[0]?.address ?? '').split('/')[0] ?? ''
  const c = { ns, ip }
  h.containers.push(c)
  return c
}

/** The 1-minute load average: throughput on a shared machine depends on it, so the report shows it. */
const loadAverage = () => readFileSync('/proc/loadavg', 'utf8').split(' ')[0] ?? '-'
/** A host's VTEP address (<subnet>.0 on its VXLAN device, the only address there). */
function vtepAddress(h: Host): string {
  const links = JSON.parse(nsExec(h.ns, 'ip', ['-j', '-4', 'addr', 'show', 'dev', `berth.${conf.vni}`])) as { addr_info?: { local?: string }[] }[]
  const ip = links[0]?.addr_info?.[0]?.local
  if (ip === undefined) throw new Error(`${h.name} has no VTEP address on berth.${conf.vni}`)
  return ip
}

const pings = (from: Ns, ip: string) => spawnSync('nsenter', [`--net=${from.path}`, '--', 'ping', '-c', '1', '-W', '0.2', ip], { env: { PATH: PATH_ENV }, timeout: 5000 }).status === 0
const overlayRoutes = (h: Host) => nsExec(h.ns, 'ip', ['route', 'show', 'proto', '190']).trim().split('\n').filter((l) => l !== '').length

try {
  // The mesh: agents first, then one container per host.
  for (let i = 0; i < HOSTS; i++) startAgent(await addHost())
  for (const h of hosts) await attach(h)
  for (const h of hosts) {
    const deadline = Date.now() + 20_000
    while (overlayRoutes(h) < HOSTS - 1) {
      if (Date.now() > deadline) throw new Error(`${h.name} did not learn its peers`)
      await sleep(50)
    }
  }
  const [h1, h2] = hosts as [Host, Host]
  const [c1, c2] = [h1.containers[0]!, h2.containers[0]!]
  if (!pings(c1.ns, c2.ip)) throw new Error('containers on host1 and host2 cannot reach each other')

  // 1. Throughput, same two hosts, order rotated per round (underlay, VTEP, overlay; VTEP, overlay, underlay; ...).
  const vtep2 = vtepAddress(h2)
  const sOv = nsSpawn(c2.ns, 'iperf3', ['-s', '-p', '5201'])
  const sUn = nsSpawn(h2.ns, 'iperf3', ['-s', '-p', '5202']) // also reached at h2's VTEP address
  await waitListening(sOv, 5201, 'iperf3 server (overlay)')
  await waitListening(sUn, 5202, 'iperf3 server (underlay)')
  const paths = [
    { name: 'underlay', run: () => iperfClient(h1.ns, ['-c', h2.ip, '-p', '5202'], IPERF_SECONDS, 'underlay'), runs: [] as number[] },
    { name: 'vtep', run: () => iperfClient(h1.ns, ['-c', vtep2, '-p', '5202'], IPERF_SECONDS, 'host to host through the VTEPs'), runs: [] as number[] },
    { name: 'overlay', run: () => iperfClient(c1.ns, ['-c', c2.ip, '-p', '5201'], IPERF_SECONDS, 'overlay'), runs: [] as number[] },
  ]
  const [underlay, vtepRuns, overlay] = paths.map((p) => p.runs) as [number[], number[], number[]]
  const roundLines: string[] = []
  const loadStart = loadAverage()
  for (let r = 0; r < IPERF_ROUNDS; r++) {
    for (let k = 0; k < paths.length; k++) {
      const p = paths[(r + k) % paths.length]!
      p.runs.push(p.run())
    }
    roundLines.push(`    round ${r + 1}: underlay ${f1(underlay[r]!)}, VTEP host->host ${f1(vtepRuns[r]!)}, container->container ${f1(overlay[r]!)} Gbit/s (${ratio(overlay[r]!, underlay[r]!)})`)
  }
  const loadEnd = loadAverage()
  const mtu = String((JSON.parse(nsExec(c1.ns, 'ip', ['-j', 'link', 'show', 'eth0'])) as { mtu: number }[])[0]?.mtu)

  // 3. Routes per host with more containers.
  for (const h of hosts) for (let i = 0; i < EXTRA_CONTAINERS; i++) await attach(h)
  const routes = overlayRoutes(h1)

  // 2. Joins.
  const joinMs: number[] = []
  const afterAddMs: number[] = []
  for (let j = 0; j < JOINS; j++) {
    const t0 = process.hrtime.bigint()
    const h = await addHost()
    startAgent(h)
    const c = await attach(h)
    // from here the new host's lease is in the store: what remains is the other agents' reaction
    const t1 = process.hrtime.bigint()
    const waiting = new Set(hosts.filter((x) => x !== h))
    const deadline = Date.now() + 30_000
    while (waiting.size > 0) {
      for (const x of [...waiting]) if (pings(x.containers[0]!.ns, c.ip)) waiting.delete(x)
      if (Date.now() > deadline) throw new Error(`${waiting.size} hosts never reached the new ${h.name}`)
    }
    const t2 = process.hrtime.bigint()
    joinMs.push(Number(t2 - t0) / 1e6)
    afterAddMs.push(Number(t2 - t1) / 1e6)
  }

  const ov = median(overlay)
  const un = median(underlay)
  const vt = median(vtepRuns)
  const out = [
    `overlay-vxlan benchmark: ${HOSTS} hosts (+${JOINS} joined), container MTU ${mtu}, iperf3 ${IPERF_ROUNDS} rounds x ${IPERF_SECONDS} s, load average ${loadStart} before the throughput rounds, ${loadEnd} after`,
    ...roundLines,
    `  TCP throughput container->container across hosts: ${f1(ov)} Gbit/s (median)`,
    `  TCP throughput underlay host->host:                ${f1(un)} Gbit/s (median)`,
    `  TCP throughput host->host through the VTEPs:      ${f1(vt)} Gbit/s (median; ${ratio(vt, un)} of the underlay: the encapsulation alone)`,
    `  overlay / underlay: ${ratio(ov, un)} (${(ov / un).toFixed(3)}; goal >= 0.90x: ${ov / un >= 0.9 ? 'met' : 'NOT met'})`,
    `  join: new host (namespace, agent, first container) until every other host reaches its container: median ${f1(median(joinMs))} ms (runs ${joinMs.map(f1).join(', ')})`,
    `  of which after the new container's ADD returned (the other agents reacting): median ${f1(median(afterAddMs))} ms (runs ${afterAddMs.map(f1).join(', ')})`,
    `  overlay routes on host1 with ${HOSTS} hosts and ${1 + EXTRA_CONTAINERS} containers per host: ${routes} (one per other host)`,
    `  overlay routes on host1 after the joins (${hosts.length} hosts): ${overlayRoutes(h1)}`,
  ]
  process.stdout.write(out.join('\n') + '\n')
} catch (e) {
  process.stderr.write(`bench/overlay: ${errMsg(e)}\n`)
  process.exitCode = 1
} finally {
  // the agents and servers are children: without this the bench would wait for them forever
  cleanup()
}
