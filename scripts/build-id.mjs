// The build identity: the first 16 hex digits of a sha256 over everything that makes a build, so the shim,
// the bundles and the daemon of one build recognise each other (daemon/PROTOCOL.md, HELLO). Run as a script
// (`node scripts/build-id.mjs [ROOT]`) it prints the identity of a tree; tests use that.
import { createHash } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

// Source trees and single files. Generated output (build/ directories) and prose (*.md) make no build.
const TREES = ['pkg', 'plugins', 'ipam', 'runtime-min', 'daemon', 'native']
const FILES = ['package-lock.json', 'tsconfig.json', 'scripts/build.mjs', 'scripts/build-id.mjs']

function sources(root) {
  const out = FILES.filter((f) => existsSync(join(root, f)))
  const walk = (dir) => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name)
      if (statSync(p).isDirectory()) {
        if (name !== 'build' && name !== 'node_modules') walk(p)
      } else if (!name.endsWith('.md')) out.push(relative(root, p))
    }
  }
  for (const t of TREES) if (existsSync(join(root, t))) walk(join(root, t))
  return out.sort()
}

export function buildId(root) {
  const h = createHash('sha256')
  h.update(`version\0${JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version}\0`)
  // Each file as its path, its length and its bytes: no two different trees hash the same stream.
  for (const f of sources(root)) {
    const data = readFileSync(join(root, f))
    h.update(`${f}\0${data.length}\0`)
    h.update(data)
  }
  return h.digest('hex').slice(0, 16)
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.stdout.write(`${buildId(process.argv[2] ?? join(fileURLToPath(import.meta.url), '..', '..'))}\n`)
}
