#!/usr/bin/env node
// Runs the tap suite (arguments are passed on), then prints the closing line CI reads,
// "N passed, N failed, N skipped", counted from tap's saved per-file results (.tap/test-results).
//
// With no arguments (npm test) the suite runs twice, so both ways a shim can run a plugin stay true:
// first with no daemon (every shim runs its plugin in a process of its own), then the integration tests
// again with `berth daemon` on the default socket (/run/berth/berthd.sock) serving every call it can.
// BERTH_TEST_MODES=standalone|daemon|standalone,daemon chooses; with arguments the default is standalone.
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { connect } from 'node:net'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const results = join(root, '.tap', 'test-results')
const tap = createRequire(import.meta.url).resolve('tap/package.json')
const tapBin = join(dirname(tap), JSON.parse(readFileSync(tap, 'utf8')).bin.tap)
const args = process.argv.slice(2)
const modes = (process.env.BERTH_TEST_MODES ?? (args.length === 0 ? 'standalone,daemon' : 'standalone')).split(',').filter((m) => m !== '')
const SOCKET = '/run/berth/berthd.sock'

// Counted are the leaf test points of every file's TAP at any depth: assertions, and subtests with no
// assertions of their own (a skipped t.test). A subtest's own result line follows its child plan
// ("1..N", indented deeper) and is not counted again.
function count() {
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
  return { passed, failed, skipped }
}

function runTap(tapArgs, env) {
  rmSync(results, { recursive: true, force: true })
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [tapBin, ...tapArgs], { cwd: root, stdio: 'inherit', env })
    p.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)))
  })
}

const answers = (path) =>
  new Promise((resolve) => {
    const s = connect(path)
    s.once('connect', () => (s.destroy(), resolve(true)))
    s.once('error', () => resolve(false))
  })

async function startDaemon() {
  const d = spawn(join(root, 'bin', 'berth'), ['daemon'], { stdio: ['ignore', 'ignore', 'pipe'] })
  let log = ''
  d.stderr.on('data', (c) => (log += c.toString()))
  for (let i = 0; i < 500 && !/serving/.test(log); i++) {
    if (d.exitCode !== null) break
    await new Promise((r) => setTimeout(r, 20))
  }
  if (!/serving/.test(log)) throw new Error(`berth daemon did not start: ${log}`)
  d.log = () => log
  return d
}

const total = { passed: 0, failed: 0, skipped: 0 }
let status = 0
for (const mode of modes) {
  const env = { ...process.env }
  let daemon
  if (await answers(SOCKET)) {
    // Some other daemon would serve this pass's calls: neither mode would be the one it claims.
    process.stderr.write(`run-tests: something already listens on ${SOCKET}; stop it (systemctl stop berth.socket berth.service) first\n`)
    total.failed++
    status = 1
    break
  }
  if (mode === 'daemon') {
    try {
      daemon = await startDaemon()
    } catch (e) {
      process.stderr.write(`run-tests: ${e.message}\n`)
      total.failed++
      status = 1
      continue
    }
    process.stdout.write(`\n# pass "daemon": integration tests again with berth daemon on ${SOCKET} (pid ${daemon.pid})\n`)
  } else if (mode !== 'standalone') {
    process.stderr.write(`run-tests: unknown mode ${mode} (standalone, daemon)\n`)
    process.exit(2)
  }
  const tapArgs = mode === 'daemon' && args.length === 0 ? ['test/integration'] : args
  let code = await runTap(tapArgs, env)
  if (daemon !== undefined) {
    const st = spawnSync(join(root, 'bin', 'berth'), ['daemon', 'status'], { encoding: 'utf8' })
    const died = daemon.exitCode !== null || daemon.signalCode !== null
    if (died) {
      // Every call after that ran standalone: the pass is not what it claims. Its last words say why.
      process.stdout.write(`\n# berth daemon exited during the pass (${daemon.exitCode ?? daemon.signalCode}); its last log lines:\n${daemon.log().split('\n').slice(-40).join('\n').replace(/^/gm, '#   ')}\n`)
    } else {
      process.stdout.write(`\n# what berth daemon served in this pass:\n${st.stdout.replace(/^/gm, '#   ')}\n`)
      daemon.kill('SIGTERM')
      await new Promise((r) => daemon.once('exit', r))
    }
    if (died) code = code || 1
  }
  const c = count()
  // A crashed or killed runner is a failure even if no file recorded one.
  if (code !== 0 && c.failed === 0) c.failed = 1
  if (code !== 0) status = code
  if (modes.length > 1) process.stdout.write(`\n# pass "${mode}": ${c.passed} passed, ${c.failed} failed, ${c.skipped} skipped\n`)
  total.passed += c.passed
  total.failed += c.failed
  total.skipped += c.skipped
}
process.stdout.write(`\n${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped\n`)
process.exit(status)
