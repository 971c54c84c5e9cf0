// Start-up cost of a plugin process: VERSION and a loopback ADD, against a bare `node -e 0` and, when
// installed, the reference loopback plugin (/usr/lib/cni). Runs are interleaved round-robin so drift
// on a busy machine hits every candidate alike. Goal (issue 2): berth <= 1.25x `node -e 0`.
import { execFileSync, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { join } from 'node:path'

const ROOT = process.cwd()
const RUNS = Number(process.env['BENCH_RUNS'] ?? 100)
const REF_DIR = process.env['CNI_REFERENCE_DIR'] ?? '/usr/lib/cni'

interface Candidate {
  name: string
  cmd: string
  args: string[]
  env: Record<string, string>
  input: string
  times: number[]
}

function main(): void {
  const berthLoopback = join(ROOT, 'bin', 'loopback')
  if (!existsSync(berthLoopback)) throw new Error('bin/loopback missing: run npm run build first')
  const nsName = `berthbench${randomBytes(3).toString('hex')}`
  execFileSync('ip', ['netns', 'add', nsName])
  try {
    const netns = `/run/netns/${nsName}`
    const conf = JSON.stringify({ cniVersion: '1.0.0', name: 'bench', type: 'loopback' })
    const base = { PATH: process.env['PATH'] ?? '/usr/bin:/bin' }
    const version = { ...base, CNI_COMMAND: 'VERSION' }
    const add = { ...base, CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'bench', CNI_NETNS: netns, CNI_IFNAME: 'lo', CNI_PATH: join(ROOT, 'bin') }
    const cands: Candidate[] = [
      { name: 'node -e 0', cmd: process.execPath, args: ['-e', '0'], env: base, input: '', times: [] },
      { name: 'berth loopback VERSION', cmd: berthLoopback, args: [], env: version, input: conf, times: [] },
      { name: 'berth loopback ADD', cmd: berthLoopback, args: [], env: add, input: conf, times: [] },
    ]
    const ref = join(REF_DIR, 'loopback')
    if (existsSync(ref)) {
      cands.push({ name: 'reference loopback VERSION', cmd: ref, args: [], env: version, input: conf, times: [] })
      cands.push({ name: 'reference loopback ADD', cmd: ref, args: [], env: { ...add, CNI_PATH: REF_DIR }, input: conf, times: [] })
    }
    for (const c of cands) runOnce(c) // warm the page cache
    for (const c of cands) c.times.length = 0
    for (let i = 0; i < RUNS; i++) for (const c of cands) runOnce(c)
    report(cands)
  } finally {
    execFileSync('ip', ['netns', 'del', nsName])
  }
}

function runOnce(c: Candidate): void {
  const t0 = process.hrtime.bigint()
  const r = spawnSync(c.cmd, c.args, { env: c.env, input: c.input, encoding: 'utf8' })
  const ms = Number(process.hrtime.bigint() - t0) / 1e6
  if (r.status !== 0) throw new Error(`${c.name} failed (${r.status}): ${r.stdout}${r.stderr}`)
  c.times.push(ms)
}

function stats(xs: number[]) {
  const s = [...xs].sort((a, b) => a - b)
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? NaN
  return { median: q(0.5), p90: q(0.9), mean: s.reduce((a, b) => a + b, 0) / s.length }
}

function report(cands: Candidate[]): void {
  const baseline = stats(cands[0]!.times).median
  const byName = new Map(cands.map((c) => [c.name, stats(c.times).median]))
  console.log(`bench/startup: ${RUNS} interleaved runs each (wall time of the whole process, ms)`)
  console.log('candidate'.padEnd(30) + 'median'.padStart(9) + 'p90'.padStart(9) + 'mean'.padStart(9) + '  vs node -e 0')
  for (const c of cands) {
    const s = stats(c.times)
    console.log(c.name.padEnd(30) + s.median.toFixed(1).padStart(9) + s.p90.toFixed(1).padStart(9) + s.mean.toFixed(1).padStart(9) + `  ${(s.median / baseline).toFixed(2)}x`)
  }
  for (const cmd of ['VERSION', 'ADD']) {
    const b = byName.get(`berth loopback ${cmd}`)
    const r = byName.get(`reference loopback ${cmd}`)
    if (b !== undefined && r !== undefined) console.log(`berth/reference ${cmd}: ${(b / r).toFixed(2)}x`)
  }
  const worst = Math.max(byName.get('berth loopback VERSION') ?? 0, byName.get('berth loopback ADD') ?? 0) / baseline
  console.log(`goal <= 1.25x node -e 0: ${worst <= 1.25 ? 'met' : 'NOT met'} (worst ${worst.toFixed(2)}x)`)
}

main()
