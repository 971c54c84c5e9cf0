// Foreground `berth run`: the exit code comes back (a signal N as 128+N); INT/TERM are forwarded to
// the command; Ctrl-C twice kills a command that ignores it (a PID namespace's init ignores signals it
// has no handler for); and in every case the container is removed completely when the command ends.
import t from 'tap'
import type { ChildProcess } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { containerIPs, createBerthHost, type BerthHost } from '../../helpers/berth-host.js'
import { BIN_DIR } from '../../helpers/paths.js'
import { needsBuiltBin, needsRoot } from '../../helpers/privileges.js'

const skip = needsRoot() || needsBuiltBin('berth', BIN_DIR) || needsBuiltBin('bridge', BIN_DIR)

const exited = (c: ChildProcess) =>
  new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => c.once('exit', (code, signal) => resolve({ code, signal })))

/** Waits until `berth ps` shows the container running (its init known), returning its inspect document. */
async function running(b: BerthHost, name: string): Promise<Parameters<typeof containerIPs>[0] & { id: string; pid: number | null }> {
  for (let i = 0; i < 300; i++) {
    const r = b.berth(['inspect', name])
    if (r.status === 0) {
      const doc = JSON.parse(r.stdout) as Parameters<typeof containerIPs>[0] & { id: string; pid: number | null; status: string }
      if (doc.status === 'running' && doc.pid !== null) return doc
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`container ${name} never ran`)
}

async function fileExists(path: string): Promise<void> {
  for (let i = 0; i < 300 && !existsSync(path); i++) await new Promise((r) => setTimeout(r, 100))
  if (!existsSync(path)) throw new Error(`${path} never appeared`)
}

t.test('the exit code comes back, with and without a network', { skip }, async (t) => {
  const b = await createBerthHost(t)
  t.equal(b.berth(['run', '--net', 'none', '--', 'sh', '-c', 'exit 7']).status, 7)
  t.equal(b.berth(['run', '--', 'sh', '-c', 'exit 3']).status, 3, 'on the default network')
  t.equal(b.berth(['run', '--', 'true']).status, 0)
  const out = b.berth(['run', '-e', 'GREETING=hi there', '--', 'sh', '-c', 'echo "$GREETING/$HOSTNAME"; echo err >&2'])
  t.equal(out.stdout, `hi there/${out.stdout.split('/')[1]?.trim()}\n`, 'stdout passes through, -e is set')
  t.equal(out.stderr, 'err\n', 'stderr passes through')
  t.same(b.leftovers(), [], 'every foreground container was removed')
})

t.test('INT is forwarded to a command that handles it; everything is removed', { skip }, async (t) => {
  const b = await createBerthHost(t)
  // the command says when its handler is installed (the container's filesystem is the host's here)
  const ready = join(b.root, 'trap-ready')
  const c = b.spawnBerth(['run', '--name', 'trap', '--', 'sh', '-c', 'trap "exit 42" INT; touch "$1"; while :; do sleep 0.1; done', 'sh', ready])
  const done = exited(c)
  const insp = await running(b, 'trap')
  await fileExists(ready)
  c.kill('SIGINT')
  t.same(await done, { code: 42, signal: null }, "the command's own exit code")
  t.same(b.leftovers({ ips: containerIPs(insp), ids: [insp.id] }), [])
})

t.test('Ctrl-C twice ends a command that ignores INT (137) and removes everything', { skip }, async (t) => {
  const b = await createBerthHost(t)
  const c = b.spawnBerth(['run', '--name', 'stubborn', '--', 'sleep', '1000'])
  const done = exited(c)
  const insp = await running(b, 'stubborn')
  c.kill('SIGINT')
  await new Promise((r) => setTimeout(r, 300))
  t.equal(c.exitCode, null, 'sleep as PID 1 ignores the first INT (as in Docker)')
  c.kill('SIGINT')
  t.same(await done, { code: 137, signal: null }, 'the second one kills it')
  t.same(b.leftovers({ ips: containerIPs(insp), ids: [insp.id] }), [])
})

t.test('TERM to berth is forwarded; stop from another shell ends a foreground run too', { skip }, async (t) => {
  const b = await createBerthHost(t)
  const ready = join(b.root, 'term-ready')
  const term = b.spawnBerth(['run', '--name', 'term', '--net', 'none', '--', 'sh', '-c', 'trap "exit 43" TERM; touch "$1"; while :; do sleep 0.1; done', 'sh', ready])
  const termDone = exited(term)
  await running(b, 'term')
  await fileExists(ready)
  term.kill('SIGTERM')
  t.same(await termDone, { code: 43, signal: null }, 'TERM reached the command')

  const c = b.spawnBerth(['run', '--name', 'fg', '--net', 'none', '--', 'sleep', '1000'])
  const done = exited(c)
  await running(b, 'fg')
  const stop = b.berth(['stop', '-t', '1', 'fg'])
  t.equal(stop.status, 0, stop.stderr)
  t.same(await done, { code: 137, signal: null }, 'KILL after the grace period')
  t.equal(b.berth(['ps', '-a', '--json']).stdout.trim(), '[]', 'a foreground container is gone once it ends')
  t.same(b.leftovers(), [])
})

// A chained plugin that takes its time on ADD (and says when it started), to interrupt a setup midway.
const SLOW_PLUGIN = `#!/usr/bin/env node
const fs = require('fs')
const conf = JSON.parse(fs.readFileSync(0, 'utf8'))
if (process.env.CNI_COMMAND === 'ADD') {
  fs.writeFileSync(conf.marker, 'started')
  setTimeout(() => process.stdout.write(JSON.stringify(conf.prevResult)), 1500)
} else if (process.env.CNI_COMMAND === 'VERSION') {
  process.stdout.write(JSON.stringify({ cniVersion: '1.0.0', supportedVersions: ['1.0.0'] }))
}
`

t.test('Ctrl-C during setup (a plugin still running ADD) rolls everything back', { skip }, async (t) => {
  const b = await createBerthHost(t)
  const plugins = join(b.root, 'plugins')
  mkdirSync(plugins)
  writeFileSync(join(plugins, 'slow'), SLOW_PLUGIN)
  chmodSync(join(plugins, 'slow'), 0o755)
  const marker = join(b.root, 'slow-started')
  const confDir = join(b.root, 'etc/cni/net.d')
  mkdirSync(confDir, { recursive: true })
  writeFileSync(
    join(confDir, 'slownet.conflist'),
    JSON.stringify({
      cniVersion: '1.0.0',
      name: 'slownet',
      plugins: [
        { type: 'bridge', bridge: 'slow0', isGateway: true, ipam: { type: 'host-local', ranges: [[{ subnet: '10.123.11.0/24' }]], dataDir: b.dataDir } },
        { type: 'slow', marker },
      ],
    }),
  )
  const c = b.spawnBerth(['run', '--name', 'cut', '--net', 'slownet', '--', 'sleep', '1000'], { env: { CNI_PATH: `${plugins}:${BIN_DIR}` } })
  let stderr = ''
  c.stderr?.on('data', (d: Buffer) => (stderr += d.toString()))
  const done = exited(c)
  for (let i = 0; i < 300 && !existsSync(marker); i++) await new Promise((r) => setTimeout(r, 50))
  t.ok(existsSync(marker), 'the slow plugin is running ADD: bridge, veth and address exist by now')
  c.kill('SIGINT')
  t.same(await done, { code: 130, signal: null }, '128 + SIGINT')
  t.match(stderr, /berth: interrupted by SIGINT; everything set up so far was removed/)
  t.same(b.leftovers({ ips: ['10.123.11.2'] }), [], 'nothing left: netns, veth, reservation, cache, state')
  t.equal(b.berth(['ps', '-a', '--json']).stdout.trim(), '[]')
})
