// `berth net create|ls|inspect|rm` and the default network: conflists of podman's shape that berth's own
// plugins run end to end, subnets clear of the host's routes and of other networks, unique bridges, and
// rm that refuses while the network is in use and otherwise leaves nothing. bin/berth runs inside a
// throw-away "host" namespace with BERTH_ROOT in a test directory (bridges and routes stay there).
import t, { type Test } from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createTestNetns, wireVeth, type TestNetns } from '../../helpers/netns.js'
import { BIN_DIR } from '../../helpers/paths.js'
import { needsBuiltBin, needsRoot } from '../../helpers/privileges.js'

const skip = needsRoot() || needsBuiltBin('berth', BIN_DIR) || needsBuiltBin('bridge', BIN_DIR)
const PATH = process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin'

interface Host {
  ns: TestNetns
  root: string
  confDir: string
  berth(args: string[]): { status: number | null; stdout: string; stderr: string }
  berthAsync(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }>
  conflist(name: string): Record<string, unknown> & { plugins: Record<string, unknown>[] }
}

async function host(t: Test): Promise<Host> {
  const ns = await createTestNetns(t)
  ns.exec('ip', ['link', 'set', 'lo', 'up'])
  const root = t.testdir()
  const argv = (args: string[]) => [`--net=${ns.path}`, '--', join(BIN_DIR, 'berth'), ...args]
  const env = { PATH, BERTH_ROOT: root, CNI_PATH: BIN_DIR }
  const confDir = join(root, 'etc/cni/net.d')
  return {
    ns,
    root,
    confDir,
    berth: (args) => {
      const r = spawnSync('nsenter', argv(args), { env, encoding: 'utf8', timeout: 60_000 })
      return { status: r.status, stdout: r.stdout, stderr: r.stderr }
    },
    berthAsync: (args) =>
      new Promise((resolve) => {
        const c = spawn('nsenter', argv(args), { env })
        let stdout = ''
        let stderr = ''
        c.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
        c.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
        c.on('close', (status) => resolve({ status, stdout, stderr }))
      }),
    conflist: (name) => JSON.parse(readFileSync(join(confDir, `${name}.conflist`), 'utf8')) as Record<string, unknown> & { plugins: Record<string, unknown>[] },
  }
}

const links = (ns: TestNetns) => (ns.ipJson(['link', 'show']) as { ifname: string }[]).map((l) => l.ifname).sort()

t.test('create, ls, inspect, use with berth cni, rm: the round trip leaves nothing', { skip }, async (t) => {
  const h = await host(t)
  // the host already routes 10.89.0.0/24 and has 10.89.1.5 (a /32: no prefix route): 10.89.2.0/24 is free
  h.ns.exec('ip', ['route', 'add', '10.89.0.0/24', 'dev', 'lo'])
  h.ns.exec('ip', ['addr', 'add', '10.89.1.5/32', 'dev', 'lo'])
  const c = h.berth(['net', 'create', 'web'])
  t.equal(c.status, 0, c.stderr)
  t.equal(c.stdout, 'web\n', 'prints the name')
  const conf = h.conflist('web')
  t.equal(conf['cniVersion'], '1.1.0')
  t.same(conf.plugins.map((p) => p['type']), ['bridge', 'portmap', 'firewall', 'tuning'], "podman's plugin order")
  const [bridge, portmap, firewall] = conf.plugins
  t.same(bridge, {
    type: 'bridge',
    bridge: 'berth1',
    isGateway: true,
    ipMasq: true,
    hairpinMode: true,
    capabilities: { ips: true, mac: true },
    ipam: { type: 'host-local', routes: [{ dst: '0.0.0.0/0' }], ranges: [[{ subnet: '10.89.2.0/24', gateway: '10.89.2.1' }]], dataDir: join(h.root, 'var/lib/cni/networks') },
  }, 'bridge + host-local, subnet clear of the host route')
  t.same(portmap, { type: 'portmap', capabilities: { portMappings: true } })
  t.same(firewall, { type: 'firewall', backend: '' })

  const ls = h.berth(['net', 'ls', '--json'])
  t.equal(ls.status, 0, ls.stderr)
  t.same((JSON.parse(ls.stdout) as { name: string; subnets: string[]; bridge: string; driver: string }[]).map((n) => [n.name, n.driver, n.subnets, n.bridge]), [['web', 'bridge', ['10.89.2.0/24'], 'berth1']])
  t.match(h.berth(['net', 'ls']).stdout, /^NAME\s+DRIVER\s+SUBNETS\s+BRIDGE\s+FILE\nweb\s+bridge\s+10\.89\.2\.0\/24\s+berth1\s+\S+web\.conflist\n$/)

  const ctr = await createTestNetns(t)
  const add = h.berth(['cni', 'add', 'web', ctr.path, '--cap', 'portMappings=[{"hostPort":18081,"containerPort":80,"protocol":"tcp"}]'])
  t.equal(add.status, 0, `the whole chain runs with berth's plugins: ${add.stderr}`)
  t.match((JSON.parse(add.stdout) as { ips: { address: string }[] }).ips[0]?.address, /^10\.89\.2\.\d+\/24$/)
  t.ok(links(h.ns).includes('berth1'), 'bridge berth1 exists in the host')

  const insp = h.berth(['net', 'inspect', 'web'])
  t.equal(insp.status, 0, insp.stderr)
  const doc = JSON.parse(insp.stdout) as { name: string; conflist: unknown; attachments: { netns: string; ifName: string }[]; containers: string[] }
  t.equal(doc.name, 'web')
  t.same(doc.conflist, conf, 'the conflist as written')
  t.same(doc.attachments.map((a) => [a.netns, a.ifName]), [[ctr.path, 'eth0']], 'the cached attachment')
  t.same(doc.containers, [])

  const busy = h.berth(['net', 'rm', 'web'])
  t.equal(busy.status, 1, 'rm refused while a namespace is attached')
  t.match(busy.stderr, /^berth: network "web" is attached to .* \(eth0\); detach first with 'berth cni del web /)
  t.ok(existsSync(join(h.confDir, 'web.conflist')), 'conflist kept')

  t.equal(h.berth(['cni', 'del', 'web', ctr.path]).status, 0)
  const rm = h.berth(['net', 'rm', 'web'])
  t.equal(rm.status, 0, rm.stderr)
  t.equal(rm.stdout, 'web\n')
  t.notOk(existsSync(join(h.confDir, 'web.conflist')), 'conflist removed')
  t.notOk(existsSync(join(h.root, 'var/lib/cni/networks/web')), 'host-local reservations removed')
  t.same(links(h.ns), ['lo'], 'the bridge is gone from the host')
  t.same(JSON.parse(h.berth(['net', 'ls', '--json']).stdout), [])
  const again = h.berth(['net', 'rm', 'web'])
  t.equal(again.status, 1)
  t.match(again.stderr, /^berth: no network named "web"/)
})

t.test('rm is refused while a berth container uses the network', { skip }, async (t) => {
  const h = await host(t)
  t.equal(h.berth(['net', 'create', 'db', '--subnet', '10.90.7.0/24']).status, 0)
  const dir = join(h.root, 'run/berth/containers/app1')
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, 'state.json'), JSON.stringify({ version: 1, id: 'x1', name: 'app1', networks: ['db'], attachments: [{ network: 'db', ifName: 'eth0' }] }))
  const r = h.berth(['net', 'rm', 'db'])
  t.equal(r.status, 1)
  t.equal(r.stderr, "berth: network \"db\" is in use by container app1; remove it first with 'berth rm -f app1'\n")
  t.ok(existsSync(join(h.confDir, 'db.conflist')))
  t.same((JSON.parse(h.berth(['net', 'inspect', 'db']).stdout) as { containers: string[] }).containers, ['app1'], 'inspect names the container')
})

t.test('shapes: internal, dual stack, gateway, mtu, vxlan', { skip }, async (t) => {
  const h = await host(t)
  t.equal(h.berth(['net', 'create', 'iso', '--internal', '--subnet', '10.90.8.0/24', '--subnet', 'fd00:8::/64', '--mtu', '1400']).status, 0)
  const iso = h.conflist('iso').plugins[0] as Record<string, unknown>
  t.equal(iso['isGateway'], false)
  t.equal(iso['ipMasq'], false)
  t.equal(iso['mtu'], 1400)
  t.same(iso['ipam'], { type: 'host-local', ranges: [[{ subnet: '10.90.8.0/24' }], [{ subnet: 'fd00:8::/64' }]], dataDir: join(h.root, 'var/lib/cni/networks') }, 'no gateway, no default route')

  t.equal(h.berth(['net', 'create', 'gw', '--subnet', '10.90.9.0/24', '--subnet', 'fd00:9::/64', '--gateway', '10.90.9.254']).status, 0)
  t.same((h.conflist('gw').plugins[0] as { ipam: unknown }).ipam, {
    type: 'host-local',
    routes: [{ dst: '0.0.0.0/0' }, { dst: '::/0' }],
    ranges: [[{ subnet: '10.90.9.0/24', gateway: '10.90.9.254' }], [{ subnet: 'fd00:9::/64', gateway: 'fd00:9::1' }]],
    dataDir: join(h.root, 'var/lib/cni/networks'),
  })
  t.equal((h.conflist('gw').plugins[0] as { bridge: string }).bridge, 'berth2', 'the next free bridge name')

  t.equal(h.berth(['net', 'create', 'ovl', '--driver', 'vxlan']).status, 0)
  const ovl = h.conflist('ovl')
  t.same(ovl.plugins.map((p) => p['type']), ['overlay-vxlan', 'portmap', 'firewall', 'tuning'])
  t.same(ovl.plugins[0], { type: 'overlay-vxlan', clusterCidr: '10.244.0.0/16', subnetLen: 24, vni: 1, store: { type: 'file' } })
  t.match(h.berth(['net', 'ls']).stdout, /ovl\s+vxlan\s+10\.244\.0\.0\/16\s+-/)
  // a second vxlan network must not share VNI 1 (its device berth.1 and bridge berthbr1)
  t.equal(h.berth(['net', 'create', 'ovl2', '--driver', 'vxlan', '--subnet', '10.245.0.0/16']).status, 0)
  t.equal(h.conflist('ovl2').plugins[0]?.['vni'], 2, 'the next free VNI')
  t.equal(h.berth(['net', 'rm', 'ovl']).status, 0)
  t.equal(h.berth(['net', 'create', 'ovl3', '--driver', 'vxlan']).status, 0)
  t.equal(h.conflist('ovl3').plugins[0]?.['vni'], 1, 'a freed VNI is reused')
  t.equal(h.berth(['net', 'create', 'ovl4', '--driver', 'vxlan', '--subnet', '10.246.0.0/16', '--vni', '4096']).status, 0)
  t.equal(h.conflist('ovl4').plugins[0]?.['vni'], 4096, '--vni is taken as given')
  const taken = h.berth(['net', 'create', 'ovl5', '--driver', 'vxlan', '--subnet', '10.247.0.0/16', '--vni', '2'])
  t.equal(taken.status, 1)
  t.match(taken.stderr, /--vni 2 is used by network "ovl2"/)
})

t.test('macvlan: podman\'s shape on --parent, the parent\'s own subnet allowed; berth cni add joins its segment; rm', { skip: skip || needsBuiltBin('macvlan', BIN_DIR) }, async (t) => {
  const h = await host(t)
  // The parent is on 10.92.5.0/24 (the host routes it), and so is the LAN beyond it.
  const lan = await createTestNetns(t)
  wireVeth({ ns: h.ns, name: 'lanpar', addr: '10.92.5.200/24' }, { ns: lan, name: 'lan0', addr: '10.92.5.254/24' })
  const c = h.berth(['net', 'create', 'lan', '--driver', 'macvlan', '--parent', 'lanpar', '--subnet', '10.92.5.0/24', '--gateway', '10.92.5.254', '--mtu', '1400'])
  t.equal(c.status, 0, c.stderr)
  t.same(h.conflist('lan'), {
    cniVersion: '1.1.0',
    name: 'lan',
    plugins: [
      {
        type: 'macvlan',
        master: 'lanpar',
        mtu: 1400,
        capabilities: { ips: true, mac: true },
        ipam: { type: 'host-local', routes: [{ dst: '0.0.0.0/0' }], ranges: [[{ subnet: '10.92.5.0/24', gateway: '10.92.5.254' }]], dataDir: join(h.root, 'var/lib/cni/networks') },
      },
    ],
  }, 'the macvlan plugin alone, on the parent, with host-local')
  t.match(h.berth(['net', 'ls']).stdout, /lan\s+macvlan\s+10\.92\.5\.0\/24\s+-/)
  t.match(JSON.parse(h.berth(['net', 'ls', '--json']).stdout), [{ name: 'lan', driver: 'macvlan', parent: 'lanpar' }])
  const overlap = h.berth(['net', 'create', 'lan2', '--driver', 'macvlan', '--parent', 'lanpar', '--subnet', '10.92.5.128/25'])
  t.match(overlap.stderr, /subnet 10\.92\.5\.128\/25 overlaps network "lan"/, 'another network\'s subnet still counts')

  const ctr = await createTestNetns(t)
  const add = h.berth(['cni', 'add', 'lan', ctr.path])
  t.equal(add.status, 0, add.stderr)
  t.match((JSON.parse(add.stdout) as { ips: { address: string }[] }).ips[0]?.address, '10.92.5.1/24', 'the first free address')
  t.equal(lan.exec('ping', ['-c', '1', '-W', '3', '10.92.5.1']).includes('1 received'), true, 'the LAN reaches the container')
  t.equal(h.berth(['cni', 'del', 'lan', ctr.path]).status, 0)
  t.same(links(ctr), ['lo'])
  const rm = h.berth(['net', 'rm', 'lan'])
  t.equal(rm.status, 0, rm.stderr)
  t.same(links(h.ns), ['lanpar', 'lo'], 'the parent stays')
  t.notOk(existsSync(join(h.root, 'var/lib/cni/networks/lan')), 'host-local reservations removed')
})

t.test('parallel creates pick different subnets and bridges', { skip }, async (t) => {
  const h = await host(t)
  const rs = await Promise.all(['p1', 'p2', 'p3'].map((n) => h.berthAsync(['net', 'create', n])))
  for (const r of rs) t.equal(r.status, 0, r.stderr)
  const firsts = ['p1', 'p2', 'p3'].map((n) => h.conflist(n).plugins[0] as { bridge: string; ipam: { ranges: { subnet: string }[][] } })
  t.equal(new Set(firsts.map((f) => f.bridge)).size, 3, 'three bridge names')
  t.equal(new Set(firsts.map((f) => f.ipam.ranges[0]?.[0]?.subnet)).size, 3, 'three subnets')
})

t.test('bad input: one clear line, exit 1, no file written', { skip }, async (t) => {
  const h = await host(t)
  t.equal(h.berth(['net', 'create', 'taken', '--subnet', '10.90.1.0/24']).status, 0)
  h.ns.exec('ip', ['route', 'add', '10.91.0.0/16', 'dev', 'lo'])
  h.ns.exec('ip', ['addr', 'add', '10.93.0.7/32', 'dev', 'lo'])
  const cases: [string[], RegExp][] = [
    [['net', 'create', 'taken'], /network "taken" already exists in .*; choose another name or remove it with 'berth net rm taken'/],
    [['net', 'create', 'x', '--subnet', '10.90.1.128/25'], /subnet 10\.90\.1\.128\/25 overlaps network "taken"; choose another --subnet/],
    [['net', 'create', 'x', '--subnet', '10.91.3.0/24'], /overlaps the host's route to 10\.91\.0\.0\/16/],
    [['net', 'create', 'x', '--subnet', '10.93.0.0/24'], /overlaps the host's address 10\.93\.0\.7; choose another --subnet/],
    [['net', 'create', 'x', '--subnet', '10.92.0.0'], /invalid --subnet "10\.92\.0\.0": no prefix length/],
    [['net', 'create', 'x', '--subnet', 'banana'], /invalid --subnet "banana"; give a CIDR/],
    [['net', 'create', 'x', '--subnet', '10.92.0.0/31'], /too small/],
    [['net', 'create', 'x', '--subnet', '10.92.0.0/24', '--subnet', '10.92.0.0/16'], /overlaps --subnet/],
    [['net', 'create', 'x', '--subnet', '10.92.0.0/24', '--gateway', '10.93.0.1'], /--gateway 10\.93\.0\.1 is not inside any --subnet/],
    [['net', 'create', 'x', '--subnet', '10.92.0.0/24', '--gateway', '10.92.0.255'], /broadcast/],
    [['net', 'create', 'x', '--mtu', '9'], /invalid --mtu 9/],
    [['net', 'create', 'host'], /"host" is reserved/],
    [['net', 'create', '../evil'], /invalid network name "\.\.\/evil"/],
    [['net', 'create', 'x', '--driver', 'ipvlan'], /invalid --driver "ipvlan"; use bridge, vxlan or macvlan/],
    [['net', 'create', 'x', '--driver', 'macvlan'], /--driver macvlan needs --subnet: the subnet of the parent's segment/],
    [['net', 'create', 'x', '--driver', 'macvlan', '--parent', 'btnosuch0', '--subnet', '10.92.0.0/24'], /--parent btnosuch0: no such interface here/],
    [['net', 'create', 'x', '--driver', 'macvlan', '--parent', 'a/b', '--subnet', '10.92.0.0/24'], /invalid --parent "a\/b"/],
    [['net', 'create', 'x', '--driver', 'macvlan', '--subnet', '10.90.1.0/24'], /subnet 10\.90\.1\.0\/24 overlaps network "taken"/],
    [['net', 'create', 'x', '--parent', 'lo'], /--parent is only for --driver macvlan/],
    [['net', 'create', 'x', '--mtu', 'big'], /invalid --mtu \(not a number\)/],
    [['net', 'create', 'x', '--driver', 'vxlan', '--internal'], /--internal is not supported with --driver vxlan/],
    [['net', 'create', 'x', '--vni', '5'], /--vni is only for --driver vxlan/],
    [['net', 'create', 'x', '--driver', 'vxlan', '--vni', '0'], /invalid --vni 0; give an integer from 1 to 16777215/],
    [['net', 'create', 'x', '--driver', 'vxlan', '--vni', '16777216'], /invalid --vni 16777216/],
    [['net', 'create', 'x', '--driver', 'vxlan', '--subnet', '10.92.0.0/24'], /one IPv4 cluster subnet of \/22 or larger/],
    [['net', 'inspect', 'nope'], /no network named "nope"/],
    [['net', 'rm'], /Not enough non-option arguments/],
    [['net', 'create', 'x', '--cni-conf-dir', join(h.confDir, 'taken.conflist', 'sub')], /^berth: cannot read CNI config dir .*taken\.conflist\/sub: ENOTDIR; it must be a readable directory/],
    [['net', 'create', 'x', '--cni-conf-dir', '/proc/self/berth-nope'], /^berth: cannot write \/proc\/self\/berth-nope\/x\.conflist: ENOENT; check the CNI config dir/],
  ]
  for (const [args, re] of cases) {
    const r = h.berth(args)
    t.equal(r.status, 1, `${args.join(' ')}: exit 1`)
    t.match(r.stderr, re, `${args.join(' ')}: says what is wrong`)
    t.equal(r.stderr.trim().split('\n').length, 1, 'one line')
    t.equal(r.stdout, '', 'nothing on stdout')
  }
  t.same(readdirSync(h.confDir), ['taken.conflist'], 'no other file written')
})

t.test('the default network: written on first use, clear of the host routes, then reused', { skip }, async (t) => {
  const root = t.testdir()
  const saved = process.env['BERTH_ROOT']
  process.env['BERTH_ROOT'] = root
  t.teardown(() => {
    if (saved === undefined) delete process.env['BERTH_ROOT']
    else process.env['BERTH_ROOT'] = saved
  })
  const { ensureDefaultNetwork } = await import('../../../runtime-min/netconf/networks.js')
  const { hostRoutes, overlaps } = await import('../../../runtime-min/netconf/subnets.js')
  const { parseCidr } = await import('../../../pkg/ip/cidr.js')
  const [a, b] = await Promise.all([ensureDefaultNetwork(), ensureDefaultNetwork()])
  t.equal(a.name, 'berth')
  t.same(Buffer.from(a.bytes), Buffer.from(b.bytes ?? new Uint8Array()), 'concurrent first uses agree')
  t.same(readdirSync(join(root, 'etc/cni/net.d')), ['berth.conflist'])
  const first = a.plugins[0] as unknown as { bridge: string; ipam: { ranges: { subnet: string }[][] } }
  t.equal(first.bridge, 'berth0')
  const subnet = first.ipam.ranges[0]?.[0]?.subnet ?? ''
  const clash = hostRoutes().filter((r) => overlaps(r, parseCidr(subnet)))
  t.same(clash, [], `default subnet ${subnet} overlaps none of this machine's routes`)
  if (!hostRoutes().some((r) => overlaps(r, parseCidr('10.87.0.0/16')))) t.equal(subnet, '10.87.0.0/16', 'the documented default')
  const again = await ensureDefaultNetwork()
  t.same(Buffer.from(again.bytes), Buffer.from(a.bytes), 'reused, not rewritten')
})

t.test('--help for every net, cni and install command, with examples; non-root gets one line', { skip: needsBuiltBin('berth', BIN_DIR) }, async (t) => {
  const bin = join(BIN_DIR, 'berth')
  const opts = { encoding: 'utf8' as const }
  // `env -i`: tap adds NODE_OPTIONS to every child, which would make berth write tap's files as nobody
  const asNobody = (args: string[]) => spawnSync('env', ['-i', `PATH=${PATH}`, 'setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', bin, ...args], opts)
  for (const cmd of [['net', 'create'], ['net', 'ls'], ['net', 'inspect'], ['net', 'rm'], ['cni', 'add'], ['cni', 'check'], ['cni', 'del'], ['cni', 'gc'], ['cni', 'status'], ['install']]) {
    const r = spawnSync(bin, [...cmd, '--help'], opts)
    t.equal(r.status, 0, `${cmd.join(' ')} --help`)
    t.match(r.stdout, new RegExp(`^berth ${cmd.join(' ')}`), 'usage line first')
    t.match(r.stdout, /\nExamples:\n  berth /, 'has examples')
  }
  for (const g of ['net', 'cni']) t.match(spawnSync(bin, [g, '--help'], opts).stdout, /Commands:/, `${g} --help lists its commands`)
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }
  const v = spawnSync(bin, ['--version'], opts)
  t.equal(v.status, 0, '--version exits 0')
  t.equal(v.stdout, `${pkg.version}\n`, "--version prints package.json's version")
  if (needsRoot() === false) {
    const r = asNobody(['net', 'ls'])
    t.equal(r.status, 1)
    t.equal(r.stderr, 'berth: this command must run as root (it creates network namespaces, links and firewall rules); run it with sudo\n')
    t.equal(r.stdout, '')
    const help = asNobody(['net', '--help'])
    t.equal(help.status, 0, '--help needs no root')
  }
})
