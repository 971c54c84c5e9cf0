// Rigs that change while they run: `rig rm-host` removes one host with its processes and containers,
// `rig add-host` takes the lowest free hostK with its address, and an interrupted `rig up` keeps nothing.
import t from 'tap'
import { spawn } from 'node:child_process'
import { existsSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { BIN_DIR } from '../../helpers/paths.js'
import { needsBuiltBin, needsRoot } from '../../helpers/privileges.js'
import { BERTH, berth, downOnTeardown, ipIn, makeRig, netnsNames, processAlive, rigName, type RigView } from '../../helpers/rig.js'

const skip = needsRoot() || needsBuiltBin('berth', BIN_DIR)
const inspect = (name: string) => JSON.parse(berth(['rig', 'inspect', name, '--json']).stdout) as RigView
const mountsUnder = (dir: string) =>
  readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m.startsWith(`${dir}/`))
const pingOk = (rig: string, from: string, ip: string) => berth(['rig', 'exec', rig, from, '--', 'ping', '-c', '1', '-W', '5', ip]).status === 0

t.test('rm-host removes the host, its containers and processes; add-host reuses the lowest free hostK', { skip }, async (t) => {
  const rig = makeRig(t, { hosts: 3 })
  const [h1, h2, h3] = rig.hosts
  if (h1 === undefined || h2 === undefined || h3 === undefined) throw new Error('rig without hosts')
  const run = berth(['rig', 'exec', rig.name, 'host2', '--', 'berth', 'run', '-d', '--name', 'c1', '--', 'sleep', '1000'])
  t.equal(run.status, 0, `a container on host2: ${run.stderr}`)
  const pid = (JSON.parse(berth(['rig', 'exec', rig.name, 'host2', '--', 'berth', 'ps', '--json']).stdout) as { pid: number }[])[0]?.pid ?? 0
  t.ok(pid > 0 && processAlive(pid), 'the container runs')
  t.not(mountsUnder(h2.root).length, 0, 'the container has its namespace mounted under host2')

  const rm = berth(['rig', 'rm-host', rig.name, 'host2'])
  t.equal(rm.status, 0, rm.stderr)
  t.notOk(processAlive(pid), 'the container process is gone')
  t.same(mountsUnder(h2.root), [], 'no mount left under host2')
  t.notOk(existsSync(h2.root), "host2's root directory is gone")
  t.notOk(netnsNames().includes(`${rig.name}.host2`), 'no host2 namespace')
  t.same(inspect(rig.name).hosts.map((h) => h.name), ['host1', 'host3'], 'rig.json without host2')
  t.notOk((ipIn(rig.switch, ['link', 'show']) as { ifname: string }[]).some((l) => l.ifname === 'host2'), 'no switch port for host2')
  t.ok(pingOk(rig.name, 'host1', h3.ip), 'host1 still reaches host3')
  t.notOk(pingOk(rig.name, 'host1', h2.ip), "host2's address no longer answers")

  const add = berth(['rig', 'add-host', rig.name])
  t.equal(add.status, 0, add.stderr)
  t.equal(add.stdout, 'host2\n', 'the lowest free name')
  const after = inspect(rig.name)
  t.same(after.hosts.map((h) => [h.name, h.address]), [
    ['host1', h1.address],
    ['host2', h2.address],
    ['host3', h3.address],
  ])
  t.ok(statSync(join(h2.root, 'etc/cni/net.d')).isDirectory(), 'a fresh root for the new host2')
  t.ok(pingOk(rig.name, 'host1', h2.ip), 'host1 reaches the new host2')
  const routes = ipIn(after.hosts[1] ?? h2, ['route', 'show', 'default']) as { gateway?: string }[]
  t.same(routes.map((r) => r.gateway), [rig.gateway], 'the new host routes via the switch')
  t.same(JSON.parse(berth(['rig', 'exec', rig.name, 'host2', '--', 'berth', 'ps', '--json']).stdout), [], 'no containers on the new host2')

  const two = berth(['rig', 'add-host', rig.name, '--count', '2'])
  t.equal(two.stdout, 'host4\nhost5\n')
  t.ok(pingOk(rig.name, 'host5', h1.ip), 'host5 reaches host1')
})

t.test('rm-host and add-host refusals change nothing', { skip }, async (t) => {
  // A /29 holds the switch and 5 hosts.
  const rig = makeRig(t, { hosts: 5, underlay: `10.198.${Math.floor(Math.random() * 256)}.${Math.floor(Math.random() * 32) * 8}/29` })
  const before = netnsNames().filter((n) => n.startsWith(`${rig.name}.`)).sort()
  const full = berth(['rig', 'add-host', rig.name])
  t.equal(full.status, 1)
  t.match(full.stderr, new RegExp(`^berth: rig ${rig.name}'s underlay ${rig.underlay.replace(/\./g, '\\.')} has no room for 1 more hosts`))
  const sw = berth(['rig', 'rm-host', rig.name, 'switch'])
  t.equal(sw.status, 1)
  t.match(sw.stderr, /the switch cannot be removed on its own; remove the whole rig with 'berth rig down/)
  const none = berth(['rig', 'rm-host', rig.name, 'host9'])
  t.equal(none.status, 1)
  t.match(none.stderr, /has no host "host9"; use switch, host1, host2, host3, host4, host5/)
  const count = berth(['rig', 'add-host', rig.name, '--count', '0'])
  t.match(count.stderr, /--count 0 is out of range/)
  t.same(netnsNames().filter((n) => n.startsWith(`${rig.name}.`)).sort(), before, 'same namespaces')
  t.equal(inspect(rig.name).hosts.length, 5, 'same hosts')
  const nrig = berth(['rig', 'add-host', 'btnosuchrig'])
  t.match(nrig.stderr, /no rig named "btnosuchrig"/)
})

t.test('SIGINT during rig up removes what it made', { skip }, async (t) => {
  const name = rigName()
  downOnTeardown(t, name)
  // Many hosts, so the signal lands while hosts are being made.
  const up = spawn(BERTH, ['rig', 'up', '--name', name, '--hosts', '200'], { stdio: ['ignore', 'pipe', 'pipe'] })
  let err = ''
  up.stderr.on('data', (d: Buffer) => (err += d.toString()))
  const exited = new Promise<number | null>((r) => up.once('exit', (code) => r(code)))
  for (let i = 0; i < 1000 && !netnsNames().includes(`${name}.host1`); i++) await sleep(10)
  up.kill('SIGINT')
  t.equal(await exited, 130, 'exit code 130')
  t.match(err, /^berth: interrupted by SIGINT; nothing was kept\n$/)
  t.same(netnsNames().filter((n) => n.startsWith(`${name}.`)), [], 'no namespace left')
  t.notOk(existsSync(join('/run/berth/rigs', name)), 'no rig directory')
})
