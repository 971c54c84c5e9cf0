#!/usr/bin/env node
// Runs the tap suite (arguments are passed on), then prints the closing line CI reads,
// "N passed, N failed, N skipped", counted from tap's saved per-file results (.tap/test-results).
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const results = join(root, '.tap', 'test-results')
rmSync(results, { recursive: true, force: true })
const tap = createRequire(import.meta.url).resolve('tap/package.json')
const tapBin = join(dirname(tap), JSON.parse(readFileSync(tap, 'utf8')).bin.tap)
const r = spawnSync(process.execPath, [tapBin, ...process.argv.slice(2)], { cwd: root, stdio: 'inherit' })

// A test point is a top-level "ok"/"not ok" line of a file's TAP (one per t.test or top-level assertion).
let passed = 0
let failed = 0
let skipped = 0
const files = []
const walk = (d) => {
  for (const f of existsSync(d) ? readdirSync(d) : []) {
    const p = join(d, f)
    if (statSync(p).isDirectory()) walk(p)
    else if (p.endsWith('.tap')) files.push(p)
  }
}
walk(results)
for (const f of files) {
  let fileFailed = false
  for (const line of readFileSync(f, 'utf8').split('\n')) {
    const m = /^(not ok|ok) \d+/.exec(line)
    if (!m) continue
    if (/#\s*(SKIP|skip)/.test(line)) skipped++
    else if (m[1] === 'ok' || /#\s*TODO/i.test(line)) passed++
    else {
      failed++
      fileFailed = true
    }
  }
  void fileFailed
}
// A crashed or killed runner is a failure even if no file recorded one.
if (r.status !== 0 && failed === 0) failed = 1
process.stdout.write(`\n${passed} passed, ${failed} failed, ${skipped} skipped\n`)
process.exit(r.status ?? 1)
