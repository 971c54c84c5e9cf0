// Detached containers over their life: stop (TERM, KILL after the grace period) tears the networking
// down at once and keeps the container listed as exited until rm; a command that ends by itself is
// recorded with its exit code and its output is in `berth logs`; a supervisor killed with -9 does not
// stop `rm -f` from removing everything; --rootfs chroots with its own /proc, also for exec.
import t from 'tap'
import { copyFileSync, existsSync, mkdirSync, readFileSync, symlinkSync } from 'node:fs'
import { join } from 'node:path'
import { containerIPs, createBerthHost, type BerthHost } from '../../helpers/berth-host.js'
import { BIN_DIR } from '../../helpers/paths.js'
import { needsBuiltBin, needsRoot } from '../../helpers/privileges.js'

const skip = needsRoot() || needsBuiltBin('berth', BIN_DIR) || needsBuiltBin('bridge', BIN_DIR)

type Inspect = Parameters<typeof containerIPs>[0] & { id: string; status: string; exitCode: number | null; pid: number | null; supervisorPid: number | null }
const inspect = (b: BerthHost, name: string) => JSON.parse(b.berth(['inspect', name]).stdout) as Inspect

async function until(what: string, cond: () => boolean): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (cond()) return
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`timed out waiting for ${what}`)
}

t.test('stop: exited (137) and listed until rm; networking gone at once; rm without -f then', { skip }, async (t) => {
  const b = await createBerthHost(t)
  t.equal(b.berth(['run', '-d', '--name', 'st', '--', 'sleep', '1000']).status, 0)
  const before = inspect(b, 'st')
  const marks = { ips: containerIPs(before), ids: [before.id] }
  const stop = b.berth(['stop', '-t', '1', 'st'])
  t.equal(stop.status, 0, stop.stderr)
  t.equal(stop.stdout, 'st\n')
  const after = inspect(b, 'st')
  t.match(after, { status: 'exited', exitCode: 137, pid: null, supervisorPid: null })
  t.same(after.networks, [], 'no attachment left')
  t.equal(b.berth(['ps', '--json']).stdout.trim(), '[]', 'ps hides stopped containers')
  t.match(JSON.parse(b.berth(['ps', '-a', '--json']).stdout), [{ name: 'st', status: 'exited', exitCode: 137 }], 'ps -a shows it')
  t.same(b.leftovers(marks).filter((l) => !l.includes('containers holds st')), [], 'only the state is left while it is listed')
  t.equal(b.berth(['stop', 'st']).status, 0, 'stopping a stopped container is fine')
  const rm = b.berth(['rm', 'st'])
  t.equal(rm.status, 0, rm.stderr)
  t.same(b.leftovers(marks), [])
})

t.test('a detached command that ends by itself: exit code recorded, output in logs, networking removed', { skip }, async (t) => {
  const b = await createBerthHost(t)
  t.equal(b.berth(['run', '-d', '--name', 'quick', '--', 'sh', '-c', 'echo to-stdout; echo to-stderr >&2; sleep 0.5; exit 3']).status, 0)
  await until('the container to exit', () => inspect(b, 'quick').status === 'exited' && inspect(b, 'quick').supervisorPid === null)
  t.match(inspect(b, 'quick'), { exitCode: 3, networks: [] })
  const logs = b.berth(['logs', 'quick'])
  t.equal(logs.stdout, 'to-stdout\nto-stderr\n', 'stdout and stderr, in order')
  t.same(b.leftovers().filter((l) => !l.includes('containers holds quick')), [])
  t.equal(b.berth(['rm', 'quick']).status, 0)
  t.same(b.leftovers(), [])
})

t.test('rm -f after the supervisor was killed -9 still removes everything', { skip }, async (t) => {
  const b = await createBerthHost(t)
  t.equal(b.berth(['run', '-d', '--name', 'orphan', '-p', '18082:80', '--', 'sleep', '1000']).status, 0)
  const before = inspect(b, 'orphan')
  t.ok(before.supervisorPid !== null, 'a supervisor holds it')
  process.kill(before.supervisorPid as number, 'SIGKILL')
  await until('the supervisor to die', () => inspect(b, 'orphan').supervisorPid === null)
  t.equal(inspect(b, 'orphan').status, 'running', 'the container itself lives on')
  const rm = b.berth(['rm', '-f', 'orphan'])
  t.equal(rm.status, 0, rm.stderr)
  t.same(b.leftovers({ ips: containerIPs(before), ids: [before.id], ports: [18082] }), [])
})

t.test('--rootfs: chroot with its own /proc; exec enters the same root', { skip }, async (t) => {
  const b = await createBerthHost(t)
  const rootfs = join(b.root, 'rootfs')
  mkdirSync(join(rootfs, 'bin'), { recursive: true })
  copyFileSync('/usr/bin/busybox', join(rootfs, 'bin/busybox'))
  for (const tool of ['sh', 'ls', 'cat', 'sleep', 'hostname']) symlinkSync('busybox', join(rootfs, 'bin', tool))
  const fg = b.berth(['run', '--net', 'none', '--rootfs', rootfs, '--', 'sh', '-c', 'ls /; cat /proc/1/comm; exit 0'])
  t.equal(fg.status, 0, fg.stderr)
  t.equal(fg.stdout, 'bin\nproc\nsh\n', 'only the rootfs is visible, and its /proc is the container\'s own')
  const rel = b.berth(['run', '--net', 'none', '--rootfs', 'rootfs', '--', 'ls', '/'], { cwd: b.root })
  t.equal(rel.stdout, 'bin\nproc\n', `a relative --rootfs is taken from the current directory: ${rel.stderr}`)
  t.equal(b.berth(['run', '-d', '--name', 'rfs', '--net', 'none', '--rootfs', rootfs, '--', 'sleep', '1000']).status, 0)
  const ex = b.berth(['exec', 'rfs', '--', 'sh', '-c', 'ls /; cat /proc/1/comm; exit 0'])
  t.equal(ex.stdout, 'bin\nproc\nsleep\n', 'exec sees the container\'s root and PID 1')
  t.equal(b.berth(['exec', 'rfs', '--', 'ip', 'addr']).status, 127, 'a host tool missing from the rootfs is not found (127)')
  t.equal(b.berth(['rm', '-f', 'rfs']).status, 0)
  t.same(b.leftovers(), [])
})

t.test('two runs racing for one name: exactly one wins, the other leaves nothing', { skip }, async (t) => {
  const b = await createBerthHost(t)
  const start = () =>
    new Promise<number | null>((resolve) => {
      const c = b.spawnBerth(['run', '-d', '--name', 'race', '--', 'sleep', '1000'])
      c.once('exit', (code) => resolve(code))
    })
  const codes = await Promise.all([start(), start()])
  t.same([...codes].sort(), [0, 1], `one succeeds, one is refused: ${codes.join(',')}`)
  const running = JSON.parse(b.berth(['ps', '--json']).stdout) as { name: string }[]
  t.same(running.map((c) => c.name), ['race'])
  const insp = inspect(b, 'race')
  t.equal(b.berth(['rm', '-f', 'race']).status, 0)
  t.same(b.leftovers({ ips: containerIPs(insp), ids: [insp.id] }), [], 'the loser left no veth, reservation or cache file')
})

t.test('logs -f follows until the container stops; rm of several names goes on past a missing one', { skip }, async (t) => {
  const b = await createBerthHost(t)
  t.equal(b.berth(['run', '-d', '--name', 'talker', '--net', 'none', '--', 'sh', '-c', 'for i in 1 2 3; do echo line $i; sleep 0.3; done']).status, 0)
  const follow = b.berth(['logs', '-f', 'talker'])
  t.equal(follow.stdout, 'line 1\nline 2\nline 3\n', 'every line, then it returns')
  t.equal(b.berth(['run', '-d', '--name', 'other', '--net', 'none', '--', 'true']).status, 0)
  await until('other to exit', () => inspect(b, 'other').status === 'exited')
  const rm = b.berth(['rm', 'talker', 'missing', 'other'])
  t.equal(rm.status, 1, 'one name failed')
  t.equal(rm.stdout, 'talker\nother\n', 'the others were removed')
  t.match(rm.stderr, /no container named "missing"/)
  t.same(b.leftovers(), [])
})

t.test('a running container with corrupt state: rm refuses, rm -f kills what runs in it and removes it', { skip }, async (t) => {
  const b = await createBerthHost(t)
  t.equal(b.berth(['run', '-d', '--name', 'bad', '--net', 'none', '--', 'sleep', '1000']).status, 0)
  const before = inspect(b, 'bad')
  const alive = (pid: number | null) => pid !== null && existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ')
  t.ok(alive(before.pid), 'running')
  const { writeFileSync } = await import('node:fs')
  writeFileSync(join(b.containersDir, 'bad', 'state.json'), '{"half')
  const rm = b.berth(['rm', 'bad'])
  t.equal(rm.status, 1)
  t.match(rm.stderr, /state of container "bad" .* is corrupt; remove it with 'berth rm -f bad'/)
  t.equal(b.berth(['rm', '-f', 'bad']).status, 0)
  await until('the init to be reaped', () => !alive(before.pid))
  t.notOk(alive(before.pid), 'its process was killed')
  t.same(b.leftovers({ ids: [before.id] }), [])
})
