// bin/host-local as a runtime runs it: every spec version, 50 concurrent processes, and side by side with
// the reference binary on one data directory (reservations made by either are honoured and released by
// the other). host-local touches no namespace: CNI_NETNS is only required to be set.
import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { runPlugin, type PluginRun } from '../../helpers/run-plugin.js'
import { needsBuiltBin } from '../../helpers/privileges.js'
import { BIN_DIR } from '../../helpers/paths.js'

const skip = needsBuiltBin('host-local', BIN_DIR)
const REF_DIR = '/usr/lib/cni'
const skipRef = skip || (existsSync(join(REF_DIR, 'host-local')) ? false : `reference plugin ${REF_DIR}/host-local not installed`)
const VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0']
const NETNS = '/var/run/netns/unused'

const conf = (dataDir: string, ipam: Record<string, unknown>, extra: Record<string, unknown> = {}, v = '1.0.0') => ({
  cniVersion: v,
  name: 'hlnet',
  type: 'bridge',
  ipam: { type: 'host-local', dataDir, ...ipam },
  ...extra,
})
const DUAL = { ranges: [[{ subnet: '10.77.0.0/24' }], [{ subnet: 'fd00:77::/64' }]], routes: [{ dst: '0.0.0.0/0' }] }

interface Call {
  command: string
  id: string
  stdin: object
  ifName?: string
  args?: string
}
const berth = (c: Call): PluginRun =>
  runPlugin('host-local', { command: c.command, containerId: c.id, netns: NETNS, ifName: c.ifName ?? 'eth0', stdin: c.stdin, ...(c.args === undefined ? {} : { args: c.args }) })
const ref = (c: Call): PluginRun =>
  runPlugin('host-local', { command: c.command, containerId: c.id, netns: NETNS, ifName: c.ifName ?? 'eth0', stdin: c.stdin, dir: REF_DIR, ...(c.args === undefined ? {} : { args: c.args }) })
const ok = (t: Test, r: PluginRun, what: string) => t.equal(r.status, 0, `${what}: ${r.stdout}${r.stderr}`)
const addrs = (r: PluginRun) => ((r.json?.['ips'] as { address: string }[] | undefined) ?? []).map((i) => i.address)
const files = (dir: string) => (existsSync(dir) ? readdirSync(dir).filter((f) => !f.startsWith('.') && f !== 'lock' && !f.startsWith('last_reserved_ip.')).sort() : [])

for (const v of VERSIONS) {
  t.test(`ADD, CHECK, DEL, DEL with cniVersion ${v} (dual-stack)`, { skip }, async (t) => {
    const dataDir = t.testdir()
    const stdin = conf(dataDir, DUAL, {}, v)
    const add = berth({ command: 'ADD', id: 'c1', stdin })
    ok(t, add, 'ADD')
    const legacy = v.startsWith('0.')
    const ips = [
      { ...(legacy ? { version: '4' } : {}), address: '10.77.0.2/24', gateway: '10.77.0.1' },
      { ...(legacy ? { version: '6' } : {}), address: 'fd00:77::2/64', gateway: 'fd00:77::1' },
    ]
    t.same(add.json, { cniVersion: v, ips, routes: [{ dst: '0.0.0.0/0' }], ...(legacy ? { dns: {} } : {}) })
    const dir = join(dataDir, 'hlnet')
    t.same(files(dir), ['10.77.0.2', 'fd00:77::2'])
    t.equal(readFileSync(join(dir, '10.77.0.2'), 'utf8'), 'c1\r\neth0')
    if (v !== '0.3.0' && v !== '0.3.1') ok(t, berth({ command: 'CHECK', id: 'c1', stdin }), 'CHECK')
    ok(t, berth({ command: 'DEL', id: 'c1', stdin }), 'DEL')
    t.same(files(dir), [])
    ok(t, berth({ command: 'DEL', id: 'c1', stdin }), 'second DEL')
    if (v !== '0.3.0' && v !== '0.3.1') {
      const check = berth({ command: 'CHECK', id: 'c1', stdin })
      t.equal(check.status, 1)
      t.equal(check.json?.['code'], 3, 'CHECK after DEL fails')
    }
  })
}

t.test('the result matches the reference\'s for the same config', { skip: skipRef }, async (t) => {
  const root = t.testdir({ a: {}, b: {} })
  const a = join(root, 'a')
  const b = join(root, 'b')
  const r1 = ref({ command: 'ADD', id: 'c1', stdin: conf(a, DUAL) })
  const r2 = berth({ command: 'ADD', id: 'c1', stdin: conf(b, DUAL) })
  ok(t, r1, 'reference ADD')
  ok(t, r2, 'berth ADD')
  // Go prints an empty dns object for 1.0.0 results; it carries nothing.
  const { dns, ...want } = r1.json ?? {}
  t.same(dns, {})
  t.same(r2.json, want)
})

t.test('run directly with only its ipam section (no top-level type), as the reference accepts', { skip: skipRef }, async (t) => {
  const root = t.testdir({ a: {}, b: {} })
  const noType = (dir: string) => {
    const { type: _drop, ...rest } = conf(dir, { subnet: '10.78.0.0/24' })
    return rest
  }
  const r1 = ref({ command: 'ADD', id: 'c1', stdin: noType(join(root, 'a')) })
  const r2 = berth({ command: 'ADD', id: 'c1', stdin: noType(join(root, 'b')) })
  ok(t, r1, 'reference ADD without type')
  ok(t, r2, 'berth ADD without type')
  t.same(addrs(r2), addrs(r1), 'the same address')
  ok(t, berth({ command: 'CHECK', id: 'c1', stdin: noType(join(root, 'b')) }), 'CHECK without type')
  ok(t, berth({ command: 'DEL', id: 'c1', stdin: noType(join(root, 'b')) }), 'DEL without type')
  t.same(files(join(root, 'b', 'hlnet')), [], 'released')
})

t.test('50 concurrent ADD processes get 50 distinct addresses; 50 concurrent DELs free them all', { skip }, async (t) => {
  const dataDir = t.testdir()
  const stdin = JSON.stringify(conf(dataDir, { subnet: '10.88.0.0/24' }))
  const run = (command: string, id: string) =>
    new Promise<{ code: number | null; out: string }>((resolve) => {
      const p = spawn(join(BIN_DIR, 'host-local'), [], {
        env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', CNI_COMMAND: command, CNI_CONTAINERID: id, CNI_NETNS: NETNS, CNI_IFNAME: 'eth0', CNI_PATH: BIN_DIR },
        stdio: ['pipe', 'pipe', 'inherit'],
        timeout: 60_000,
      })
      let out = ''
      p.stdout.on('data', (d: Buffer) => (out += d.toString()))
      p.on('close', (code) => resolve({ code, out }))
      p.stdin.end(stdin)
    })
  const ids = Array.from({ length: 50 }, (_, i) => `par${i}`)
  const adds = await Promise.all(ids.map((id) => run('ADD', id)))
  t.same(adds.filter((r) => r.code !== 0), [], 'every ADD succeeded')
  const got = adds.map((r) => ((JSON.parse(r.out) as { ips: { address: string }[] }).ips[0]?.address ?? ''))
  t.equal(new Set(got).size, 50, 'distinct addresses')
  const dir = join(dataDir, 'hlnet')
  t.equal(files(dir).length, 50)
  // Every file names the container that got its address.
  for (const [i, a] of got.entries()) t.equal(readFileSync(join(dir, a.split('/')[0] ?? ''), 'utf8'), `${ids[i]}\r\neth0`)
  const dels = await Promise.all(ids.map((id) => run('DEL', id)))
  t.same(dels.filter((r) => r.code !== 0), [], 'every DEL succeeded')
  t.same(files(dir), [])
})

t.test('reference reservations are honoured and released by berth', { skip: skipRef }, async (t) => {
  const dataDir = t.testdir()
  const dir = join(dataDir, 'hlnet')
  const stdin = conf(dataDir, DUAL)
  const r1 = ref({ command: 'ADD', id: 'ref1', stdin })
  ok(t, r1, 'reference ADD')
  t.same(addrs(r1), ['10.77.0.2/24', 'fd00:77::2/64'])
  // Round robin continues from the reference's last_reserved_ip files.
  const b1 = berth({ command: 'ADD', id: 'b1', stdin })
  ok(t, b1, 'berth ADD')
  t.same(addrs(b1), ['10.77.0.3/24', 'fd00:77::3/64'])
  ok(t, berth({ command: 'CHECK', id: 'ref1', stdin }), 'berth CHECK of a reference reservation')
  // An IPv6 address with zero groups: both must name its file alike, or it could be handed out twice.
  const odd = 'fd00:77:0:0:1:0:0:5'
  ok(t, ref({ command: 'ADD', id: 'ref2', stdin: conf(dataDir, DUAL, { runtimeConfig: { ips: [odd] } }) }), 'reference ADD of a requested address')
  const clash = berth({ command: 'ADD', id: 'b2', stdin: conf(dataDir, DUAL, { runtimeConfig: { ips: [odd] } }) })
  t.equal(clash.status, 1)
  t.match(clash.json, { code: 101, msg: 'requested IP fd00:77::1:0:0:5 in network hlnet is already reserved by container ref2 (interface eth0)' })
  ok(t, berth({ command: 'DEL', id: 'ref1', stdin }), 'berth DEL of a reference reservation')
  ok(t, berth({ command: 'DEL', id: 'ref2', stdin }), 'berth DEL of a reference reservation')
  t.same(files(dir), ['10.77.0.3', 'fd00:77::3'])
  // A legacy file (container ID only) is released by berth's DEL too.
  const { writeFileSync } = await import('node:fs')
  writeFileSync(join(dir, '10.77.0.99'), 'oldtimer')
  ok(t, berth({ command: 'DEL', id: 'oldtimer', stdin }), 'DEL of a legacy reservation')
  t.same(files(dir), ['10.77.0.3', 'fd00:77::3'])
  // GC releases a reference reservation whose attachment is not listed, and keeps the listed one.
  ok(t, ref({ command: 'ADD', id: 'ref3', stdin }), 'reference ADD')
  t.equal(files(dir).length, 4)
  const gc = runPlugin('host-local', { command: 'GC', stdin: conf(dataDir, DUAL, { 'cni.dev/valid-attachments': [{ containerID: 'b1', ifname: 'eth0' }] }, '1.1.0') })
  ok(t, gc, 'berth GC')
  t.same(files(dir), ['10.77.0.3', 'fd00:77::3'])
})

t.test('berth reservations are honoured and released by the reference', { skip: skipRef }, async (t) => {
  const dataDir = t.testdir()
  const dir = join(dataDir, 'hlnet')
  const stdin = conf(dataDir, DUAL)
  const odd = 'fd00:77:0:0:1:0:0:6'
  ok(t, berth({ command: 'ADD', id: 'b1', stdin: conf(dataDir, DUAL, { runtimeConfig: { ips: ['10.77.0.40', odd] } }) }), 'berth ADD')
  ok(t, ref({ command: 'CHECK', id: 'b1', stdin }), 'reference CHECK of a berth reservation')
  const clash = ref({ command: 'ADD', id: 'r1', stdin: conf(dataDir, DUAL, { runtimeConfig: { ips: [odd] } }) })
  t.not(clash.status, 0, 'the reference refuses an address berth reserved')
  t.same(files(dir), ['10.77.0.40', 'fd00:77::1:0:0:6'], 'and leaves nothing behind')
  // The reference resumes after the last reservation: in the IPv4 set that is .41, which its failed ADD
  // reserved and gave back (last_reserved_ip stays advanced); in the IPv6 set, berth's.
  const r2 = ref({ command: 'ADD', id: 'r2', stdin })
  t.same(addrs(r2), ['10.77.0.42/24', 'fd00:77::1:0:0:7/64'])
  ok(t, ref({ command: 'DEL', id: 'b1', stdin }), 'reference DEL of a berth reservation')
  t.same(files(dir), ['10.77.0.42', 'fd00:77::1:0:0:7'])
  t.same(readdirSync(join(dir, '.berth-index')), [], 'the reference\'s DEL removed berth\'s index links with the reservations')
  // berth's DEL finds the reference's reservations (not in berth's owner index) and releases them.
  ok(t, berth({ command: 'DEL', id: 'r2', stdin }), 'berth DEL of the reference\'s reservation')
  t.same(files(dir), [])
  // The boot records and owner records berth wrote for b1 describe nothing now; STATUS (or GC) sweeps them.
  t.not(readdirSync(join(dir, '.berth-owners')).length, 0)
  ok(t, runPlugin('host-local', { command: 'STATUS', stdin: conf(dataDir, DUAL, {}, '1.1.0') }), 'berth STATUS')
  t.same(readdirSync(join(dir, '.berth-boot')), [])
  t.same(readdirSync(join(dir, '.berth-owners')), [])
  t.same(readdirSync(join(dir, '.berth-index')), [])
})

t.test('GC and STATUS through the binary', { skip }, async (t) => {
  const dataDir = t.testdir()
  const dir = join(dataDir, 'hlnet')
  const ipam = { ranges: [[{ subnet: '10.66.0.0/24', rangeStart: '10.66.0.10', rangeEnd: '10.66.0.12' }]] }
  const stdin = conf(dataDir, ipam, {}, '1.1.0')
  for (const id of ['a', 'b', 'c']) ok(t, berth({ command: 'ADD', id, stdin }), `ADD ${id}`)
  const full = runPlugin('host-local', { command: 'STATUS', stdin })
  t.equal(full.status, 1)
  t.match(full.json, { code: 50, msg: 'range set 10.66.0.10-10.66.0.12 of network hlnet is full (3 of 3 addresses reserved)' })
  const exhausted = berth({ command: 'ADD', id: 'd', stdin })
  t.match(exhausted.json, { code: 100, msg: 'no IP addresses available in range set 10.66.0.10-10.66.0.12 of network hlnet' })
  ok(t, runPlugin('host-local', { command: 'GC', stdin: conf(dataDir, ipam, { 'cni.dev/valid-attachments': [{ containerID: 'b', ifname: 'eth0' }] }, '1.1.0') }), 'GC')
  t.same(files(dir), ['10.66.0.11'])
  ok(t, runPlugin('host-local', { command: 'STATUS', stdin }), 'STATUS ready again')
})

t.test('bad config: code 7 naming the key, nothing written', { skip }, async (t) => {
  const dataDir = t.testdir()
  const rows: [Record<string, unknown>, string][] = [
    [{ subnet: '10.1.0.0/24', rangeStart: '10.1.0.50', rangeEnd: '10.1.0.10' }, 'invalid ipam.rangeStart: 10.1.0.50 is after rangeEnd 10.1.0.10'],
    [{ ranges: [[{ subnet: '10.1.0.0/24' }], [{ subnet: '10.1.0.0/25' }]] }, 'invalid ipam.ranges[1]: range 10.1.0.1-10.1.0.126 overlaps range 10.1.0.1-10.1.0.254 of ipam.ranges[0]'],
    [{ subnet: '10.1.0.0/24', dataDir: `${dataDir}/../elsewhere` }, `invalid ipam.dataDir: "${dataDir}/../elsewhere" must not contain "." or ".." components`],
  ]
  for (const [ipam, msg] of rows) {
    const r = berth({ command: 'ADD', id: 'c1', stdin: conf(dataDir, ipam) })
    t.equal(r.status, 1)
    t.match(r.json, { code: 7, msg })
  }
  const taken = berth({ command: 'ADD', id: 'c1', stdin: conf(dataDir, { subnet: '10.1.0.0/24' }), args: 'IP=10.2.0.1' })
  t.match(taken.json, { code: 7, msg: /^invalid CNI_ARGS IP: requested IP 10\.2\.0\.1 is not in any range/ })
  t.same(readdirSync(dataDir), [])
})
