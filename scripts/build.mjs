#!/usr/bin/env node
// Build: type-check, compile the native addon, bundle each CNI type and the CLI, and compile the shim.
// bin/<type> is the native shim (native/shim); bin/lib/<type> is the type's Node executable, a launcher of the
// single bundle bin/lib/<type>.js (CommonJS inside: faster to start than ESM). The addons, netlink's prebuilt
// binding and etcd's proto files sit in bin/lib too, so `berth install` can copy bin/ anywhere.
import { execFileSync } from 'node:child_process'
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { buildId } from './build-id.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const require = createRequire(import.meta.url)
const args = new Set(process.argv.slice(2))
const step = (s) => process.stderr.write(`build: ${s}\n`)
// Taken before anything is built: the identity of the sources this build starts from.
const BUILD_ID = buildId(root)
step(`build id ${BUILD_ID}`)

function run(cmd, argv, opts = {}) {
  try {
    execFileSync(cmd, argv, { stdio: 'inherit', cwd: root, ...opts })
  } catch (e) {
    step(`failed: ${[cmd, ...argv].join(' ')} (exit ${e.status ?? e.signal ?? e.message})`)
    process.exit(1)
  }
}

// 1. Type-check everything (sources, tests, benchmarks).
if (!args.has('--no-typecheck')) {
  step('type-check')
  run(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.json'])
}

// 2. The addon, rebuilt only when a source is newer than the binary.
const addon = join(root, 'native/build/Release/berth_native.node')
const nativeSources = ['binding.gyp', ...readdirSync(join(root, 'native/src')).map((f) => `src/${f}`)]
const newest = Math.max(...nativeSources.map((f) => statSync(join(root, 'native', f)).mtimeMs))
if (!existsSync(addon) || statSync(addon).mtimeMs < newest || args.has('--force-native')) {
  step('native addon (node-gyp)')
  // Build against the local Node headers: the machines have no internet to download them.
  const nodedir = process.env.npm_config_nodedir || (existsSync('/usr/include/node/node_api.h') ? '/usr' : undefined)
  run(process.execPath, [require.resolve('node-gyp/bin/node-gyp.js'), 'rebuild', ...(nodedir ? [`--nodedir=${nodedir}`] : [])], {
    cwd: join(root, 'native'),
  })
}

// 3. One bundle per executable: plugins/<type>/main.ts, plugins/host/<type>/main.ts (host-attached types),
// ipam/<type>/main.ts, runtime-min/main.ts -> bin/berth.
const entries = []
for (const dir of ['plugins', 'plugins/host', 'ipam']) {
  const base = join(root, dir)
  if (!existsSync(base)) continue
  for (const type of readdirSync(base)) {
    if (existsSync(join(base, type, 'main.ts'))) entries.push({ name: type, entry: join(base, type, 'main.ts') })
  }
}
if (existsSync(join(root, 'runtime-min/main.ts'))) entries.push({ name: 'berth', entry: join(root, 'runtime-min/main.ts') })

const bin = join(root, 'bin')
const lib = join(bin, 'lib')
mkdirSync(lib, { recursive: true })
// The launchers have no extension: without a package.json saying commonjs, the repository's "type": "module"
// would apply to bin/berth; bin/lib/package.json goes with the plugins' launchers when they are installed.
for (const dir of [bin, lib]) writeFileSync(join(dir, 'package.json'), '{ "type": "commonjs" }\n')

// netlink loads its binding with node-gyp-build relative to its package; in a bundle it sits beside the
// bundle (the launchers pass the bundle's own directory, bin/lib, as __dirname).
const netlinkBinding = {
  name: 'netlink-binding',
  setup(b) {
    b.onLoad({ filter: /node_modules[\\/]netlink[\\/]dist[\\/]raw\.js$/ }, async (a) => {
      const { readFile } = await import('node:fs/promises')
      const src = await readFile(a.path, 'utf8')
      const needle = "require('node-gyp-build')(__dirname + '/..')"
      if (!src.includes(needle)) throw new Error('netlink/dist/raw.js changed: update the build plugin')
      return { contents: src.replace(needle, "require(require('path').join(__dirname, 'netlink.node'))"), loader: 'js' }
    })
  },
}

// etcd3 (the overlay's etcd store) loads its gRPC definitions from ${__dirname}/../proto at run time; in a
// bundle that would be outside bin/, so the files are copied to bin/lib/etcd-proto and the path points there.
const etcdProto = {
  name: 'etcd3-proto',
  setup(b) {
    b.onLoad({ filter: /node_modules[\\/]etcd3[\\/]lib[\\/]connection-pool\.js$/ }, async (a) => {
      const { readFile } = await import('node:fs/promises')
      const src = await readFile(a.path, 'utf8')
      const needle = '`${__dirname}/../proto/rpc.proto`'
      if (!src.includes(needle)) throw new Error('etcd3/lib/connection-pool.js changed: update the build plugin')
      return { contents: src.replace(needle, "require('path').join(__dirname, 'etcd-proto', 'rpc.proto')"), loader: 'js' }
    })
  },
}

const esbuild = await import('esbuild')
const pkgVersion = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version
step(`bundle ${entries.map((e) => e.name).join(', ')}`)
const bundles = await Promise.all(
  entries.map(async ({ name, entry }) => {
    const r = await esbuild.build({
      entryPoints: [entry],
      write: false,
      outfile: join(bin, name),
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'cjs',
      minify: !args.has('--no-minify'),
      sourcemap: false,
      legalComments: 'none',
      logLevel: 'warning',
      banner: { js: 'const __berth_import_meta_url = require("url").pathToFileURL(__filename).href;' },
      // berth's own version for `berth --version` (package.json is not shipped next to bin/), and the build
      // identity (pkg/build-info): the shim and the daemon of this build carry the same one
      define: {
        'import.meta.url': '__berth_import_meta_url',
        __BERTH_VERSION__: JSON.stringify(pkgVersion),
        __BERTH_BUILD_ID__: JSON.stringify(BUILD_ID),
      },
      plugins: [netlinkBinding, etcdProto],
    })
    return { name, code: r.outputFiles[0].text }
  }),
)

// Each Node executable is a small launcher: bin/lib/<type> for a plugin (what the shim runs when the daemon
// does not take the call), bin/berth for the CLI. A plugin's launcher answers VERSION itself (runtimes such as
// podman send VERSION to every plugin each time they load a network) and otherwise compiles the bundle
// bin/lib/<name>.js with the V8 code cache bin/lib/<name>.jscache, made by a warm-up run that loads every
// module (BERTH_WARMUP=1, see pkg/skel/main.ts). The cache skips parsing and compiling ~250 KB of JavaScript
// on each start; keeping the bundle out of the launcher spares VERSION from scanning it. A cache that V8
// rejects (another Node version) is ignored and the bundle compiles as usual. The bundle gets its own path as
// __filename (so import.meta.url): every bundle finds the addons and proto files beside it in bin/lib.
function launcher(name, version, inLib) {
  return [
    '#!/usr/bin/env node',
    '"use strict";',
    '// berth launcher, generated by scripts/build.mjs: the bundle and its code cache are in bin/lib.',
    // Identity, read by pkg/invoke/own-executable.ts (with the `base` line): a bridge runs host-local in-process
    // when the host-local it would exec is this launcher beside its own.
    `// berth-executable: ${name}`,
    ...(version ? [`if (process.env.CNI_COMMAND === "VERSION") { require("fs").writeSync(1, ${JSON.stringify(version)}); return; }`] : []),
    'const fs = require("fs");',
    `const base = require("path").join(__dirname, ${inLib ? '' : '"lib", '}${JSON.stringify(name)});`,
    'let cachedData;',
    'try { cachedData = fs.readFileSync(base + ".jscache"); } catch {}',
    'const script = new (require("vm").Script)(fs.readFileSync(base + ".js", "utf8"), { filename: base + ".js", cachedData });',
    'if (process.env.BERTH_CODE_CACHE_OUT) process.once("exit", () => fs.writeFileSync(process.env.BERTH_CODE_CACHE_OUT, script.createCachedData()));',
    'script.runInThisContext()(exports, require, module, base + ".js", require("path").dirname(base));',
    '',
  ].join('\n')
}

function warmUpCli(run, env) {
  const { mkdtempSync } = require('node:fs')
  const { tmpdir } = require('node:os')
  const root = mkdtempSync(join(tmpdir(), 'berth-build-warmup-'))
  try {
    const ps = run({ ...env, BERTH_ROOT: root }, ['ps'])
    return ps.status === 0 ? ps : run(env, ['--help'])
  } finally {
    rmSync(root, { recursive: true, force: true })
  }
}

const { spawnSync } = await import('node:child_process')
const { renameSync } = await import('node:fs')
// Replace files by rename, so a plugin started while the build runs sees the old or the new file, whole.
const writeAtomic = (path, data, mode = 0o644) => {
  writeFileSync(`${path}.tmp`, data, { mode })
  renameSync(`${path}.tmp`, path)
}
// The addons must be in bin/lib before the warm-up run loads them. Copy then rename: overwriting a shared
// object in place would corrupt it under any process that has it mapped. Data files get mode 0644 whatever
// their source's (node-gyp leaves run bits on the addon).
const copyAtomic = (from, to, mode = 0o644) => {
  copyFileSync(from, `${to}.tmp`)
  chmodSync(`${to}.tmp`, mode)
  renameSync(`${to}.tmp`, to)
}
writeAtomic(join(lib, 'build-id'), BUILD_ID)
copyAtomic(addon, join(lib, 'berth_native.node'))
const netlinkPrebuilt = join(dirname(require.resolve('netlink/package.json')), 'prebuilds', `linux-${process.arch}`, 'node.napi.node')
if (existsSync(netlinkPrebuilt)) copyAtomic(netlinkPrebuilt, join(lib, 'netlink.node'))
else step(`warning: no netlink prebuilt binding for linux-${process.arch}`)
const etcdProtoSrc = join(root, 'node_modules/etcd3/proto')
if (existsSync(etcdProtoSrc)) {
  mkdirSync(join(lib, 'etcd-proto'), { recursive: true })
  for (const f of readdirSync(etcdProtoSrc)) if (f.endsWith('.proto')) copyAtomic(join(etcdProtoSrc, f), join(lib, 'etcd-proto', f))
}
// Where the layout before the shim kept them; no bundle of this build looks there.
for (const old of ['berth_native.node', 'netlink.node', 'etcd-proto']) rmSync(join(bin, old), { recursive: true, force: true })

const versions = new Map()
for (const { name, code } of bundles) {
  const cli = name === 'berth'
  const out = cli ? join(bin, name) : join(lib, name)
  // V8 accepts a code cache whose source merely has the same LENGTH (its source hash is the length), so a
  // cache left from the previous bundle would run stale bytecode against a new bundle of equal size (seen:
  // "readFileSync is not a function" after a rebuild). Drop it before the new bundle lands.
  rmSync(join(lib, `${name}.jscache`), { force: true })
  writeAtomic(join(lib, `${name}.js`), `(function (exports, require, module, __filename, __dirname) {${code}\n})`)
  writeAtomic(out, launcher(name, undefined, !cli), 0o755)
  // The CLI also as lib/berth, so an install directory carries the daemon of the same build as its shims
  // (berth install's systemd unit runs <dir>/lib/berth daemon).
  if (cli) writeAtomic(join(lib, name), launcher(name, undefined, true), 0o755)
  const run = (env, argv = []) => spawnSync(out, argv, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'], timeout: 60_000, encoding: 'utf8' })
  // bin/berth is the CLI, not a plugin: no VERSION answer. Its warm-up is `berth ps` in an empty temporary
  // BERTH_ROOT (touches no real state): yargs and the command table, which every command loads, plus the
  // container-state code of the most frequent command, not every lazily loaded handler (etcd, gRPC), since
  // V8 reads the whole cache on each start. ps needs root: a build as another user warms up with --help.
  // The plugin's own VERSION answer, baked into its launcher and the shim's table.
  const v = cli ? undefined : run({ CNI_COMMAND: 'VERSION' })
  if (v !== undefined && v.status !== 0) throw new Error(`${name}: VERSION failed during the build`)
  if (!args.has('--no-code-cache')) {
    const cache = join(lib, `${name}.jscache`)
    const env = { BERTH_CODE_CACHE_OUT: `${cache}.tmp` }
    const w = cli ? warmUpCli(run, env) : run({ ...env, BERTH_WARMUP: '1' })
    if (w.status === 0) renameSync(`${cache}.tmp`, cache)
    else step(`warning: warm-up of ${name} failed (exit ${w.status}); built without a code cache`)
  }
  if (v !== undefined) {
    writeAtomic(out, launcher(name, v.stdout, true), 0o755)
    versions.set(name, v.stdout)
  }
}

// The shim (native/shim/shim.c), with this build's identity and every type's VERSION answer compiled in,
// copied to bin/<type> last: once it is there, lib/ holds everything it may run.
const shimDir = join(root, 'native/shim/build')
mkdirSync(shimDir, { recursive: true })
// C string literals: '"' and '\\' escaped, any other byte but printable ASCII in octal; '?' too (no trigraphs).
const cString = (s) => {
  const esc = (b) => {
    const c = String.fromCharCode(b)
    if (c === '"' || c === '\\') return `\\${c}`
    return b >= 0x20 && b < 0x7f && c !== '?' ? c : `\\${b.toString(8).padStart(3, '0')}`
  }
  return `"${[...Buffer.from(s)].map(esc).join('')}"`
}
writeFileSync(
  join(shimDir, 'versions.h'),
  `/* generated by scripts/build.mjs: each type's VERSION answer */\n${[...versions].map(([t, v]) => `{${cString(t)}, ${cString(v)}},\n`).join('')}`,
)
step('shim (cc)')
const shim = join(shimDir, 'berth-shim')
// Static and stripped: no dynamic loader to run, which is a third of a VERSION call's cost (~0.5 ms here).
run(process.env.CC || 'cc', ['-std=c11', '-Wall', '-Wextra', '-O2', '-static', '-s', `-DBERTH_BUILD_ID="${BUILD_ID}"`, `-I${shimDir}`, '-o', shim, join(root, 'native/shim/shim.c')])
for (const name of versions.keys()) copyAtomic(shim, join(bin, name), 0o755)

// Benchmarks: bundled ESM scripts in dist/bench (Node 20 cannot run .ts directly); packages stay external.
const benchDir = join(root, 'bench')
const benches = existsSync(benchDir) ? readdirSync(benchDir).filter((f) => f.endsWith('.ts')) : []
if (benches.length > 0) {
  await esbuild.build({
    entryPoints: benches.map((f) => join(benchDir, f)),
    outdir: join(root, 'dist', 'bench'),
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    packages: 'external',
    logLevel: 'warning',
  })
}

step('done')
