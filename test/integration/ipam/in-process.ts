// host-local run in-process (pkg/host-local/in-process.ts, what the bridge does when the host-local in
// CNI_PATH is berth's own) against bin/host-local exec'd, step by step on two data directories: the same
// environment and stdin must give byte-identical stdout, the same exit status, and the same files on disk,
// for results (v4, v6, dual stack, dns, version conversion, requested IPs by capability, CNI_ARGS and
// args) and for errors (range full, bad config, bad environment, CHECK of nothing).
import t, { type Test } from 'tap'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runHostLocal } from '../../../pkg/host-local/in-process.js'
import { runPlugin } from '../../helpers/run-plugin.js'
import { needsBuiltBin } from '../../helpers/privileges.js'
import { BIN_DIR } from '../../helpers/paths.js'

const skip = needsBuiltBin('host-local', BIN_DIR)
const NET = 'ipnet'

interface Step {
  command: string
  id?: string
  /** CNI_ARGS */
  args?: string
  /** leave these variables out of the environment */
  drop?: string[]
  /** the config, given the data directory; or raw stdin text */
  conf: ((dataDir: string) => object) | string
}

const env = (s: Step): Record<string, string> => {
  const e: Record<string, string> = {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    CNI_COMMAND: s.command,
    CNI_CONTAINERID: s.id ?? 'c1',
    CNI_NETNS: '/var/run/netns/unused',
    CNI_IFNAME: 'eth0',
    CNI_PATH: BIN_DIR,
    ...(s.args === undefined ? {} : { CNI_ARGS: s.args }),
  }
  for (const k of s.drop ?? []) delete e[k]
  return e
}

/** Every file under dir with its content; boot records carry inode numbers, which differ between directories. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {}
  const walk = (d: string, rel: string) => {
    if (!existsSync(d)) return
    for (const f of readdirSync(d).sort()) {
      const p = join(d, f)
      if (statSync(p).isDirectory()) walk(p, `${rel}${f}/`)
      else out[`${rel}${f}`] = readFileSync(p, 'utf8').replace(/"ino":\d+/, '"ino":N')
    }
  }
  walk(dir, '')
  return out
}

async function compare(t: Test, steps: Step[]): Promise<{ stdout: string; status: number }[]> {
  const root = t.testdir({ local: {}, exec: {} })
  const local = join(root, 'local')
  const exec = join(root, 'exec')
  const seen: { stdout: string; status: number }[] = []
  for (const [i, s] of steps.entries()) {
    const what = `step ${i + 1} ${s.command}${s.id === undefined ? '' : ` ${s.id}`}`
    const stdin = (dir: string) => (typeof s.conf === 'string' ? s.conf : JSON.stringify(s.conf(dir)))
    const l = await runHostLocal(env(s), Buffer.from(stdin(local)))
    const x = runPlugin('host-local', { env: env(s), stdin: stdin(exec) })
    t.equal(l.exitCode, x.status, `${what}: same exit status (${x.stdout})`)
    t.equal(l.stdout.split(local).join(exec), x.stdout, `${what}: same stdout`)
    t.same(snapshot(local), snapshot(exec), `${what}: same files`)
    seen.push({ stdout: x.stdout, status: x.status ?? -1 })
  }
  return seen
}

const conf = (ipam: Record<string, unknown>, extra: Record<string, unknown> = {}, v = '1.1.0') => (dataDir: string) => ({
  cniVersion: v,
  name: NET,
  type: 'bridge',
  ipam: { type: 'host-local', dataDir, ...ipam },
  ...extra,
})
const V4 = { ranges: [[{ subnet: '10.80.0.0/24' }]] }
const V6 = { ranges: [[{ subnet: 'fd00:80::/64', rangeStart: 'fd00:80::10' }]], routes: [{ dst: '::/0' }, { dst: 'fd00:1::/64', gw: 'fd00:80::1' }] }
const DUAL = { ranges: [[{ subnet: '10.80.0.0/24' }], [{ subnet: 'fd00:80::/64' }]], routes: [{ dst: '0.0.0.0/0' }] }

t.test('IPv4: ADD, CHECK, DEL, CHECK after DEL, DEL again', { skip }, async (t) => {
  const out = await compare(t, [
    { command: 'ADD', conf: conf(V4) },
    { command: 'ADD', id: 'c2', conf: conf(V4) },
    { command: 'CHECK', conf: conf(V4) },
    { command: 'DEL', conf: conf(V4) },
    { command: 'CHECK', conf: conf(V4) },
    { command: 'DEL', conf: conf(V4) },
  ])
  t.match(out[0]?.stdout, /"address":"10\.80\.0\.2\/24"/)
  t.match(out[1]?.stdout, /"address":"10\.80\.0\.3\/24"/)
  t.equal(out[4]?.status, 1, 'CHECK after DEL fails')
})

t.test('IPv6 with routes and resolvConf, as a 0.4.0 result', { skip }, async (t) => {
  // not under t.testdir(): compare() makes the test's one fixture directory
  const dir = mkdtempSync(join(tmpdir(), 'bt-resolv-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const resolv = join(dir, 'resolv.conf')
  writeFileSync(resolv, 'nameserver 192.0.2.53\nsearch example.test\noptions ndots:2\n')
  const c = conf({ ...V6, resolvConf: resolv }, {}, '0.4.0')
  const out = await compare(t, [{ command: 'ADD', conf: c }, { command: 'CHECK', conf: c }, { command: 'DEL', conf: c }])
  t.match(out[0]?.stdout, /fd00:80::10\/64.*192\.0\.2\.53/)
})

t.test('dual stack, 1.0.0', { skip }, async (t) => {
  const c = conf(DUAL, {}, '1.0.0')
  const out = await compare(t, [{ command: 'ADD', conf: c }, { command: 'ADD', id: 'c2', conf: c }, { command: 'DEL', conf: c }])
  t.match(out[1]?.stdout, /10\.80\.0\.3\/24.*fd00:80::3\/64/)
})

t.test('requested addresses: the ips capability, CNI_ARGS IP=, args.cni.ips; taken or outside is an error', { skip }, async (t) => {
  const out = await compare(t, [
    { command: 'ADD', id: 'cap', conf: conf(DUAL, { runtimeConfig: { ips: ['10.80.0.7/24', 'fd00:80::7/64'] } }) },
    { command: 'ADD', id: 'args', args: 'IgnoreUnknown=1;K8S_POD_NAME=p;IP=10.80.0.9', conf: conf(V4) },
    { command: 'ADD', id: 'conf', conf: conf(V4, { args: { cni: { ips: ['10.80.0.11'] } } }) },
    { command: 'ADD', id: 'taken', args: 'IP=10.80.0.9', conf: conf(V4) },
    { command: 'ADD', id: 'outside', conf: conf(V4, { runtimeConfig: { ips: ['10.99.0.1/24'] } }) },
    { command: 'ADD', id: 'badarg', args: 'IP=nonsense', conf: conf(V4) },
    { command: 'DEL', id: 'cap', conf: conf(DUAL) },
  ])
  t.match(out[0]?.stdout, /10\.80\.0\.7\/24.*fd00:80::7\/64/)
  t.match(out[1]?.stdout, /10\.80\.0\.9\/24/)
  t.match(out[2]?.stdout, /10\.80\.0\.11\/24/)
  for (const i of [3, 4, 5]) t.equal(out[i]?.status, 1, `step ${i + 1} fails`)
})

t.test('range full: the same code and message; STATUS reports it; GC releases what is not valid', { skip }, async (t) => {
  const small = { ranges: [[{ subnet: '10.80.0.0/24', rangeStart: '10.80.0.5', rangeEnd: '10.80.0.6' }]] }
  const gc = conf(small, { 'cni.dev/valid-attachments': [{ containerID: 'c1', ifname: 'eth0' }] })
  const out = await compare(t, [
    { command: 'ADD', id: 'c1', conf: conf(small) },
    { command: 'ADD', id: 'c2', conf: conf(small) },
    { command: 'ADD', id: 'c3', conf: conf(small) },
    { command: 'STATUS', drop: ['CNI_CONTAINERID', 'CNI_IFNAME', 'CNI_NETNS'], conf: conf(small) },
    { command: 'GC', drop: ['CNI_CONTAINERID', 'CNI_IFNAME', 'CNI_NETNS'], conf: gc },
    { command: 'STATUS', drop: ['CNI_CONTAINERID', 'CNI_IFNAME', 'CNI_NETNS'], conf: conf(small) },
    { command: 'ADD', id: 'c3', conf: conf(small) },
  ])
  t.equal(out[2]?.status, 1)
  t.match(JSON.parse(out[2]?.stdout ?? '{}'), { code: 100, msg: /no IP addresses available in range set 10\.80\.0\.5-10\.80\.0\.6/ }, 'range full')
  t.match(JSON.parse(out[3]?.stdout ?? '{}'), { code: 50 }, 'STATUS: full')
  t.equal(out[5]?.status, 0, 'STATUS after GC')
  t.match(out[6]?.stdout, /10\.80\.0\.6\/24/, 'the collected address is handed out again')
})

t.test('bad input: config, environment, version, stdin', { skip }, async (t) => {
  const out = await compare(t, [
    { command: 'ADD', conf: conf({ ranges: [[{ subnet: '10.80.0.0/33' }]] }) },
    { command: 'ADD', conf: conf({ ranges: [[{ subnet: '10.80.0.0/24', gateway: '10.81.0.1' }]] }) },
    { command: 'ADD', conf: conf({ dataDir: 'relative/dir', ranges: V4.ranges }) },
    { command: 'ADD', drop: ['CNI_IFNAME'], conf: conf(V4) },
    { command: 'ADD', id: 'bad/id', conf: conf(V4) },
    { command: 'ADD', conf: conf(V4, {}, '9.9.9') },
    { command: 'GC', conf: conf(V4, {}, '1.0.0') },
    { command: 'ADD', conf: '{"cniVersion": "1.1.0", "name": ' },
    { command: 'NOPE', conf: conf(V4) },
  ])
  for (const [i, o] of out.entries()) {
    t.equal(o.status, 1, `step ${i + 1} fails`)
    t.match(JSON.parse(o.stdout), { code: Number, msg: String }, `step ${i + 1} prints an error document`)
  }
})
