// The container modules that need no privileges: names, hostnames, command lookup inside a root,
// the container environment, the launch argv, network planning (host/none/conf dir, which network
// publishes), exit codes and status, and the state store (name reservation, locked updates).
import t from 'tap'
import { spawn } from 'node:child_process'
import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { CliError } from '../../../runtime-min/cli-error.js'
import { containerEnv } from '../../../runtime-min/commands/run.js'
import { statusText } from '../../../runtime-min/commands/ps.js'
import { checkCommand, DEFAULT_PATH, resolveInRoot } from '../../../runtime-min/container/command-path.js'
import { currentInit, effectiveStatus, exitCodeOf } from '../../../runtime-min/container/lifecycle.js'
import { envObject, launchArgs } from '../../../runtime-min/container/launch.js'
import { processRef } from '../../../runtime-min/container/proc.js'
import { generateName, newContainerId, validateContainerName } from '../../../runtime-min/container/names.js'
import { validateHostname } from '../../../runtime-min/container/namespaces.js'
import { planNetworks } from '../../../runtime-min/container/network.js'
import { ContainerStore, type ContainerState } from '../../../runtime-min/container/state.js'

t.test('container names', async (t) => {
  for (const ok of ['web', 'a', 'my_app.v2-1', 'A'.repeat(63)]) t.equal(validateContainerName(ok), ok)
  for (const bad of ['', '-x', '.x', '../x', 'a/b', 'a b', 'A'.repeat(64), 'x\0']) t.throws(() => validateContainerName(bad), CliError, JSON.stringify(bad))
  const taken = new Set<string>()
  for (let i = 0; i < 300; i++) {
    const n = generateName((x) => taken.has(x))
    t.notOk(taken.has(n), 'never a taken name')
    validateContainerName(n)
    taken.add(n)
  }
  t.match(newContainerId(), /^[0-9a-f]{64}$/)
})

t.test('hostnames', async (t) => {
  for (const ok of ['web', 'a-b.example', 'x1']) t.equal(validateHostname(ok), ok)
  for (const bad of ['', '-a', 'a-', 'a_b', 'a..b', 'x'.repeat(65), 'a!']) t.throws(() => validateHostname(bad), /invalid hostname/, bad)
})

t.test('command lookup inside a root follows symlinks within it', async (t) => {
  const root = t.testdir({ usr: { bin: { tool: '#!/bin/sh\n', data: 'x' } }, sbin: {} })
  chmodSync(join(root, 'usr/bin/tool'), 0o755)
  symlinkSync('usr/bin', join(root, 'bin')) // relative link: merged /usr
  symlinkSync('/usr/bin/tool', join(root, 'sbin/abs')) // absolute link: resolved inside the root
  symlinkSync('../../etc/../usr/bin/tool', join(root, 'sbin/dots'))
  symlinkSync('loop', join(root, 'loop'))
  t.equal(resolveInRoot(root, '/bin/tool'), join(root, 'usr/bin/tool'))
  t.equal(resolveInRoot(root, '/sbin/abs'), join(root, 'usr/bin/tool'))
  t.equal(resolveInRoot(root, '/sbin/dots'), undefined, 'a missing component (etc) fails')
  t.equal(resolveInRoot(root, '/../../usr/bin/tool'), join(root, 'usr/bin/tool'), '.. stops at the root')
  t.equal(resolveInRoot(root, '/loop'), undefined, 'a symlink loop fails')
  t.equal(resolveInRoot('/', '/x/y'), '/x/y')

  t.doesNotThrow(() => checkCommand(root, 'tool', '/bin'))
  t.doesNotThrow(() => checkCommand(root, '/sbin/abs', DEFAULT_PATH))
  t.doesNotThrow(() => checkCommand(root, 'abs', 'relative:/sbin'), 'relative PATH entries are skipped')
  t.throws(() => checkCommand(root, 'data', '/usr/bin'), { exitCode: 127, message: /command "data" not found in PATH=\/usr\/bin in / }, 'not executable')
  t.throws(() => checkCommand(root, 'nope', DEFAULT_PATH), { exitCode: 127, message: /command "nope" not found/ }, 'missing')
  t.throws(() => checkCommand(root, '/usr/bin', DEFAULT_PATH), { exitCode: 127, message: /not found or not executable/ }, 'a directory')
  t.throws(() => checkCommand(root, '', DEFAULT_PATH), /no command given/)
  t.doesNotThrow(() => checkCommand('/', 'sh', DEFAULT_PATH), 'the host root')
})

t.test('container environment: defaults, -e K=V, -e K copies, bad -e', async (t) => {
  process.env['BERTH_UNIT_COPY'] = 'copied'
  delete process.env['BERTH_UNIT_UNSET']
  const env = containerEnv(['A=1', 'B=x=y', 'BERTH_UNIT_COPY', 'BERTH_UNIT_UNSET', 'PATH=/opt/bin', 'E='], 'h1')
  t.same(envObject(env), { PATH: '/opt/bin', HOSTNAME: 'h1', A: '1', B: 'x=y', BERTH_UNIT_COPY: 'copied', E: '' })
  t.match(envObject(containerEnv([], 'h')), { PATH: DEFAULT_PATH, HOSTNAME: 'h' })
  t.throws(() => containerEnv(['=v'], 'h'), /invalid -e "=v"/)
})

t.test('launch argv: nsenter into net and UTS, unshare the rest, no shell', async (t) => {
  const args = launchArgs({ netns: '/run/netns/c', uts: '/s/uts', command: ['sh', '-c', 'echo $HOME; rm -rf /'], env: [] })
  t.same(args.slice(0, 3), ['--net=/run/netns/c', '--uts=/s/uts', '--'])
  t.match(args[3], /\/unshare$/)
  t.same(args.slice(4), ['--ipc', '--pid', '--fork', '--kill-child', '--mount-proc', '--propagation', 'slave', '--', 'sh', '-c', 'echo $HOME; rm -rf /'], 'the command is passed verbatim as argv')
  const host = launchArgs({ uts: '/s/uts', rootfs: '/r', command: ['x'], env: [] })
  t.equal(host[0], '--uts=/s/uts', '--net host: no --net')
  t.same(host.slice(-4), ['--root', '/r', '--', 'x'])
})

t.test('network plans', async (t) => {
  const dir = t.testdir({
    'a.conflist': JSON.stringify({ cniVersion: '1.0.0', name: 'a', plugins: [{ type: 'bridge' }] }),
    'b.conflist': JSON.stringify({ cniVersion: '1.0.0', name: 'b', plugins: [{ type: 'bridge' }, { type: 'portmap', capabilities: { portMappings: true } }] }),
  })
  t.same(planNetworks(['host'], dir, false), { mode: 'host' })
  t.same(planNetworks(['none'], dir, false), { mode: 'none' })
  t.throws(() => planNetworks(['host', 'a'], dir, false), /--net host cannot be combined/)
  t.throws(() => planNetworks(['a', 'none'], dir, false), /--net none cannot be combined/)
  t.throws(() => planNetworks(['host'], dir, true), /-p has no effect with --net host/)
  t.throws(() => planNetworks(['none'], dir, true), /-p has no effect with --net none/)
  t.throws(() => planNetworks(['zz'], dir, false), /cannot use network zz: no network named "zz"/)
  t.throws(() => planNetworks(['a', 'a'], dir, false), /network a is given twice/)
  t.throws(() => planNetworks(['a'], dir, true), /none of the networks a can publish ports/)
  const p = planNetworks(['a', 'b'], dir, true)
  t.equal(p.mode, 'cni')
  if (p.mode === 'cni') {
    t.same(p.lists.map((l) => l.name), ['a', 'b'])
    t.equal(p.publishIndex, 1, 'ports go to the first network that declares portMappings')
  }
})

t.test('exit codes and status', async (t) => {
  t.equal(exitCodeOf(3, null), 3)
  t.equal(exitCodeOf(null, 'SIGKILL'), 137)
  t.equal(exitCodeOf(null, 'SIGINT'), 130)
  t.equal(exitCodeOf(null, null), 255)
  t.equal(statusText({ status: 'exited', exitCode: 0 }), 'exited (0)')
  t.equal(statusText({ status: 'exited', exitCode: null }), 'exited')
  t.equal(statusText({ status: 'running', exitCode: null }), 'running')
  const s = { status: 'running', init: { pid: process.pid, start: -1 } } as ContainerState
  t.equal(effectiveStatus(s), 'exited', 'a PID whose start time differs is not our init')
  const launcher = processRef(process.pid)
  t.equal(effectiveStatus({ status: 'running', launcher } as ContainerState), 'running', 'an init not seen yet: its launcher still runs')
  t.equal(effectiveStatus({ status: 'created' } as ContainerState), 'created')
  const child = spawn('sleep', ['30'], { stdio: 'ignore' })
  t.teardown(() => child.kill('SIGKILL'))
  await new Promise((r) => setTimeout(r, 100))
  t.equal(currentInit({ status: 'running', launcher } as ContainerState)?.pid, child.pid, "found as the launcher's child")
  t.equal(currentInit({ status: 'running' } as ContainerState), undefined)
})

t.test('state store: reservation, read/write, list, locked updates, removal', async (t) => {
  const store = new ContainerStore(join(t.testdir(), 'containers'))
  t.same(store.names(), [], 'no directory yet: no containers')
  store.reserve('c1')
  t.throws(() => store.reserve('c1'), { message: /a container named "c1" already exists; choose another --name/ })
  t.equal(store.tryRead('c1'), undefined, 'reserved, no state yet')
  t.throws(() => store.read('nope'), /no container named "nope"/)
  t.throws(() => store.path('../x'), CliError)
  const s = { version: 1, id: 'x'.repeat(64), name: 'c1', status: 'created', attachments: [] } as unknown as ContainerState
  store.write(s)
  t.same(store.read('c1'), s)
  t.same(store.list().map((x) => x.name), ['c1'])
  mkdirSync(store.path('broken'))
  writeFileSync(store.path('broken', 'state.json'), '{nope')
  t.throws(() => store.read('broken'), /state of container "broken" .* is corrupt; remove it with 'berth rm -f broken'/)
  t.same(store.list().map((x) => x.name), ['c1'], 'list skips a corrupt one')
  const seen = await store.locked('c1', (cur) => {
    store.remove('c1')
    return cur?.status
  })
  t.equal(seen, 'created', 'locked gives the state read under the lock')
  t.equal(await store.locked('c1', (cur) => cur), undefined, 'a removed container: undefined, no error')
  t.notOk(store.exists('c1'))
})
