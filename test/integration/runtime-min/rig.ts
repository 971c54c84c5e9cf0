// `berth rig`: hosts on a shared underlay that reach each other, each with its default route, loopback,
// forwarding and BERTH_ROOT; `rig exec` runs there with the host's environment; `rig down` leaves no
// namespace, /run/netns entry, directory or process. Rigs live in the machine's /run/netns and
// /run/berth/rigs by design; every rig here has a unique name and is removed on teardown.
import t from 'tap'
import { spawn } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { hostV4Prefixes } from '../../helpers/host-net.js'
import { BIN_DIR } from '../../helpers/paths.js'
import { needsBuiltBin, needsRoot } from '../../helpers/privileges.js'
import { BERTH, berth, ipIn, makeRig, netnsNames, nsName, type RigView } from '../../helpers/rig.js'

const skip = needsRoot() || needsBuiltBin('berth', BIN_DIR)

const rigNetns = (name: string) => netnsNames().filter((n) => n.startsWith(`${name}.`))

function v4(a: string): number {
  return a.split('.').reduce((n, p) => n * 256 + Number(p), 0)
}
function overlap(a: string, b: string): boolean {
  const span = (c: string): [number, number] => {
    const [ip, len] = c.split('/')
    const size = 2 ** (32 - Number(len ?? 32))
    const start = Math.floor(v4(ip ?? '0.0.0.0') / size) * size
    return [start, start + size - 1]
  }
  const [a0, a1] = span(a)
  const [b0, b1] = span(b)
  return a0 <= b1 && b0 <= a1
}

t.test('rig up with 3 hosts: a switch and hosts that reach each other over the underlay', { skip }, async (t) => {
  const rig: RigView = makeRig(t, { hosts: 3 })
  t.equal(rig.state, 'ready')
  t.equal(rig.driver, 'bridge')
  t.same(rig.hosts.map((h) => h.name), ['host1', 'host2', 'host3'])
  t.same(rigNetns(rig.name).sort(), [`${rig.name}.host1`, `${rig.name}.host2`, `${rig.name}.host3`, `${rig.name}.switch`], 'ip netns sees the switch and every host')
  for (const p of hostV4Prefixes()) t.notOk(overlap(p, rig.underlay), `default underlay ${rig.underlay} clear of the machine's ${p}`)

  const [prefix, len] = rig.underlay.split('/')
  t.equal(rig.switch.address, `${rig.gateway}/${len}`, 'the switch holds the gateway')
  t.equal(v4(rig.gateway), v4(prefix ?? '') + 1, 'the gateway is the first address of the underlay')
  const bridge = ipIn(rig.switch, ['addr', 'show', 'br0']) as { addr_info: { local: string; prefixlen: number }[]; operstate: string }[]
  t.same(bridge[0]?.addr_info.filter((a) => a.local.includes('.')).map((a) => `${a.local}/${a.prefixlen}`), [rig.switch.address], 'switch bridge has the gateway address')

  for (const [k, h] of rig.hosts.entries()) {
    t.equal(v4(h.ip), v4(rig.gateway) + k + 1, `${h.name} has the next underlay address`)
    const routes = ipIn(h, ['route', 'show', 'default']) as { dst: string; gateway?: string; dev: string }[]
    t.same(routes.map((r) => [r.dst, r.gateway, r.dev]), [['default', rig.gateway, 'eth0']], `${h.name} default route via the switch`)
    const addrs = ipIn(h, ['-4', 'addr', 'show', 'eth0']) as { addr_info: { local: string; prefixlen: number }[] }[]
    t.same(addrs[0]?.addr_info.map((a) => `${a.local}/${a.prefixlen}`), [h.address], `${h.name} eth0 address`)
    const lo = ipIn(h, ['link', 'show', 'lo']) as { flags: string[] }[]
    t.ok(lo[0]?.flags.includes('UP'), `${h.name} loopback up`)
    const fwd = berth(['rig', 'exec', rig.name, h.name, '--', 'cat', '/proc/sys/net/ipv4/ip_forward'])
    t.equal(fwd.stdout.trim(), '1', `${h.name} forwards IPv4`)
    for (const d of ['etc/cni/net.d', 'var/lib/cni', 'run/berth/containers', 'run/netns']) {
      t.ok(statSync(join(h.root, d)).isDirectory(), `${h.name} has ${d} under its root`)
    }
  }

  const ping = berth(['rig', 'exec', rig.name, 'host1', '--', 'ping', '-c', '1', '-W', '5', rig.hosts[2]?.ip ?? ''])
  t.equal(ping.status, 0, `host1 pings host3's underlay address: ${ping.stdout}${ping.stderr}`)
  t.match(ping.stdout, /1 received/)

  const saved = JSON.parse(readFileSync(join('/run/berth/rigs', rig.name, 'rig.json'), 'utf8')) as RigView
  t.equal(saved.underlay, rig.underlay, 'rig.json records the rig')

  const ls = berth(['rig', 'ls', '--json'])
  t.equal(ls.status, 0)
  const listed = (JSON.parse(ls.stdout) as { name: string }[]).find((r) => r.name === rig.name)
  t.same(listed, { name: rig.name, state: 'ready', driver: 'bridge', underlay: rig.underlay, hosts: 3, createdAt: listed?.['createdAt' as 'name'] }, 'rig ls --json lists it')
  t.match(berth(['rig', 'ls']).stdout, new RegExp(`${rig.name}\\s+3\\s+bridge\\s+${rig.underlay.replace(/\./g, '\\.')}`), 'rig ls table')
  t.match(berth(['rig', 'inspect', rig.name]).stdout, new RegExp(`host2\\s+${rig.hosts[1]?.address.replace(/\./g, '\\.')}`), 'rig inspect table')
})

t.test('rig exec: the host namespace, its BERTH_ROOT, CNI_PATH, berth on PATH, the exit code', { skip }, async (t) => {
  const rig = makeRig(t, { hosts: 2 })
  const h2 = rig.hosts[1]
  if (h2 === undefined) throw new Error('no host2')
  const env = berth(['rig', 'exec', rig.name, 'host2', '--', 'printenv', 'BERTH_ROOT', 'CNI_PATH'])
  t.equal(env.status, 0, env.stderr)
  t.same(env.stdout.trim().split('\n'), [h2.root, `${BIN_DIR}:/opt/cni/bin`])
  const which = berth(['rig', 'exec', rig.name, 'host2', '--', 'which', 'berth'])
  t.equal(which.stdout.trim(), BERTH, 'berth resolves to this berth inside the host')
  const inner = berth(['rig', 'exec', rig.name, 'host2', '--', 'berth', 'rig', 'inspect', rig.name, '--json'])
  t.equal(inner.status, 0, `berth runs inside a host: ${inner.stderr}`)
  const addr = berth(['rig', 'exec', rig.name, 'host2', '--', 'ip', '-j', '-4', 'addr', 'show', 'eth0'])
  t.match(addr.stdout, `"local":"${h2.ip}"`, 'the command runs in host2\'s namespace')
  const sw = berth(['rig', 'exec', rig.name, 'switch', '--', 'ip', '-j', '-4', 'addr', 'show', 'br0'])
  t.match(sw.stdout, `"local":"${rig.gateway}"`, 'switch is a member too')
  t.equal(berth(['rig', 'exec', rig.name, 'host1', '--', 'sh', '-c', 'exit 7']).status, 7, 'exit code propagated')
  t.equal(berth(['rig', 'exec', rig.name, 'host1', '--', 'printf', '%s', '0x10']).stdout, '0x10', 'arguments passed verbatim')
  const nf = berth(['rig', 'exec', rig.name, 'host1', '--', 'no-such-command-here'])
  t.equal(nf.status, 127)
  t.match(nf.stderr, /^berth: command not found in .*no-such-command-here/)
  const bad = berth(['rig', 'exec', rig.name, 'host3', '--', 'true'])
  t.equal(bad.status, 1)
  t.match(bad.stderr, /has no host "host3"; use switch, host1, host2$/m)
  const none = berth(['rig', 'exec', 'btnosuchrig', 'host1', '--', 'true'])
  t.equal(none.status, 1)
  t.match(none.stderr, /no rig named "btnosuchrig"/)
  const nocmd = berth(['rig', 'exec', rig.name, 'host1'])
  t.equal(nocmd.status, 1)
  t.match(nocmd.stderr, /no command given/)
})

t.test('rig exec passes SIGTERM on to the command and exits with its status', { skip }, async (t) => {
  const rig = makeRig(t, { hosts: 1 })
  const p = spawn(BERTH, ['rig', 'exec', rig.name, 'host1', '--', 'sleep', '1000'], { stdio: 'ignore' })
  t.teardown(() => p.kill('SIGKILL'))
  const exited = new Promise<number | null>((r) => p.once('exit', (code) => r(code)))
  for (let i = 0; i < 200 && countSleepers(rig) < 1; i++) await sleep(20)
  t.equal(countSleepers(rig), 1, 'the command runs in host1')
  p.kill('SIGTERM')
  t.equal(await exited, 143, 'exit status 128+SIGTERM')
  t.equal(countSleepers(rig), 0, 'the command got the signal and ended')
})

t.test('rig down removes namespaces, /run/netns entries, the directory and processes; twice is fine', { skip }, async (t) => {
  const rig = makeRig(t, { hosts: 2 })
  // A long-running process in host2 and one in the switch, as a server or an agent would be.
  const procs = ['host2', 'switch'].map((m) => spawn(BERTH, ['rig', 'exec', rig.name, m, '--', 'sleep', '1000'], { stdio: 'ignore' }))
  t.teardown(() => procs.forEach((p) => p.kill('SIGKILL')))
  const exited = procs.map((p) => new Promise<number | null>((r) => p.once('exit', (code) => r(code))))
  for (let i = 0; i < 200 && countSleepers(rig) < 2; i++) await sleep(20)
  t.equal(countSleepers(rig), 2, 'both processes run in the rig')

  const down = berth(['rig', 'down', rig.name])
  t.equal(down.status, 0, down.stderr)
  t.same(rigNetns(rig.name), [], 'no namespace left in /run/netns')
  t.notOk(existsSync(join('/run/berth/rigs', rig.name)), 'no rig directory')
  t.same(await Promise.all(exited), [143, 143], 'the processes got SIGTERM (exec passes on the code)')
  t.notOk(berth(['rig', 'ls', '--json']).stdout.includes(`"${rig.name}"`), 'not listed')
  const again = berth(['rig', 'down', rig.name])
  t.equal(again.status, 0, 'down of a removed rig succeeds')
  t.match(again.stderr, /already gone/)
})

/** `sleep 1000` processes whose netns is one of the rig's. */
function countSleepers(rig: RigView): number {
  const ids = new Set([rig.switch, ...rig.hosts].map((m) => statId(m.netns)))
  let n = 0
  for (const pid of readdirNumeric('/proc')) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8') !== 'sleep\x001000\x00') continue
      if (ids.has(statId(`/proc/${pid}/ns/net`))) n++
    } catch {
      // gone meanwhile
    }
  }
  return n
}

function statId(p: string): string {
  const st = statSync(p)
  return `${st.dev}:${st.ino}`
}

function readdirNumeric(dir: string): string[] {
  return readdirSync(dir).filter((e) => /^[0-9]+$/.test(e))
}
