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

// Counted are the leaf test points of every file's TAP at any depth: assertions, and subtests with no
// assertions of their own (a skipped t.test). A subtest's own result line follows its child plan
// ("1..N", indented deeper) and is not counted again.
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
const indent = (l) => l.length - l.trimStart().length
for (const f of files) {
  let prev = ''
  for (const line of readFileSync(f, 'utf8').split('\n')) {
    if (line.trim() === '') continue
    const m = /^\s*(not ok|ok) \d+/.exec(line)
    const isParent = m && /^\s*1\.\.\d+/.test(prev) && indent(prev) > indent(line)
    prev = line
    if (!m || isParent) continue
    if (/#\s*SKIP/i.test(line)) skipped++
    else if (m[1] === 'ok' || /#\s*TODO/i.test(line)) passed++
    else failed++
  }
}
// A crashed or killed runner is a failure even if no file recorded one.
if (r.status !== 0 && failed === 0) failed = 1
process.stdout.write(`\n${passed} passed, ${failed} failed, ${skipped} skipped\n`)
process.exit(r.status ?? 1)
