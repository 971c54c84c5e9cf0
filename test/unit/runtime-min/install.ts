// `berth install` on a made-up bin/: what the plan takes (shims, their Node executables in lib/, bundles,
// code caches, build-id, addons, package.json, etcd's proto files) and leaves (the CLI, its bundle, files
// that are not plugins), in which order, and the copies' modes. The real bin/ is covered by
// test/integration/runtime-min/install.ts.
import t, { type Test } from 'tap'
import { chmodSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { install, planInstall } from '../../../runtime-min/commands/install.js'

function fakeBin(t: Test): string {
  const root = t.testdir({
    bin: {
      bridge: 'shim',
      loopback: 'shim',
      berth: 'cli launcher',
      'no-lib': 'shim without lib',
      'not-exec': 'shim',
      'package.json': '{}',
      lib: {
        bridge: 'launcher',
        'bridge.js': 'bundle',
        'bridge.jscache': 'cache',
        loopback: 'launcher',
        'loopback.js': 'bundle',
        'not-exec': 'launcher',
        'not-exec.js': 'bundle',
        'berth.js': 'cli bundle',
        'berth.jscache': 'cli cache',
        'build-id': '0123456789abcdef',
        'berth_native.node': 'addon',
        'netlink.node': 'addon',
        'package.json': '{ "type": "commonjs" }\n',
        'etcd-proto': { 'rpc.proto': 'proto', 'kv.proto': 'proto' },
      },
    },
  })
  const bin = join(root, 'bin')
  for (const f of ['bridge', 'loopback', 'berth', 'no-lib', 'lib/bridge', 'lib/loopback']) chmodSync(join(bin, f), 0o755)
  return bin
}

t.test('the plan: data files, then the Node executables, then the shims', async (t) => {
  const plan = planInstall(fakeBin(t))
  t.same(plan.plugins, ['bridge', 'loopback'], 'the CLI, a shim without lib/ and a non-executable are left out')
  t.same(plan.launchers, ['lib/bridge', 'lib/loopback'])
  t.same(plan.support.slice().sort(), [
    'lib/berth_native.node',
    'lib/bridge.js',
    'lib/bridge.jscache',
    'lib/build-id',
    'lib/etcd-proto/kv.proto',
    'lib/etcd-proto/rpc.proto',
    'lib/loopback.js',
    'lib/netlink.node',
    'lib/package.json',
  ])
})

t.test('install copies the plan, keeping modes, leaving no temporary file', async (t) => {
  const from = fakeBin(t)
  // t.testdir() is one directory per test: the target goes beside the fake bin/
  const dir = join(from, '..', 'cni', 'bin')
  const plan = install({ dir, from })
  t.same(plan.plugins, ['bridge', 'loopback'])
  t.same(readdirSync(dir).sort(), ['bridge', 'lib', 'loopback'])
  t.same(readdirSync(join(dir, 'lib')).sort(), [
    'berth_native.node',
    'bridge',
    'bridge.js',
    'bridge.jscache',
    'build-id',
    'etcd-proto',
    'loopback',
    'loopback.js',
    'netlink.node',
    'package.json',
  ])
  for (const f of ['bridge', 'loopback', 'lib/bridge', 'lib/loopback']) t.equal(statSync(join(dir, f)).mode & 0o777, 0o755, `${f} executable`)
  for (const f of ['lib/bridge.js', 'lib/netlink.node', 'lib/build-id', 'lib/etcd-proto/rpc.proto']) t.equal(statSync(join(dir, f)).mode & 0o111, 0, `${f} not executable`)
  t.equal(readFileSync(join(dir, 'lib/build-id'), 'utf8'), '0123456789abcdef')
  // again, over the first install
  install({ dir, from })
  t.same(readdirSync(join(dir, 'lib', 'etcd-proto')).sort(), ['kv.proto', 'rpc.proto'])
})
