// `berth rig up` refusing bad input with one clear line and leaving nothing behind (also when it fails
// halfway), names and underlays that are taken, and `rig down` of a rig whose rig.json is damaged.
import t, { type Test } from 'tap'
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { randomInt } from 'node:crypto'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { BIN_DIR } from '../../helpers/paths.js'
import { needsBuiltBin, needsRoot } from '../../helpers/privileges.js'
import { BERTH, berth, downOnTeardown, makeRig, netnsNames, rigName, type RigView } from '../../helpers/rig.js'

const skip = needsRoot() || needsBuiltBin('berth', BIN_DIR)
const rigDir = (name: string) => join('/run/berth/rigs', name)
const leftovers = (name: string) => [...netnsNames().filter((n) => n.startsWith(`${name}.`)), ...(existsSync(rigDir(name)) ? [rigDir(name)] : [])]

/** One error line on stderr naming the problem, exit 1, and nothing of the rig on the machine. */
function refused(t: Test, args: string[], name: string, message: RegExp): void {
  const r = berth(['rig', 'up', '--name', name, ...args])
  t.equal(r.status, 1, `${args.join(' ')}: exit 1`)
  t.equal(r.stdout, '', 'nothing on stdout')
  t.match(r.stderr, message)
  t.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr.trim()}`)
  t.same(leftovers(name), [], 'nothing left behind')
}

// A random /28 outside the default pool (10.200.0.0/16), so parallel runs rarely pick the same one.
const randomUnderlay = () => `10.199.${randomInt(256)}.${randomInt(16) * 16}/28`

t.test('bad underlays, counts, names and drivers are refused before anything is made', { skip }, async (t) => {
  const name = rigName()
  downOnTeardown(t, name)
  refused(t, ['--hosts', '3', '--underlay', 'nonsense'], name, /^berth: invalid --underlay "nonsense"; give an IPv4 prefix/)
  refused(t, ['--hosts', '3', '--underlay', '10.199.0.5/24'], name, /host bits set; did you mean 10\.199\.0\.0\/24\?/)
  refused(t, ['--hosts', '3', '--underlay', 'fd00::/64'], name, /is IPv6/)
  refused(t, ['--hosts', '3', '--underlay', '10.199.0.0'], name, /has no prefix length/)
  refused(t, ['--hosts', '3', '--underlay', '10.199.0.0/30'], name, /too small for a switch and 3 hosts/)
  refused(t, ['--hosts', '0'], name, /--hosts 0 is out of range; give a whole number from 1 to 250/)
  refused(t, ['--hosts', '251'], name, /out of range/)
  refused(t, ['--hosts', '1.5'], name, /out of range/)
  refused(t, ['--hosts', '2', '--driver', 'macvlan'], name, /^berth: unknown --driver "macvlan"; use bridge or vxlan/)
  refused(t, [], name, /hosts/)
  for (const bad of ['bad.name', '../x', '-x', 'a/b', 'x'.repeat(33)]) {
    const r = berth(['rig', 'up', `--name=${bad}`, '--hosts', '1'])
    t.equal(r.status, 1)
    t.match(r.stderr, /^berth: invalid rig name .*; use 1-32 letters, digits, '-' or '_'/, `name ${bad} refused`)
  }
  t.notOk(existsSync('/run/berth/rigs/x'), 'no directory from a traversal name')
})

t.test('a name in use is refused and the existing rig is untouched', { skip }, async (t) => {
  const rig = makeRig(t, { hosts: 2 })
  const again = berth(['rig', 'up', '--name', rig.name, '--hosts', '3'])
  t.equal(again.status, 1)
  t.match(again.stderr, new RegExp(`^berth: rig ${rig.name} already exists; choose another --name, or remove it with 'berth rig down ${rig.name}'`))
  t.same(netnsNames().filter((n) => n.startsWith(`${rig.name}.`)).sort(), [`${rig.name}.host1`, `${rig.name}.host2`, `${rig.name}.switch`])
  const ping = berth(['rig', 'exec', rig.name, 'host1', '--', 'ping', '-c', '1', '-W', '5', rig.hosts[1]?.ip ?? ''])
  t.equal(ping.status, 0, 'the rig still works')
})

t.test('an up that fails halfway removes what it made and only that', { skip }, async (t) => {
  const name = rigName()
  downOnTeardown(t, name)
  // Someone else's namespace where host2's will go: switch and host1 get made, then host2 fails.
  execFileSync('ip', ['netns', 'add', `${name}.host2`])
  t.teardown(() => execFileSync('ip', ['netns', 'del', `${name}.host2`], { stdio: 'ignore' }))
  const r = berth(['rig', 'up', '--name', name, '--hosts', '3'])
  t.equal(r.status, 1)
  t.match(r.stderr, new RegExp(`^berth: rig up ${name} failed: .*/run/netns/${name}\\.host2 already exists.*ip netns del ${name}\\.host2`))
  t.same(netnsNames().filter((n) => n.startsWith(`${name}.`)), [`${name}.host2`], 'switch and host1 removed; the foreign namespace kept')
  t.notOk(existsSync(rigDir(name)), 'no rig directory')
  t.notOk(berth(['rig', 'ls', '--json']).stdout.includes(`"${name}"`), 'not listed')
})

t.test('underlays: explicit ones are used, overlapping another rig is refused, defaults never collide', { skip }, async (t) => {
  const underlay = randomUnderlay()
  const a = makeRig(t, { hosts: 3, underlay })
  t.equal(a.underlay, underlay)
  t.same([a.gateway, ...a.hosts.map((h) => h.ip)].length, 4)
  const name = rigName()
  downOnTeardown(t, name)
  refused(t, ['--hosts', '1', '--underlay', underlay.replace(/\/28$/, '/24').replace(/\.\d+\/24$/, '.0/24')], name, new RegExp(`overlaps rig ${a.name}'s underlay`))

  // Two ups at once without --underlay: the lock makes them pick different prefixes.
  const names = [rigName(), rigName()]
  for (const n of names) downOnTeardown(t, n)
  const runs = names.map(
    (n) =>
      new Promise<RigView>((resolve, reject) => {
        const p = spawn(BERTH, ['rig', 'up', '--name', n, '--hosts', '2', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] })
        let out = ''
        let err = ''
        p.stdout.on('data', (d: Buffer) => (out += d.toString()))
        p.stderr.on('data', (d: Buffer) => (err += d.toString()))
        p.once('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as RigView) : reject(new Error(err))))
      }),
  )
  const [x, y] = await Promise.all(runs)
  t.not(x?.underlay, y?.underlay, `parallel ups got ${x?.underlay} and ${y?.underlay}`)
})

t.test('--driver vxlan is recorded in rig.json', { skip }, async (t) => {
  const rig = makeRig(t, { hosts: 1, driver: 'vxlan' })
  t.equal(rig.driver, 'vxlan')
  t.match(berth(['rig', 'inspect', rig.name]).stdout, /driver vxlan/)
})

t.test('down removes a rig whose rig.json is damaged', { skip }, async (t) => {
  const rig = makeRig(t, { hosts: 2 })
  writeFileSync(join(rigDir(rig.name), 'rig.json'), '{"half":')
  const ls = berth(['rig', 'ls', '--json'])
  t.equal(ls.status, 0, 'ls still works')
  t.match((JSON.parse(ls.stdout) as { name: string }[]).find((r) => r.name === rig.name), { state: 'damaged', error: /is not valid JSON/ }, 'and shows it damaged')
  t.match(berth(['rig', 'ls']).stdout, new RegExp(`${rig.name}.*damaged \\(remove it with 'berth rig down'\\)`))
  const inspect = berth(['rig', 'inspect', rig.name])
  t.equal(inspect.status, 1)
  t.match(inspect.stderr, /is not valid JSON; remove the rig with 'berth rig down/)
  const down = berth(['rig', 'down', rig.name])
  t.equal(down.status, 0, down.stderr)
  t.same(leftovers(rig.name), [], 'namespaces found by name and removed, directory gone')
})

t.test('a rig.json naming paths outside the rig is not trusted: rm-host refuses, down removes only the rig', { skip }, async (t) => {
  const rig = makeRig(t, { hosts: 1 })
  const file = join(rigDir(rig.name), 'rig.json')
  const info = JSON.parse(readFileSync(file, 'utf8')) as RigView
  const decoy = mkdtempSync('/tmp/btrig-')
  t.teardown(() => rmSync(decoy, { recursive: true, force: true }))
  writeFileSync(join(decoy, 'keep'), 'x')
  info.hosts[0] = { ...(info.hosts[0] as RigView['hosts'][number]), root: decoy }
  writeFileSync(file, JSON.stringify(info))
  t.match(berth(['rig', 'inspect', rig.name]).stderr, /names paths that are not rig .*'s; remove the rig with 'berth rig down/)
  const rm = berth(['rig', 'rm-host', rig.name, 'host1'])
  t.equal(rm.status, 1, 'rm-host refuses to act on it')
  t.ok(existsSync(join(decoy, 'keep')), 'rm-host left the foreign directory alone')
  t.equal(berth(['rig', 'down', rig.name]).status, 0)
  t.ok(existsSync(join(decoy, 'keep')), 'the foreign directory is untouched')
  t.same(leftovers(rig.name), [], 'the rig itself is gone')
})

t.test('a rig whose up died halfway shows as broken, and down removes it', { skip }, async (t) => {
  const rig = makeRig(t, { hosts: 2 })
  // What a killed `up` leaves: rig.json still "creating", some namespaces made, nobody holding the lock.
  const file = join(rigDir(rig.name), 'rig.json')
  writeFileSync(file, JSON.stringify({ ...(JSON.parse(readFileSync(file, 'utf8')) as object), state: 'creating' }))
  execFileSync('ip', ['netns', 'del', `${rig.name}.host2`])
  // While another test's `up` holds the rigs lock this rig reads as "creating"; wait for a free moment.
  const state = () => (JSON.parse(berth(['rig', 'ls', '--json']).stdout) as { name: string; state: string }[]).find((r) => r.name === rig.name)?.state
  let seen = state()
  for (let i = 0; i < 60 && seen === 'creating'; i++) {
    await sleep(500)
    seen = state()
  }
  t.equal(seen, 'broken')
  let text = berth(['rig', 'inspect', rig.name]).stdout
  for (let i = 0; i < 60 && text.includes('(creating)'); i++) {
    await sleep(500)
    text = berth(['rig', 'inspect', rig.name]).stdout
  }
  t.match(text, /broken: its up died \(remove it with 'berth rig down /)
  const down = berth(['rig', 'down', rig.name])
  t.equal(down.status, 0, down.stderr)
  t.same(leftovers(rig.name), [])
})

t.test('rig commands need root: one clear line, nothing made', { skip }, async (t) => {
  const name = rigName()
  downOnTeardown(t, name)
  const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', BERTH, 'rig', 'up', '--name', name, '--hosts', '1'], { encoding: 'utf8' })
  t.equal(r.status, 1)
  // Only the first line: tap's process-info hook, injected into every child, cannot write its record as nobody.
  t.match(r.stderr.split('\n')[0], /^berth: .*must run as root.*; run it with sudo$/)
  t.same(leftovers(name), [])
})
