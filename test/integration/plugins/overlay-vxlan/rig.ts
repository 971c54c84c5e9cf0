// End to end through the CLI: `berth rig up --driver vxlan` gives every host the overlay network and a
// running agent; containers started with `berth run` on three hosts reach each other; `berth overlay check`
// reports every peer fine; `berth rig down` leaves no store behind.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { needsBuiltBin, needsLinkKind } from '../../../helpers/privileges.js'
import { BIN_DIR } from '../../../helpers/paths.js'

const skip = needsLinkKind('vxlan') || needsBuiltBin('berth', BIN_DIR)
const berth = (args: string[], timeout = 60_000) => spawnSync(join(BIN_DIR, 'berth'), args, { encoding: 'utf8', timeout })

t.test('a vxlan rig of three hosts', { skip }, async (t) => {
  const rig = `ov${process.pid.toString(36)}${Date.now().toString(36).slice(-4)}`
  const up = berth(['rig', 'up', '--name', rig, '--hosts', '3', '--driver', 'vxlan'])
  t.equal(up.status, 0, `rig up: ${up.stderr}`)
  t.teardown(() => berth(['rig', 'down', rig]))
  const hosts = ['host1', 'host2', 'host3']
  const ips: string[] = []
  for (const h of hosts) {
    const run = berth(['rig', 'exec', rig, h, '--', 'berth', 'run', '-d', '--name', `c${h}`, '--net', 'overlay', '--', 'sleep', '600'])
    t.equal(run.status, 0, `run on ${h}: ${run.stderr}`)
    const insp = berth(['rig', 'exec', rig, h, '--', 'berth', 'inspect', `c${h}`])
    const ip = /"address": "(10\.244\.\d+\.\d+)\/24"/.exec(insp.stdout)?.[1] ?? ''
    t.match(ip, /^10\.244\./, `${h}: container address`)
    ips.push(ip)
  }
  for (const [i, a] of hosts.entries()) {
    for (const [j, ip] of ips.entries()) {
      if (i === j) continue
      const p = berth(['rig', 'exec', rig, a, '--', 'berth', 'exec', `c${a}`, '--', 'ping', '-c', '1', '-W', '2', ip])
      t.equal(p.status, 0, `${a} → ${hosts[j]}`)
    }
  }
  const check = berth(['rig', 'exec', rig, 'host2', '--', 'berth', 'overlay', 'check', '--net', 'overlay', '--json'])
  t.equal(check.status, 0, `overlay check: ${check.stdout}${check.stderr}`)
  const report = JSON.parse(check.stdout) as { ok: boolean; peers: { reachable: boolean; mtuOk: boolean }[] }
  t.equal(report.peers.length, 2)
  t.ok(report.ok)
  // a host added later joins the overlay; a host removed from the rig leaves the others' tables
  const routes = (h: string) => berth(['rig', 'exec', rig, h, '--', 'ip', 'route', 'show', 'proto', '190']).stdout.trim().split('\n').filter((l) => l !== '')
  const add = berth(['rig', 'add-host', rig])
  t.equal(add.status, 0, `add-host: ${add.stderr}`)
  t.equal(add.stdout.trim(), 'host4')
  const waitFor = async (cond: () => boolean) => {
    for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 50))
    return cond()
  }
  t.ok(await waitFor(() => routes('host1').length === 3), 'host1 learned host4')
  const rm = berth(['rig', 'rm-host', rig, 'host2'])
  t.equal(rm.status, 0, `rm-host: ${rm.stderr}`)
  t.ok(await waitFor(() => routes('host1').length === 2 && routes('host3').length === 2), 'host2 left the others\' tables')
  t.notOk(routes('host1').some((r) => r.startsWith(ips[1]!.replace(/\.\d+$/, '.0/24'))), "no route to host2's subnet")
  t.ok(existsSync(`/var/lib/berth/overlay/rigs/${rig}`), 'rm-host keeps the rig store')

  const bad = berth(['rig', 'exec', rig, 'host1', '--', 'berth', 'overlay', 'agent', '--net', 'nosuchnet'])
  t.equal(bad.status, 1, 'unknown network: exit 1')
  t.match(bad.stderr, /^berth: .*nosuchnet/m, 'one clear line')
  const down = berth(['rig', 'down', rig])
  t.equal(down.status, 0, `rig down: ${down.stderr}`)
  t.notOk(existsSync(`/var/lib/berth/overlay/rigs/${rig}`), 'the rig store is gone')
})
