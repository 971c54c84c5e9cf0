#!/usr/bin/env node
// Build: type-check, compile the native addon, and bundle one executable per CNI type into bin/.
// Each executable is a single CommonJS file (faster to start than ESM) with a node shebang; the addon
// and netlink's prebuilt binding are copied beside them so `berth install` can copy bin/ anywhere.
import { execFileSync } from 'node:child_process'
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const require = createRequire(import.meta.url)
const args = new Set(process.argv.slice(2))
const step = (s) => process.stderr.write(`build: ${s}\n`)

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

// 3. One bundle per executable: plugins/<type>/main.ts, ipam/<type>/main.ts, runtime-min/main.ts -> bin/berth.
const entries = []
for (const dir of ['plugins', 'ipam']) {
  const base = join(root, dir)
  if (!existsSync(base)) continue
  for (const type of readdirSync(base)) {
    if (existsSync(join(base, type, 'main.ts'))) entries.push({ name: type, entry: join(base, type, 'main.ts') })
  }
}
if (existsSync(join(root, 'runtime-min/main.ts'))) entries.push({ name: 'berth', entry: join(root, 'runtime-min/main.ts') })

const bin = join(root, 'bin')
mkdirSync(bin, { recursive: true })
writeFileSync(join(bin, 'package.json'), '{ "type": "commonjs" }\n')

// netlink loads its binding with node-gyp-build relative to its package; in a bundle it sits beside us.
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

const esbuild = await import('esbuild')
step(`bundle ${entries.map((e) => e.name).join(', ')}`)
await Promise.all(
  entries.map(({ name, entry }) =>
    esbuild.build({
      entryPoints: [entry],
      outfile: join(bin, name),
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'cjs',
      minify: !args.has('--no-minify'),
      sourcemap: false,
      legalComments: 'none',
      logLevel: 'warning',
      banner: { js: '#!/usr/bin/env node\nconst __berth_import_meta_url = require("url").pathToFileURL(__filename).href;' },
      define: { 'import.meta.url': '__berth_import_meta_url' },
      plugins: [netlinkBinding],
    }),
  ),
)
for (const { name } of entries) chmodSync(join(bin, name), 0o755)

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

copyFileSync(addon, join(bin, 'berth_native.node'))
const netlinkPrebuilt = join(dirname(require.resolve('netlink/package.json')), 'prebuilds', `linux-${process.arch}`, 'node.napi.node')
if (existsSync(netlinkPrebuilt)) copyFileSync(netlinkPrebuilt, join(bin, 'netlink.node'))
else step(`warning: no netlink prebuilt binding for linux-${process.arch}`)
step('done')
