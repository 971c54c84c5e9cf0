// `berth cni add|check|del` against plain network namespaces, like cnitool. Each test runs bin/berth
// inside a throw-away "host" namespace (nsenter) with BERTH_ROOT in a temporary directory and its own
// conf dir, so the machine's links, routes, firewall and /var/lib/cni are never touched.
import t, { type Test } from 'tap'
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { createTestNetns, type TestNetns } from '../../helpers/netns.js'
import { uniqueName } from '../../helpers/names.js'
import { BIN_DIR } from '../../helpers/paths.js'
import { needsBuiltBin, needsRoot } from '../../helpers/privileges.js'

const skip = needsRoot() || needsBuiltBin('berth', BIN_DIR) || needsBuiltBin('bridge', BIN_DIR)

interface Env {
  host: TestNetns
  root: string
  confDir: string
  dataDir: string
  bridge: string
  net: string
  berth(args: string[]): { status: number | null; stdout: string; stderr: string }
  writeConf(extraPlugins?: object[], name?: string, bridgeName?: string, dataDir?: string): Buffer
  leases(): string[]
  cacheFiles(): string[]
}

async function setup(t: Test, cniPath = BIN_DIR): Promise<Env> {
  const host = await createTestNetns(t)
  host.exec('ip', ['link', 'set', 'lo', 'up'])
  const root = t.testdir()
  const confDir = join(root, 'etc/cni/net.d')
  const dataDir = join(root, 'var/lib/cni/networks')
  mkdirSync(confDir, { recursive: true })
  const bridge = uniqueName('br')
  const net = 'citest'
  const env: Env = {
    host,
    root,
    confDir,
    dataDir,
    bridge,
    net,
    berth: (args) => {
      const r = spawnSync('nsenter', [`--net=${host.path}`, '--', join(BIN_DIR, 'berth'), ...args], {
        env: { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin', BERTH_ROOT: root, CNI_PATH: cniPath },
        encoding: 'utf8',
        timeout: 60_000,
      })
      return { status: r.status, stdout: r.stdout, stderr: r.stderr }
    },
    writeConf: (extra = [], name = net, bridgeName = bridge, dir = dataDir) => {
      const conf = {
        cniVersion: '1.0.0',
        name,
        plugins: [
          { type: 'bridge', bridge: bridgeName, isGateway: true, ipMasq: false, capabilities: { ips: true }, ipam: { type: 'host-local', ranges: [[{ subnet: '10.66.0.0/24' }]], dataDir: dir } },
          ...extra,
        ],
      }
      const bytes = Buffer.from(JSON.stringify(conf, null, 2))
      writeFileSync(join(confDir, `${name}.conflist`), bytes)
      return bytes
    },
    leases: () => {
      const dir = join(dataDir, net)
      return existsSync(dir) ? readdirSync(dir).filter((f) => f !== 'lock' && !f.startsWith('last_reserved_ip') && !f.startsWith('.')) : []
    },
    cacheFiles: () => {
      const dir = join(root, 'var/lib/cni/results')
      return existsSync(dir) ? readdirSync(dir) : []
    },
  }
  return env
}

/** cnitool's container ID: "cnitool-" + hex of the first 10 bytes of sha512(netns path). */
const cnitoolId = (path: string) => `cnitool-${createHash('sha512').update(path).digest('hex').slice(0, 20)}`

const ifaces = (ns: TestNetns) => (ns.ipJson(['link', 'show']) as { ifname: string }[]).map((l) => l.ifname).sort()

t.test('add, check, del: the attachment, its libcni cache file, traffic, and a clean DEL', { skip }, async (t) => {
  const e = await setup(t)
  const conf = e.writeConf()
  const ctr = await createTestNetns(t)

  const add = e.berth(['cni', 'add', e.net, ctr.path])
  t.equal(add.status, 0, `add exits 0: ${add.stderr}`)
  const result = JSON.parse(add.stdout) as { cniVersion: string; ips: { address: string; gateway: string }[]; interfaces: { name: string; sandbox?: string }[] }
  t.equal(result.cniVersion, '1.0.0', 'result in the list version')
  t.match(add.stdout, /^\{\n {4}"cniVersion": "1\.0\.0",\n/, "printed as cnitool prints (Go's four-space indent)")
  t.match(result.ips[0]?.address, /^10\.66\.0\.\d+\/24$/)
  t.ok(result.interfaces.some((i) => i.name === 'eth0' && i.sandbox === ctr.path), 'result names eth0 in the namespace')
  const addrs = ctr.ipJson(['-4', 'addr', 'show', 'eth0']) as { addr_info: { local: string; prefixlen: number }[] }[]
  t.same(addrs[0]?.addr_info.map((a) => `${a.local}/${a.prefixlen}`), [result.ips[0]?.address], 'eth0 has the address in the kernel')
  const ping = spawnSync('nsenter', [`--net=${ctr.path}`, '--', 'ping', '-c', '1', '-W', '5', result.ips[0]?.gateway ?? ''], { encoding: 'utf8' })
  t.equal(ping.status, 0, `the container reaches its gateway: ${ping.stdout}`)
  t.equal(e.leases().length, 1, 'host-local holds one reservation')

  const id = cnitoolId(ctr.path)
  t.same(e.cacheFiles(), [`${e.net}-${id}-eth0`], 'cache file named NET-CONTAINERID-IFNAME')
  const cached = JSON.parse(readFileSync(join(e.root, 'var/lib/cni/results', `${e.net}-${id}-eth0`), 'utf8')) as Record<string, unknown>
  t.same(Object.keys(cached), ['kind', 'containerId', 'config', 'ifName', 'networkName', 'netns', 'result'], "libcni's fields in libcni's order")
  t.equal(cached['kind'], 'cniCacheV1')
  t.equal(cached['containerId'], id)
  t.same(Buffer.from(cached['config'] as string, 'base64'), conf, 'config is the conflist bytes, base64')
  t.equal(cached['netns'], ctr.path)
  t.equal((cached['result'] as { ips: { address: string }[] }).ips[0]?.address, result.ips[0]?.address)

  const check = e.berth(['cni', 'check', e.net, ctr.path])
  t.equal(check.status, 0, `check passes: ${check.stderr}`)
  const dup = e.berth(['cni', 'add', e.net, ctr.path])
  t.equal(dup.status, 1, 'a second add of the same attachment is refused')
  t.equal(dup.stderr, `berth: network ${e.net} is already attached to container ${id} as eth0; DEL that attachment first\n`)
  t.equal(e.berth(['cni', 'check', e.net, ctr.path]).status, 0, 'and the first attachment is untouched')
  t.equal(e.leases().length, 1)
  ctr.exec('ip', ['addr', 'flush', 'dev', 'eth0'])
  const bad = e.berth(['cni', 'check', e.net, ctr.path])
  t.equal(bad.status, 1, 'check fails once the address is gone')
  t.match(bad.stderr, /^berth: plugin type="bridge" failed \(check\): .+\n$/, 'one line naming the plugin')

  const del = e.berth(['cni', 'del', e.net, ctr.path])
  t.equal(del.status, 0, `del exits 0: ${del.stderr}`)
  t.same(ifaces(ctr), ['lo'], 'eth0 is gone')
  t.same(e.leases(), [], 'reservation released')
  t.same(e.cacheFiles(), [], 'cache file removed')
  t.same((e.host.ipJson(['link', 'show', 'type', 'veth']) as unknown[]).length, 0, 'no host veth left')
  const again = e.berth(['cni', 'del', e.net, ctr.path])
  t.equal(again.status, 0, `DEL again is fine: ${again.stderr}`)
})

t.test('--ifname, --args and --cap reach the plugins; only declared capabilities are passed', { skip }, async (t) => {
  const e = await setup(t)
  e.writeConf()
  const ctr = await createTestNetns(t)
  // ips is declared by bridge (passed to host-local); portMappings is declared by nobody and must be withheld
  const add = e.berth(['cni', 'add', e.net, ctr.path, '--ifname', 'net1', '--args', 'IgnoreUnknown=1;FOO=bar', '--cap', 'ips=["10.66.0.77/24"]', '--cap', 'portMappings=[{"hostPort":1,"containerPort":2}]'])
  t.equal(add.status, 0, `add exits 0: ${add.stderr}`)
  t.equal((JSON.parse(add.stdout) as { ips: { address: string }[] }).ips[0]?.address, '10.66.0.77/24', 'the ips capability picked the address')
  t.same(ifaces(ctr), ['lo', 'net1'])
  const cacheName = `${e.net}-${cnitoolId(ctr.path)}-net1`
  const cached = JSON.parse(readFileSync(join(e.root, 'var/lib/cni/results', cacheName), 'utf8')) as Record<string, unknown>
  t.same(cached['cniArgs'], [['IgnoreUnknown', '1'], ['FOO', 'bar']], 'cniArgs cached as pairs')
  t.same(cached['capabilityArgs'], { ips: ['10.66.0.77/24'], portMappings: [{ containerPort: 2, hostPort: 1 }] }, 'all capability args cached (sorted keys)')
  const del = e.berth(['cni', 'del', e.net, ctr.path, '--ifname', 'net1'])
  t.equal(del.status, 0, del.stderr)
  t.same(ifaces(ctr), ['lo'])
  t.same(e.leases(), [])
})

t.test('DEL after the namespace is gone, and with the conflist removed from disk (the cached one is used)', { skip }, async (t) => {
  const e = await setup(t)
  e.writeConf()
  const ctr = await createTestNetns(t)
  t.equal(e.berth(['cni', 'add', e.net, ctr.path]).status, 0)
  const path = ctr.path
  ctr.destroy()
  rmSync(join(e.confDir, `${e.net}.conflist`))
  const del = e.berth(['cni', 'del', e.net, path])
  t.equal(del.status, 0, `del exits 0: ${del.stderr}`)
  t.same(e.leases(), [], 'reservation released')
  t.same(e.cacheFiles(), [], 'cache file removed')
  t.same((e.host.ipJson(['link', 'show', 'type', 'veth']) as unknown[]).length, 0, 'the host veth went with the namespace')
})

t.test('a corrupt or empty cache file never blocks DEL', { skip }, async (t) => {
  const e = await setup(t)
  e.writeConf()
  for (const content of ['', '{"kind": "cniCacheV1", "containerId": tru', '{"kind":"somethingElse"}']) {
    const ctr = await createTestNetns(t)
    t.equal(e.berth(['cni', 'add', e.net, ctr.path]).status, 0)
    const [file] = e.cacheFiles()
    writeFileSync(join(e.root, 'var/lib/cni/results', file ?? 'x'), content)
    const del = e.berth(['cni', 'del', e.net, ctr.path])
    t.equal(del.status, 0, `del with cache ${JSON.stringify(content)} exits 0: ${del.stderr}`)
    t.same(ifaces(ctr), ['lo'], 'eth0 removed')
    t.same(e.leases(), [], 'reservation released')
    t.same(e.cacheFiles(), [], 'cache file removed')
  }
})

t.test('a failing plugin in the chain: ADD fails and rolls back what ran', { skip }, async (t) => {
  const e = await setup(t)
  const cases: [string, object, RegExp][] = [
    // tuning refuses a sysctl outside net.*, after bridge succeeded
    ['a plugin error', { type: 'tuning', sysctl: { 'kernel.hostname': 'x' } }, /^berth: plugin type="tuning" failed \(add\): .+\n$/],
    ['a plugin not on CNI_PATH', { type: 'no-such-plugin' }, /^berth: plugin type="no-such-plugin" failed \(add\): failed to find plugin "no-such-plugin" in path .+\n$/],
  ]
  for (const [what, extra, re] of cases) {
    e.writeConf([extra])
    const ctr = await createTestNetns(t)
    const add = e.berth(['cni', 'add', e.net, ctr.path])
    t.equal(add.status, 1, `${what}: exit 1`)
    t.equal(add.stdout, '', 'nothing on stdout')
    t.match(add.stderr, re, `${what}: one line naming the plugin`)
    t.same(ifaces(ctr), ['lo'], 'no interface left in the namespace')
    t.same(e.leases(), [], 'no reservation left')
    t.same(e.cacheFiles(), [], 'no cache file')
    t.same((e.host.ipJson(['link', 'show', 'type', 'veth']) as unknown[]).length, 0, 'no host veth left')
  }
})

t.test('bad input: one clear line, exit 1, nothing left behind', { skip }, async (t) => {
  const e = await setup(t)
  e.writeConf()
  const ctr = await createTestNetns(t)
  const cases: [string, string[], RegExp][] = [
    ['unknown network', ['cni', 'add', 'nosuchnet', ctr.path], /no network named "nosuchnet" in .*net\.d; create it with 'berth net create nosuchnet'/],
    ['bad --cap JSON', ['cni', 'add', e.net, ctr.path, '--cap', 'ips=[10.0.0.1'], /invalid --cap ips: the value is not JSON/],
    ['--cap without =', ['cni', 'add', e.net, ctr.path, '--cap', 'ips'], /invalid --cap "ips"; write NAME=JSON/],
    ['bad --args', ['cni', 'add', e.net, ctr.path, '--args', 'A=1;B'], /invalid --args pair "B"/],
    ['bad ifname', ['cni', 'add', e.net, ctr.path, '--ifname', 'a/b'], /invalid --ifname "a\/b"/],
    ['too long ifname', ['cni', 'add', e.net, ctr.path, '--ifname', 'abcdefghijklmnop'], /invalid --ifname .*too long/],
    ['missing netns', ['cni', 'add', e.net, '/run/netns/berth-no-such-ns'], /network namespace \/run\/netns\/berth-no-such-ns does not exist/],
    ['a file that is no namespace', ['cni', 'add', e.net, join(e.root, 'etc/cni/net.d', `${e.net}.conflist`)], /^berth: plugin type="bridge" failed \(add\): (?!.*(not a network namespace).*\1).*not a network namespace/],
    ['missing argument', ['cni', 'add', e.net], /Not enough non-option arguments/],
    ['unknown subcommand', ['cni', 'frob'], /Unknown command: frob/],
    ['unknown subcommand, near a known one', ['cni', 'ad'], /unknown command; did you mean add\?/],
  ]
  for (const [what, args, re] of cases) {
    const r = e.berth(args)
    t.equal(r.status, 1, `${what}: exit 1`)
    t.match(r.stderr, re, `${what}: says what is wrong`)
    t.equal(r.stderr.trim().split('\n').length, 1, `${what}: one line`)
    t.equal(r.stdout, '', `${what}: nothing on stdout`)
  }
  t.same(ifaces(ctr), ['lo'], 'namespace untouched')
  t.same(e.leases(), [], 'no reservation')
  t.same(e.cacheFiles(), [], 'no cache file')
  t.same(ifaces(e.host), ['lo'], 'no bridge or veth in the host')
})

t.test('DEL uses the cached conflist when the one on disk changed (as podman relies on)', { skip }, async (t) => {
  const e = await setup(t)
  e.writeConf()
  const ctr = await createTestNetns(t)
  t.equal(e.berth(['cni', 'add', e.net, ctr.path]).status, 0)
  // same network name, another bridge and another dataDir on disk now
  const otherData = join(dirname(e.dataDir), 'elsewhere')
  e.writeConf([], e.net, uniqueName('bo'), otherData)
  const del = e.berth(['cni', 'del', e.net, ctr.path])
  t.equal(del.status, 0, del.stderr)
  t.same(e.leases(), [], "the reservation in the original dataDir is released (the cached conflist's)")
  t.notOk(existsSync(join(otherData, e.net)), 'the new dataDir was never touched')
  t.same(ifaces(ctr), ['lo'])
})

const REF = '/usr/lib/cni'
const refSkip = skip || (['bridge', 'host-local', 'tuning'].every((p) => existsSync(join(REF, p))) ? false : `reference plugins not in ${REF}`)

t.test('the chain runner drives the reference plugins (containernetworking-plugins) too', { skip: refSkip }, async (t) => {
  const e = await setup(t, REF)
  e.writeConf([{ type: 'tuning', sysctl: { 'net.ipv4.conf.eth0.arp_notify': '1' } }])
  const ctr = await createTestNetns(t)
  const add = e.berth(['cni', 'add', e.net, ctr.path])
  t.equal(add.status, 0, `ADD through reference bridge, host-local, tuning: ${add.stderr}`)
  t.match((JSON.parse(add.stdout) as { ips: { address: string }[] }).ips[0]?.address, /^10\.66\.0\.\d+\/24$/)
  t.equal(ctr.exec('cat', ['/proc/sys/net/ipv4/conf/eth0/arp_notify']).trim(), '1', 'tuning got prevResult and found eth0')
  const check = e.berth(['cni', 'check', e.net, ctr.path])
  t.equal(check.status, 0, `CHECK with the cached prevResult: ${check.stderr}`)
  const del = e.berth(['cni', 'del', e.net, ctr.path])
  t.equal(del.status, 0, del.stderr)
  t.same(ifaces(ctr), ['lo'])
  t.same(e.leases(), [])
  t.same(e.cacheFiles(), [])
})
