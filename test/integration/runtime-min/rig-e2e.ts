// The end-to-end rig test: in a 3-host rig, a container in host1 reaches a container published on
// host2 through host2's underlay address and published port, with a real TCP payload; then `rig down`
// removes the containers (processes, namespace mounts) with the rig.
import t from 'tap'
import { readFileSync, existsSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { BIN_DIR } from '../../helpers/paths.js'
import { needsBuiltBin, needsRoot } from '../../helpers/privileges.js'
import { berth, makeRig, netnsNames, processAlive } from '../../helpers/rig.js'

const skip = needsRoot() || needsBuiltBin('berth', BIN_DIR)

const mountsUnder = (dir: string) =>
  readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m.startsWith(`${dir}/`))

t.test('a container in host1 reaches a container published on host2 via the underlay', { skip }, async (t) => {
  const rig = makeRig(t, { hosts: 3 })
  const [h1, h2] = rig.hosts
  if (h1 === undefined || h2 === undefined) throw new Error('rig without hosts')

  // An echo server that first says which address the connection came from (socat sets SOCAT_PEERADDR).
  const server = berth([
    'rig', 'exec', rig.name, 'host2', '--',
    'berth', 'run', '-d', '--name', 'srv', '-p', '18080:80', '--',
    'socat', 'TCP-LISTEN:80,fork,reuseaddr', 'SYSTEM:echo peer=$SOCAT_PEERADDR; cat',
  ])
  t.equal(server.status, 0, `berth run -d on host2: ${server.stderr}`)
  t.equal(server.stdout.trim(), 'srv', 'prints the container name')
  const ps = berth(['rig', 'exec', rig.name, 'host2', '--', 'berth', 'ps', '--json'])
  const listed = JSON.parse(ps.stdout) as { name: string; pid: number }[]
  t.match(listed, [{ name: 'srv' }], 'host2 knows its container')
  const serverPid = listed[0]?.pid ?? 0
  t.ok(processAlive(serverPid), 'the server process runs')
  t.ok(existsSync(join(h2.root, 'run/berth/containers/srv')), "the container's state is under host2's BERTH_ROOT")
  t.same(
    (JSON.parse(berth(['ps', '--json']).stdout || '[]') as { name: string }[]).filter((c) => c.name === 'srv'),
    [],
    "the machine's own berth does not see it",
  )

  const payload = `payload-${randomBytes(8).toString('hex')}`
  const client = berth(['rig', 'exec', rig.name, 'host1', '--', 'berth', 'run', '--', 'socat', '-T', '10', '-', `TCP:${h2.ip}:18080`], {
    input: `${payload}\n`,
  })
  t.equal(client.status, 0, `client container on host1: ${client.stderr}`)
  const lines = client.stdout.trim().split('\n')
  t.equal(lines[0], `peer=${h1.ip}`, "the server saw host1's underlay address (the client crossed the underlay)")
  t.equal(lines[1], payload, 'the payload came back')
  t.same(
    (JSON.parse(berth(['rig', 'exec', rig.name, 'host1', '--', 'berth', 'ps', '--json']).stdout) as unknown[]).length,
    0,
    'the foreground client container is gone from host1',
  )

  t.not(mountsUnder(join('/run/berth/rigs', rig.name)).length, 0, 'the server container has mounts under the rig')
  const down = berth(['rig', 'down', rig.name])
  t.equal(down.status, 0, down.stderr)
  t.same(mountsUnder(join('/run/berth/rigs', rig.name)), [], 'no container namespace mount left')
  t.same(netnsNames().filter((n) => n.startsWith(`${rig.name}.`)), [], 'no rig namespace left')
  t.notOk(existsSync(join('/run/berth/rigs', rig.name)), 'no rig directory')
  t.notOk(processAlive(serverPid), 'the server process is gone')
})
