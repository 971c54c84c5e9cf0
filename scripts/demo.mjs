#!/usr/bin/env node
// berth's main job end to end, on embedded defaults, through the `berth` CLI only: a container with a
// published port on one "host", reached from a container on another host across the underlay. The hosts
// are a throw-away rig (network namespaces on a switch namespace), so the machine's own interfaces,
// routes and firewall are never touched; `berth rig down` removes everything, also on failure or Ctrl-C.
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { constants } from 'node:os'
import { existsSync, readdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const BERTH = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'berth')
const RIG = `demo-${randomBytes(3).toString('hex')}` // unique: parallel demos and tests never collide
const t0 = Date.now()
let current = null // the berth process running now, so a signal can reach it
let stopping = null // the signal that asked us to stop
let rigMade = false // rig up was started (down is needed) and not yet taken down

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    if (stopping === null) console.error(`\ndemo: ${sig}: stopping and cleaning up`)
    stopping ??= sig
    // A terminal's Ctrl-C already reached the child (same process group); kill(1) or a hang-up did not.
    if (current !== null && current.exitCode === null) current.kill('SIGTERM')
  })
}

const shown = (args) => ['berth', ...args].map((a) => (/^[\w./:=,@%+-]+$/.test(a) ? a : `'${a}'`)).join(' ')

// Runs bin/berth with an argv array (no shell), echoing the command and its output as they come.
// `cleanup` runs in its own process group, so a second Ctrl-C cannot cut the teardown short.
function berth(args, { input = '', quiet = false, cleanup = false } = {}) {
  console.log(`$ ${shown(args)}${quiet ? '   # output parsed, not shown' : ''}`)
  return new Promise((resolve, reject) => {
    const p = spawn(BERTH, args, { stdio: ['pipe', 'pipe', 'pipe'], detached: cleanup })
    current = p
    let out = ''
    let err = ''
    p.stdout.on('data', (d) => { out += d; if (!quiet) process.stdout.write(d) })
    p.stderr.on('data', (d) => { err += d; process.stderr.write(d) })
    p.stdin.on('error', () => {}) // a command that exits without reading its stdin is not a failure
    p.stdin.end(input)
    p.on('error', reject)
    p.on('close', (code, signal) => {
      current = null
      if (stopping !== null && !cleanup) reject(new Error(`interrupted by ${stopping}`))
      else if (code !== 0) reject(new Error(`\`${shown(args)}\` failed (${signal ?? `exit ${code}`}): ${err.trim().split('\n').at(-1) ?? ''}`))
      else resolve(out)
    })
  })
}

const inHost = (host, ...args) => ['rig', 'exec', RIG, host, '--', ...args]
const step = (title) => console.log(`\n## ${title}`)
const check = (ok, what) => {
  if (!ok) throw new Error(what)
  console.log(`ok: ${what}`)
}

// Sends a random payload through socat from `args` (a client) and checks the echo server sent it back.
async function echo(args, what) {
  const payload = `hello-${randomBytes(6).toString('hex')}`
  console.log(`(stdin: ${payload})`)
  const back = await berth(args, { input: `${payload}\n` })
  check(back.trim() === payload, `${what}: the payload came back`)
}

async function demo() {
  if (process.getuid?.() !== 0) throw new Error('the demo makes network namespaces: run it as root')
  if (!existsSync(BERTH)) throw new Error('bin/berth is missing: run ./scripts/setup (or npm run build)')

  step('Two throw-away "hosts" on an underlay switch (namespaces; the default underlay is the first free /24 of 10.200.0.0/16)')
  rigMade = true
  await berth(['rig', 'up', '--name', RIG, '--hosts', '2'])
  await berth(['rig', 'inspect', RIG])
  const rig = JSON.parse(await berth(['rig', 'inspect', RIG, '--json'], { quiet: true }))
  const [h1, h2] = rig.hosts

  step('host2: a TCP echo server in a container, host port 18080 published to its port 80, default network `berth`')
  const server = ['socat', 'TCP-LISTEN:80,fork,reuseaddr', 'EXEC:/bin/cat']
  await berth(inHost('host2', 'berth', 'run', '-d', '--name', 'web', '-p', '18080:80', '--', ...server))
  await berth(inHost('host2', 'berth', 'ps'))
  await berth(inHost('host2', 'berth', 'inspect', 'web'))

  step("host2 itself reaches the container through its published port (socat's retry: the server may still be starting)")
  await echo(inHost('host2', 'socat', '-T', '10', '-', `TCP:${h2.ip}:18080,retry=20,interval=0.2`), 'host2 -> its own published port')

  step(`A container on host1 (${h1.ip}) reaches it across the underlay, through host2's address ${h2.ip} and port 18080`)
  await echo(inHost('host1', 'berth', 'run', '--', 'socat', '-T', '10', '-', `TCP:${h2.ip}:18080`), `container on host1 -> ${h2.ip}:18080`)

  step('Two containers on host1 reach each other on the bridge')
  await berth(inHost('host1', 'berth', 'run', '-d', '--name', 'peer', '--', 'socat', 'TCP-LISTEN:7,fork,reuseaddr', 'EXEC:/bin/cat'))
  const peer = JSON.parse(await berth(inHost('host1', 'berth', 'inspect', 'peer'), { quiet: true }))
  const peerIp = peer.networks[0].result.ips[0].address.split('/')[0]
  console.log(`(peer's address: ${peerIp})`)
  await echo(inHost('host1', 'berth', 'run', '--', 'socat', '-T', '10', '-', `TCP:${peerIp}:7,retry=20,interval=0.2`), 'container -> container on host1')
  await berth(inHost('host1', 'berth', 'rm', '-f', 'peer'))

  step('Remove the server: nothing of it stays on host2')
  await berth(inHost('host2', 'berth', 'rm', '-f', 'web'))
  const veths = (await berth(inHost('host2', 'ip', '-br', 'link', 'show', 'type', 'veth')))
    .split('\n').map((l) => l.split(/[\s@]/)[0]).filter((n) => n && n !== h2.interface)
  check(veths.length === 0, `no container veth on host2 (only its underlay link ${h2.interface})`)
  // The whole table, not one map: which map holds a mapping is portmap's business (plugins/portmap/nft.ts).
  const ports = await berth(inHost('host2', 'nft', 'list', 'table', 'inet', 'berth_portmap'))
  check(!ports.includes('18080'), 'port 18080 is no longer in any published-port map')
  const dirs = ['run/netns', 'run/berth/containers', 'var/lib/cni/networks/berth', 'var/lib/cni/results']
  await berth(inHost('host2', 'ls', '-A', ...dirs.map((d) => join(h2.root, d))))
  const files = (dir) => (existsSync(join(h2.root, dir)) ? readdirSync(join(h2.root, dir)) : [])
  check(files('run/netns').length === 0, `no container netns under ${h2.root}/run/netns`)
  check(!files('var/lib/cni/networks/berth').some((f) => /^[\d.]+$|:/.test(f)), 'no host-local reservation (a file named by an address) left')
  check(files('var/lib/cni/results').length === 0, 'no libcni cache entry left')
  check(files('run/berth/containers').length === 0, 'no container state left')
  console.log('(the `berth` network itself stays configured on host2, as after a first `berth run`)')
}

// Takes the rig down (if it was made) and checks that nothing of it remains on the machine.
async function teardown(inDemo) {
  if (!rigMade) return
  if (inDemo) step('Take the rig down: hosts, switch, containers, state')
  else console.error(`demo: cleaning up rig ${RIG}`)
  await berth(['rig', 'down', RIG], { cleanup: true })
  rigMade = false
  const left = existsSync('/run/netns') ? readdirSync('/run/netns').filter((n) => n.startsWith(`${RIG}.`)) : []
  check(left.length === 0 && !existsSync(join('/run/berth/rigs', RIG)), `no ${RIG}.* namespace in \`ip netns\`, no /run/berth/rigs/${RIG}`)
}

let failure = null
try {
  await demo()
  await teardown(true)
} catch (e) {
  failure = e
} finally {
  try {
    await teardown(false)
  } catch (e) {
    failure ??= e
  }
}
if (failure !== null) {
  console.error(`demo: FAILED: ${failure.message}`)
  process.exit(stopping === null ? 1 : 128 + constants.signals[stopping])
}
console.log(`\ndemo: ok in ${((Date.now() - t0) / 1000).toFixed(1)} s`)
