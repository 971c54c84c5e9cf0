// podman 4.x with its CNI backend, pointed only at berth's bin/, must work unchanged: network create,
// run -p HOST:80 reachable from the host and from another namespace, rm -f leaving nothing behind.
//
// UNLIKE EVERY OTHER INTEGRATION TEST, THIS ONE RUNS IN THE MACHINE'S OWN NETWORK NAMESPACE: podman
// creates a real bridge (cni-podmanN) with a veth per container on the host, portmap/firewall/bridge add
// their nftables/iptables entries to the host's ruleset, host-local writes under /var/lib/cni/networks,
// and libcni caches results in /var/lib/cni/results. That is accepted for this one test because
//   - every name is unique (network berth-pt-<random>, container likewise, the bridge is the next free
//     cni-podmanN, the extra veth is bt<random>), the subnets are random /24s in 10.128.0.0/9 that overlap
//     no route or address of the host, and the published port is one nothing listens on;
//   - t.teardown removes the container, the network, the bridge, the veth, host-local's and libcni's
//     files for the network and all temporary directories, also when the test fails;
//   - podman is configured privately (CONTAINERS_CONF, CONTAINERS_STORAGE_CONF, network_config_dir,
//     tmp_dir, storage all in a temporary directory), so the host's podman configuration, storage and
//     /etc/cni/net.d are neither read nor changed.
// Facts about podman 4.3.1 on these machines (runc not crun, pinned ulimits, no registry, busybox image by
// `podman import`) are in the project notes; scripts/setup installs podman, runc and busybox-static.
// Set BERTH_PODMAN_TEST=0 to skip it.
import t from 'tap'
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { needsBuiltBin, needsRoot } from '../helpers/privileges.js'
import { BIN_DIR } from '../helpers/paths.js'
import { createTestNetns } from '../helpers/netns.js'
import { uniqueName } from '../helpers/names.js'
import { freeTcpPort, freeV4Slash24s } from '../helpers/host-net.js'
import { httpGet as get, httpGetIn, until } from '../helpers/http-probe.js'
import { busyboxTarball, filesUnder, onPath, privatePodman, staticBusybox, unmountUnder } from '../helpers/podman.js'

const PLUGINS = ['bridge', 'host-local', 'portmap', 'firewall', 'tuning']
const CNI_NETWORKS = '/var/lib/cni/networks'
const CNI_RESULTS = '/var/lib/cni/results'

const BUSYBOX = staticBusybox()
const skip =
  (process.env['BERTH_PODMAN_TEST'] === '0' ? 'BERTH_PODMAN_TEST=0' : false) ||
  needsRoot() ||
  PLUGINS.map((p) => needsBuiltBin(p, BIN_DIR)).find((r) => r !== false) ||
  (onPath('podman') ? false : 'podman not installed (scripts/setup installs podman, runc and busybox-static)') ||
  (onPath('runc') ? false : 'runc not installed (scripts/setup installs it; crun cannot run on this kernel)') ||
  (BUSYBOX !== undefined ? false : 'no static busybox (apt-get install busybox-static) for the test image') ||
  false

const run = (cmd: string, args: string[], timeout = 20_000): string =>
  execFileSync(cmd, args, { encoding: 'utf8', timeout, stdio: ['ignore', 'pipe', 'pipe'] })

const tryRun = (cmd: string, args: string[], timeout = 20_000): { status: number | null; out: string } => {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout, stdio: ['ignore', 'pipe', 'pipe'] })
  return { status: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}` }
}

function linkExists(name: string): boolean {
  return tryRun('ip', ['link', 'show', 'dev', name]).status === 0
}

/** The host's packet filter state as text: nftables ruleset and iptables-save of both backends. */
function filterState(): string {
  const parts = [tryRun('nft', ['list', 'ruleset']).out]
  for (const save of ['iptables-save', 'iptables-legacy-save', 'iptables-nft-save', 'ip6tables-save']) if (onPath(save)) parts.push(tryRun(save, []).out)
  return parts.join('\n')
}

t.test('podman (CNI backend) with only berth in cni_plugin_dirs', { skip, timeout: 170_000 }, async (t) => {
  const t0 = Date.now()
  const phase = (what: string): void => {
    t.comment(`${what}: ${Date.now() - t0} ms`)
  }
  const tag = randomBytes(4).toString('hex')
  const net = `berth-pt-${tag}`
  const ctr = `berth-pt-${tag}`
  const image = `localhost/berth-busybox:${tag}`
  const marker = `berth podman ${tag}`
  const [subnet, pool, link] = freeV4Slash24s(3) as [string, string, string]
  const port = await freeTcpPort()
  const tmp = mkdtempSync('/tmp/berth-podman-')
  let bridge: string | undefined
  const cniStateExisted = existsSync('/var/lib/cni')
  let hostVeth: string | undefined

  const conf = privatePodman(tmp, { backend: 'cni', pluginDirs: [BIN_DIR], subnetPool: `${pool}.0/24`, defaultNetwork: `berth-pd-${tag}` })
  const netDir = conf.netDir
  const env = {
    ...process.env,
    CONTAINERS_CONF: conf.CONTAINERS_CONF,
    CONTAINERS_STORAGE_CONF: conf.CONTAINERS_STORAGE_CONF,
    CONTAINERS_REGISTRIES_CONF: conf.CONTAINERS_REGISTRIES_CONF,
  }
  const podman = (args: string[], timeout = 60_000): string => {
    const r = spawnSync('podman', args, { env, encoding: 'utf8', timeout, stdio: ['ignore', 'pipe', 'pipe'] })
    if (r.status !== 0) throw new Error(`podman ${args.join(' ')}: ${r.error?.message ?? `exit ${String(r.status)}`}\n${r.stdout}${r.stderr}`)
    return r.stdout.trim()
  }
  const tryPodman = (args: string[], timeout = 60_000): void => {
    spawnSync('podman', args, { env, encoding: 'utf8', timeout, stdio: 'ignore' })
  }

  // The bridge plugin turns IP forwarding on in the namespace it runs in (here the machine's own, as
  // the reference does); put the machine's settings back afterwards.
  const FORWARDING = ['/proc/sys/net/ipv4/ip_forward', '/proc/sys/net/ipv6/conf/all/forwarding']
  const forwardingBefore = FORWARDING.map((f) => (existsSync(f) ? readFileSync(f, 'utf8').trim() : undefined))
  t.teardown(() => {
    FORWARDING.forEach((f, i) => {
      const v = forwardingBefore[i]
      if (v !== undefined && readFileSync(f, 'utf8').trim() !== v) writeFileSync(f, v)
    })
  })
  t.teardown(() => {
    tryPodman(['rm', '-f', '-t', '0', ctr])
    tryPodman(['network', 'rm', '-f', net])
    for (const l of [bridge, hostVeth]) if (l !== undefined && linkExists(l)) tryRun('ip', ['link', 'del', 'dev', l])
    unmountUnder(tmp)
    rmSync(tmp, { recursive: true, force: true })
    rmSync(join(CNI_NETWORKS, net), { recursive: true, force: true })
    if (existsSync(CNI_RESULTS)) for (const f of readdirSync(CNI_RESULTS)) if (f.startsWith(`${net}-`)) rmSync(join(CNI_RESULTS, f), { force: true })
    // libcni and host-local create /var/lib/cni on first use: take it away again if this test made it
    // and nothing else has put files in it meanwhile.
    if (!cniStateExisted && filesUnder('/var/lib/cni').length === 0) rmSync('/var/lib/cni', { recursive: true, force: true })
  })

  // A busybox image from a local rootfs: no registry needed.
  const tarball = busyboxTarball(tmp, BUSYBOX as string, ['sh', 'httpd', 'sleep', 'cat', 'ls', 'ip', 'wget', 'timeout'], { 'www/index.html': `${marker}\n` })
  podman(['import', tarball, image], 90_000)
  phase('image imported')

  // The network: podman writes a conflist calling bridge, portmap, firewall, tuning (and host-local).
  podman(['network', 'create', '--subnet', `${subnet}.0/24`, net])
  const conflist = JSON.parse(readFileSync(join(netDir, `${net}.conflist`), 'utf8')) as { plugins: { type: string; bridge?: string }[] }
  t.same(
    conflist.plugins.map((p) => p.type),
    ['bridge', 'portmap', 'firewall', 'tuning'],
    'podman wrote the chain it always writes',
  )
  bridge = conflist.plugins[0]?.bridge
  t.match(bridge, /^cni-podman\d+$/, `bridge ${String(bridge)}`)
  t.match(podman(['network', 'ls', '--format', '{{.Name}}']), net, 'podman lists the network (VERSION answered with 0.4.0 support)')
  phase('network created')

  // The container, with a published port.
  const id = podman(['run', '-d', '--name', ctr, '--network', net, '-p', `${port}:80`, image, '/bin/httpd', '-f', '-p', '80', '-h', '/www'], 90_000)
  t.match(id, /^[0-9a-f]{64}$/, 'podman run -d printed the container ID')
  phase('container started')
  const nets = JSON.parse(podman(['inspect', '-f', '{{json .NetworkSettings.Networks}}', ctr])) as Record<string, { IPAddress?: string; Gateway?: string }>
  const ip = nets[net]?.IPAddress ?? ''
  t.match(ip, new RegExp(`^${subnet.replace(/\./g, '\\.')}\\.\\d+$`), `container address ${ip} is in ${subnet}.0/24`)
  t.equal(nets[net]?.Gateway, `${subnet}.1`, 'gateway is the bridge address')
  const ports = (JSON.parse(run('ip', ['-j', 'link', 'show', 'master', bridge as string]) || '[]') as { ifname: string }[]).map((l) => l.ifname)
  t.equal(ports.length, 1, `one veth on ${String(bridge)}: ${ports.join(', ')}`)

  // Reachable from the host: loopback (portmap's localhost DNAT), the host's address on the bridge, and
  // the container's address directly.
  t.match(await until(() => get(ip, 80), marker), marker, `http://${ip}:80/ (container address, no mapping)`)
  t.match(await until(() => get('127.0.0.1', port), marker), marker, `http://127.0.0.1:${port}/ from the host`)
  t.match(await until(() => get(`${subnet}.1`, port), marker), marker, `http://${subnet}.1:${port}/ (host's address on the bridge)`)
  phase('reached from the host')

  // Reachable from another namespace joined to the host by a veth the test creates.
  const outside = await createTestNetns(t)
  hostVeth = uniqueName('pv')
  run('ip', ['link', 'add', hostVeth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', outside.name])
  run('ip', ['addr', 'add', `${link}.1/24`, 'dev', hostVeth])
  run('ip', ['link', 'set', hostVeth, 'up'])
  outside.exec('ip', ['link', 'set', 'lo', 'up'])
  outside.exec('ip', ['addr', 'add', `${link}.2/24`, 'dev', 'eth0'])
  outside.exec('ip', ['link', 'set', 'eth0', 'up'])
  t.match(await until(() => httpGetIn(outside.path, `${link}.1`, port), marker), marker, `http://${link}.1:${port}/ from another namespace`)
  phase('reached from another namespace')

  // berth's elements and rules are commented "... net:<network> id:<first 12 of the ID> if:<ifname>".
  const before = filterState()
  const short = id.slice(0, 12)
  const ipRe = new RegExp(`\\b${ip.replace(/\./g, '\\.')}\\b`)
  t.ok(before.includes(`id:${short}`), `before rm the packet filter carries id:${short} (so the checks below mean something)`)
  t.ok(ipRe.test(before), `before rm the packet filter carries ${ip}`)
  const netFiles = join(CNI_NETWORKS, net)
  t.ok(existsSync(join(netFiles, ip)), `host-local reserved ${ip}`)

  // rm -f: DEL through the whole chain.
  podman(['rm', '-f', '-t', '0', ctr], 90_000)
  phase('container removed')
  for (const v of ports) t.notOk(linkExists(v), `veth ${v} is gone`)
  t.same(JSON.parse(run('ip', ['-j', 'link', 'show', 'master', bridge as string]) || '[]'), [], `no port left on ${String(bridge)}`)
  const left = filesUnder(netFiles).filter((f) => !/\/(lock|last_reserved_ip\.\d+)$/.test(f.path))
  const visible = left.filter((f) => !f.path.slice(netFiles.length + 1).startsWith('.'))
  t.same(visible.map((f) => f.path), [], 'no host-local reservation file left')
  t.same(left.filter((f) => f.text.includes(id) || f.path.endsWith(`/${ip}`)).map((f) => f.path), [], 'nothing of the container in berth\'s hidden host-local dirs')
  const after = filterState()
  t.notOk(after.includes(short), `no nftables/iptables entry carries the container ID (${short})`)
  t.notOk(after.includes(`net:${net} `), `no nftables/iptables entry carries net:${net}`)
  t.notOk(ipRe.test(after), `no nftables/iptables entry carries ${ip}`)
  t.notOk(existsSync(join(CNI_RESULTS, `${net}-${id}-eth0`)), 'libcni\'s cached result is gone')
  t.notOk((await get('127.0.0.1', port, 1000)).includes(marker), 'the published port answers no more')

  podman(['network', 'rm', net])
  t.notOk(existsSync(join(netDir, `${net}.conflist`)), 'podman network rm removed the conflist')
  t.notOk(linkExists(bridge as string), `podman network rm removed ${String(bridge)}`)
  phase('network removed')
})
