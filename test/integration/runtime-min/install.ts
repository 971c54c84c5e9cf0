// `berth install`: the shims and bin/lib (the Node executables, bundles and code caches, build-id, the .node
// addons, package.json) copied into another directory, where they work on their own: VERSION from each
// copy, and a real loopback ADD (the shim falls back to lib/loopback, which loads the netlink binding) in a
// throw-away namespace.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createTestNetns } from '../../helpers/netns.js'
import { BIN_DIR } from '../../helpers/paths.js'
import { needsBuiltBin, needsRoot } from '../../helpers/privileges.js'
import { builtPluginTypes, runPlugin } from '../../helpers/run-plugin.js'

const skip = needsRoot() || needsBuiltBin('berth', BIN_DIR) || needsBuiltBin('loopback', BIN_DIR)
const berth = (args: string[]) => spawnSync(join(BIN_DIR, 'berth'), args, { encoding: 'utf8', timeout: 60_000 })

t.test('installs every plugin with its support files; the copies run', { skip }, async (t) => {
  const dir = join(t.testdir(), 'cni', 'bin')
  const r = berth(['install', '--dir', dir])
  t.equal(r.status, 0, r.stderr)
  const plugins = builtPluginTypes().sort()
  t.equal(r.stdout, `installed ${plugins.length} plugins into ${dir}: ${plugins.join(', ')}\n`)
  const files = readdirSync(dir).sort()
  const lib = readdirSync(join(dir, 'lib'))
  for (const p of plugins) {
    t.ok(files.includes(p), `${p} installed`)
    t.equal(statSync(join(dir, p)).mode & 0o111, 0o111, `${p} executable`)
    t.same(readFileSync(join(dir, p)), readFileSync(join(BIN_DIR, p)), `${p} is the shim`)
    t.equal(statSync(join(dir, 'lib', p)).mode & 0o111, 0o111, `lib/${p} executable`)
    const v = runPlugin(p, { dir, command: 'VERSION', stdin: '{"cniVersion":"1.0.0"}' })
    t.equal(v.status, 0, `${p} VERSION from the copy: ${v.stderr}`)
    t.ok(Array.isArray(v.json?.['supportedVersions']), `${p} answers VERSION`)
  }
  t.notOk(files.includes('berth'), 'the CLI itself is not a plugin')
  t.same(files.filter((f) => !plugins.includes(f)), ['lib'], 'only the shims and lib/ at the top')
  t.ok(lib.includes('package.json') && lib.includes('berth_native.node') && lib.includes('netlink.node') && lib.includes('etcd-proto'), 'package.json, addons and proto files copied')
  t.equal(readFileSync(join(dir, 'lib', 'build-id'), 'utf8'), readFileSync(join(BIN_DIR, 'lib', 'build-id'), 'utf8'), 'build-id copied')
  t.same(lib.filter((f) => f === 'berth' || f.startsWith('berth.')).sort(), ['berth', 'berth.js', 'berth.jscache'], 'the daemon of the same build, as lib/berth')
  t.same([...readdirSync(dir), ...readdirSync(join(dir, 'lib'))].filter((f) => f.endsWith('.tmp')), [], 'no temporary files left')

  const ns = await createTestNetns(t)
  const add = runPlugin('loopback', { dir, command: 'ADD', netns: ns.path, path: dir, stdin: { cniVersion: '1.0.0', name: 'lo', type: 'loopback' } })
  t.equal(add.status, 0, `loopback ADD from the installed copy: ${add.stdout}${add.stderr}`)
  const lo = ns.ipJson(['link', 'show', 'lo']) as { flags: string[] }[]
  t.ok(lo[0]?.flags.includes('UP'), 'lo is up in the namespace')

  const again = berth(['install', '--dir', dir])
  t.equal(again.status, 0, `installing over an earlier install works: ${again.stderr}`)
})

t.test('bad target: one line, exit 1', { skip }, async (t) => {
  const file = join(t.testdir(), 'a-file')
  writeFileSync(file, 'x')
  const r = berth(['install', '--dir', join(file, 'sub')])
  t.equal(r.status, 1)
  t.match(r.stderr, /^berth: cannot create .*a-file\/sub: .*; choose a writable --dir\n$/)
  const proc = berth(['install', '--dir', '/proc/self/berth-nope'])
  t.equal(proc.status, 1, 'a directory that cannot be made ends (Node\'s recursive mkdir spins there)')
  t.match(proc.stderr, /^berth: cannot create \/proc\/self\/berth-nope: ENOENT/)
  const same = berth(['install', '--dir', BIN_DIR])
  t.equal(same.status, 1)
  t.match(same.stderr, /is where berth's plugins already are; give another --dir/)
})
