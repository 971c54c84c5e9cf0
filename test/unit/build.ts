// What `npm run build` leaves in bin/ (the shim per type, the Node executables and their files in bin/lib),
// and the build identity of scripts/build-id.mjs: a hash of the sources, blind to docs and build output.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { SHIM_MARKER } from '../../pkg/invoke/own-executable.js'
import { BIN_DIR, REPO_ROOT } from '../helpers/paths.js'
import { needsBuiltBin } from '../helpers/privileges.js'
import { builtPluginTypes } from '../helpers/run-plugin.js'

const mode = (p: string) => statSync(join(BIN_DIR, p)).mode & 0o777

t.test('bin/: a shim per type, everything else in bin/lib', { skip: needsBuiltBin('lib/build-id', BIN_DIR) }, async (t) => {
  const id = readFileSync(join(BIN_DIR, 'lib', 'build-id'), 'utf8')
  t.match(id, /^[0-9a-f]{16}$/, 'build-id: 16 hex digits, no newline')
  const types = builtPluginTypes()
  const shim = readFileSync(join(BIN_DIR, types[0] ?? 'bridge'))
  t.ok(shim.subarray(0, 4).equals(Buffer.from('\x7fELF', 'latin1')), 'the shim is an ELF executable')
  t.ok(shim.includes(`${SHIM_MARKER}${id}`), 'carrying the build id')
  for (const type of types) {
    t.ok(readFileSync(join(BIN_DIR, type)).equals(shim), `${type}: the same shim`)
    t.equal(mode(type), 0o755, `${type}: mode 0755`)
    t.equal(mode(`lib/${type}`), 0o755, `lib/${type}: the Node executable`)
    t.match(readFileSync(join(BIN_DIR, 'lib', type), 'utf8'), /^#!\/usr\/bin\/env node\n/)
    t.ok(existsSync(join(BIN_DIR, 'lib', `${type}.js`)), `lib/${type}.js`)
  }
  for (const f of ['berth_native.node', 'netlink.node', 'build-id', 'package.json']) t.equal(mode(`lib/${f}`), 0o644, `lib/${f}: no run bits`)
  t.ok(existsSync(join(BIN_DIR, 'lib', 'etcd-proto', 'rpc.proto')), 'lib/etcd-proto')
  t.equal(mode('berth'), 0o755, 'bin/berth: the CLI launcher')
  t.match(readFileSync(join(BIN_DIR, 'berth'), 'utf8'), /join\(__dirname, "lib", "berth"\)/, 'loading lib/berth.js')
  t.ok(existsSync(join(BIN_DIR, 'package.json')), 'bin/package.json for the CLI launcher')
  t.same(readdirSync(BIN_DIR).filter((f) => f.endsWith('.node') || f === 'etcd-proto' || f.endsWith('.tmp')), [], 'nothing of the old layout, no temporary files')
})

t.test('the build identity follows the sources, not the docs or build output', async (t) => {
  const root = t.testdir({
    'package.json': '{"version":"1.0.0"}',
    'package-lock.json': '{}',
    pkg: { 'a.ts': 'a', 'README.md': 'doc' },
    native: { shim: { 'shim.c': 'c', build: { 'versions.h': 'gen' } } },
    other: { 'x.ts': 'not an input' },
  })
  const id = () => {
    const r = spawnSync(process.execPath, [join(REPO_ROOT, 'scripts', 'build-id.mjs'), root], { encoding: 'utf8' })
    t.equal(r.status, 0, r.stderr)
    return r.stdout.trim()
  }
  const first = id()
  t.match(first, /^[0-9a-f]{16}$/)
  writeFileSync(join(root, 'pkg', 'README.md'), 'other doc')
  writeFileSync(join(root, 'native', 'shim', 'build', 'versions.h'), 'regenerated')
  writeFileSync(join(root, 'other', 'x.ts'), 'changed')
  t.equal(id(), first, 'docs, build/ and other trees do not count')
  writeFileSync(join(root, 'native', 'shim', 'shim.c'), 'c2')
  const second = id()
  t.not(second, first, 'a source change makes another build')
  mkdirSync(join(root, 'daemon'))
  writeFileSync(join(root, 'daemon', 'x.ts'), '')
  const third = id()
  t.not(third, second, 'a new source file too')
  writeFileSync(join(root, 'package.json'), '{"version":"1.0.1"}')
  t.not(id(), third, 'and the version')
})
