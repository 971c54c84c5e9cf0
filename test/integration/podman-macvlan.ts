// podman 4.x with its CNI backend and only berth's bin/: `podman network create -d macvlan -o parent=IF
// --subnet S` writes a conflist for the macvlan plugin, and a container on it (with --mac-address, which
// podman passes as MAC= in CNI_ARGS) answers HTTP from another namespace on the parent's segment; rm -f
// leaves nothing.
//
// LIKE test/integration/podman.ts, THIS RUNS IN THE MACHINE'S OWN NETWORK NAMESPACE (podman's plugins run
// there): the parent is a veth the test makes (bt<random>, its peer in a throw-away namespace that plays
// the LAN), the subnet a random /24 of 10.128.0.0/9 that overlaps no route or address of the host, and
// t.teardown removes the container, the network, the veth, host-local's and libcni's files of the network
// and the temporary directories, also when the test fails. podman is configured privately as there.
// Set BERTH_PODMAN_TEST=0 to skip it.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { needsBuiltBin, needsLinkKind } from '../helpers/privileges.js'
import { BIN_DIR } from '../helpers/paths.js'
import { createTestNetns, wireVeth } from '../helpers/netns.js'
import { uniqueName } from '../helpers/names.js'
import { freeV4Slash24s } from '../helpers/host-net.js'
import { httpGetIn, until } from '../helpers/http-probe.js'
import { busyboxTarball, filesUnder, onPath, privatePodman, staticBusybox, unmountUnder } from '../helpers/podman.js'

const CNI_NETWORKS = '/var/lib/cni/networks'
const CNI_RESULTS = '/var/lib/cni/results'
const BUSYBOX = staticBusybox()
const skip =
  (process.env['BERTH_PODMAN_TEST'] === '0' ? 'BERTH_PODMAN_TEST=0' : false) ||
  needsLinkKind('macvlan') ||
  needsBuiltBin('macvlan', BIN_DIR) ||
  needsBuiltBin('host-local', BIN_DIR) ||
  (onPath('podman') ? false : 'podman not installed (scripts/setup installs podman, runc and busybox-static)') ||
  (onPath('runc') ? false : 'runc not installed (scripts/setup installs it; crun cannot run on this kernel)') ||
  (BUSYBOX !== undefined ? false : 'no static busybox (apt-get install busybox-static) for the test image') ||
  false

const tryRun = (cmd: string, args: string[]): number | null => spawnSync(cmd, args, { stdio: 'ignore', timeout: 20_000 }).status

t.test('podman (CNI backend): network create -d macvlan -o parent=IF, run, reach it from the segment, rm', { skip, timeout: 170_000 }, async (t) => {
  const tag = randomBytes(4).toString('hex')
  const net = `berth-mv-${tag}`
  const ctr = `berth-mv-${tag}`
  const image = `localhost/berth-busybox:mv${tag}`
  const marker = `berth podman macvlan ${tag}`
  const mac = `02:00:${tag.match(/../g)?.join(':')}`
  const [subnet, pool] = freeV4Slash24s(2) as [string, string]
  const tmp = mkdtempSync('/tmp/berth-podman-mv-')
  const parent = uniqueName('pmv')
  const cniStateExisted = existsSync('/var/lib/cni')

  const conf = privatePodman(tmp, { backend: 'cni', pluginDirs: [BIN_DIR], subnetPool: `${pool}.0/24`, defaultNetwork: `berth-mvd-${tag}` })
  const env = { ...process.env, CONTAINERS_CONF: conf.CONTAINERS_CONF, CONTAINERS_STORAGE_CONF: conf.CONTAINERS_STORAGE_CONF, CONTAINERS_REGISTRIES_CONF: conf.CONTAINERS_REGISTRIES_CONF }
  const podman = (args: string[], timeout = 60_000): string => {
    const r = spawnSync('podman', args, { env, encoding: 'utf8', timeout, stdio: ['ignore', 'pipe', 'pipe'] })
    if (r.status !== 0) throw new Error(`podman ${args.join(' ')}: ${r.error?.message ?? `exit ${String(r.status)}`}\n${r.stdout}${r.stderr}`)
    return r.stdout.trim()
  }
  t.teardown(() => {
    for (const args of [['rm', '-f', '-t', '0', ctr], ['network', 'rm', '-f', net], ['rmi', '-f', image]]) spawnSync('podman', args, { env, stdio: 'ignore', timeout: 60_000 })
    if (tryRun('ip', ['link', 'show', 'dev', parent]) === 0) tryRun('ip', ['link', 'del', 'dev', parent])
    unmountUnder(tmp)
    rmSync(tmp, { recursive: true, force: true })
    rmSync(join(CNI_NETWORKS, net), { recursive: true, force: true })
    if (existsSync(CNI_RESULTS)) for (const f of readdirSync(CNI_RESULTS)) if (f.startsWith(`${net}-`)) rmSync(join(CNI_RESULTS, f), { force: true })
    if (!cniStateExisted && filesUnder('/var/lib/cni').length === 0) rmSync('/var/lib/cni', { recursive: true, force: true })
  })

  // The segment: the parent in the machine's namespace, its peer (.254) in the LAN namespace.
  const lan = await createTestNetns(t)
  wireVeth({ name: parent }, { ns: lan, name: 'eth0', addr: `${subnet}.254/24` })

  const tarball = busyboxTarball(tmp, BUSYBOX as string, ['sh', 'httpd', 'sleep', 'ip'], { 'www/index.html': `${marker}\n` })
  podman(['import', tarball, image], 90_000)

  podman(['network', 'create', '-d', 'macvlan', '-o', `parent=${parent}`, '--subnet', `${subnet}.0/24`, '--gateway', `${subnet}.254`, net])
  const conflist = JSON.parse(readFileSync(join(conf.netDir, `${net}.conflist`), 'utf8')) as { cniVersion: string; plugins: Record<string, unknown>[] }
  t.same(conflist.plugins.map((p) => [p['type'], p['master']]), [['macvlan', parent]], "podman's macvlan conflist: the macvlan plugin on the parent")
  t.match(conflist.plugins[0], { ipam: { type: 'host-local', ranges: [[{ subnet: `${subnet}.0/24`, gateway: `${subnet}.254` }]] } })
  t.match(podman(['network', 'ls', '--format', '{{.Name}} {{.Driver}}']), `${net} macvlan`, 'podman lists it (VERSION answered)')

  podman(['run', '-d', '--name', ctr, '--network', net, '--mac-address', mac, image, '/bin/httpd', '-f', '-p', '80', '-h', '/www'], 90_000)
  const nets = JSON.parse(podman(['inspect', '-f', '{{json .NetworkSettings.Networks}}', ctr])) as Record<string, { IPAddress?: string; MacAddress?: string }>
  const ip = nets[net]?.IPAddress ?? ''
  t.equal(ip, `${subnet}.1`, 'the first address of the subnet')
  t.equal(nets[net]?.MacAddress, mac, 'the MAC asked for (MAC= in CNI_ARGS), as the result reported it')
  // busybox's ip has no -d: the host's ip, in the container's namespace
  const sandbox = podman(['inspect', '-f', '{{.NetworkSettings.SandboxKey}}', ctr])
  const eth0 = spawnSync('nsenter', [`--net=${sandbox}`, '--', 'ip', '-d', '-o', 'link', 'show', 'eth0'], { encoding: 'utf8', timeout: 10_000 }).stdout
  t.match(eth0, new RegExp(`link/ether ${mac} .*macvlan mode bridge`), 'eth0 is a macvlan with that MAC')
  t.match(await until(() => httpGetIn(lan.path, ip, 80), marker), marker, `http://${ip}/ from the LAN namespace`)
  t.ok(existsSync(join(CNI_NETWORKS, net, ip)), `host-local reserved ${ip}`)

  podman(['rm', '-f', '-t', '0', ctr], 90_000)
  const left = filesUnder(join(CNI_NETWORKS, net)).filter((f) => !/\/(lock|last_reserved_ip\.\d+)$/.test(f.path) && !f.path.slice(join(CNI_NETWORKS, net).length + 1).startsWith('.'))
  t.same(left.map((f) => f.path), [], 'no host-local reservation left')
  t.same(existsSync(CNI_RESULTS) ? readdirSync(CNI_RESULTS).filter((f) => f.startsWith(`${net}-`)) : [], [], "libcni's cached result is gone")
  t.notOk(httpGetIn(lan.path, ip, 80).includes(marker), 'the container answers no more')
  t.equal(tryRun('ip', ['link', 'show', 'dev', parent]), 0, 'the parent stays')
  podman(['network', 'rm', net])
  t.notOk(existsSync(join(conf.netDir, `${net}.conflist`)), 'podman network rm removed the conflist')
})
