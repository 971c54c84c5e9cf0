// The portmap integration tests' rig: bin/portmap against the kernel, chained after berth's bridge
// (ipMasq) + the reference host-local, with real TCP and UDP payloads. Everything runs inside throw-away
// namespaces: a fake host (where the plugins run, through nsenter), an "outside" namespace joined to it by
// a veth (10.99.0.0/24, fd99::/64), and containers. Servers are small node programs started inside the
// containers; they answer with their tag, the port and the peer address they saw, so a test sees both
// where a packet went and whether it was masqueraded. The host's portmap records
// (/run/berth/portmap/<dev>-<ino>) are removed with it.
import type { Test } from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { runPlugin, type PluginRun } from './run-plugin.js'
import { needsBuiltBin, needsRoot } from './privileges.js'
import { netnsFileKey } from '../../pkg/ns/netns.js'
import { createTestNetns, type TestNetns } from './netns.js'
import { uniqueName } from './names.js'
import { BIN_DIR } from './paths.js'

export const REF = '/usr/lib/cni'
export const skip =
  needsRoot() ||
  needsBuiltBin('portmap', BIN_DIR) ||
  needsBuiltBin('bridge', BIN_DIR) ||
  (existsSync(join(REF, 'host-local')) ? false : `${REF}/host-local not installed (scripts/setup installs it)`)
export const NET = 'pmtest'
export const V = '1.0.0'

// Listens on TCP and UDP (dual stack) on each port given; answers "<tag> <proto> <port> from <peer>".
const SERVER = `
const net = require('net'), dgram = require('dgram')
const tag = process.argv[1]
const peer = (a) => a.replace(/^::ffff:/, '')
let pending = 0
for (const p of process.argv.slice(2).map(Number)) {
  pending += 2
  const done = () => { if (--pending === 0) console.log('ready') }
  net.createServer((s) => s.end(tag + ' tcp ' + p + ' from ' + peer(s.remoteAddress) + '\\n')).listen(p, '::', done)
  const u = dgram.createSocket({ type: 'udp6' })
  u.on('message', (m, r) => u.send(tag + ' udp ' + p + ' from ' + peer(r.address) + '\\n', r.port, r.address))
  u.bind(p, '::', done)
}
`
// Sends to host:port over proto and prints the answer, or "ERR <why>".
const CLIENT = `
const [h, p, proto] = process.argv.slice(1)
const net = require('net'), dgram = require('dgram')
const fail = (m) => { console.log('ERR ' + m); process.exit(0) }
setTimeout(() => fail('timeout'), 1500)
if (proto === 'tcp') {
  const s = net.connect(Number(p), h); let d = ''
  s.on('data', (c) => (d += c)); s.on('end', () => { process.stdout.write(d); process.exit(0) }); s.on('error', (e) => fail(e.code))
} else {
  const u = dgram.createSocket(h.includes(':') ? 'udp6' : 'udp4')
  u.on('message', (m) => { process.stdout.write(m.toString()); process.exit(0) }); u.on('error', (e) => fail(e.code))
  u.send('x', Number(p), h)
}
`

export function talk(ns: TestNetns, host: string, port: number, proto: 'tcp' | 'udp' = 'tcp'): string {
  const r = spawnSync('nsenter', [`--net=${ns.path}`, '--', process.execPath, '-e', CLIENT, host, String(port), proto], { encoding: 'utf8', timeout: 10_000 })
  return (r.stdout ?? '').trim() || `ERR exit ${String(r.status)} ${r.stderr}`
}

export async function serve(t: Test, ns: TestNetns, tag: string, ports: number[]): Promise<void> {
  const child = spawn('nsenter', [`--net=${ns.path}`, '--', process.execPath, '-e', SERVER, tag, ...ports.map(String)], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => {
    child.kill('SIGKILL')
  })
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server ${tag} did not start`)), 5000)
    child.stdout.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) {
        clearTimeout(timer)
        resolve()
      }
    })
    child.on('exit', (code) => reject(new Error(`server ${tag} exited ${String(code)}`)))
  })
}

export interface Rig {
  host: TestNetns
  ext: TestNetns
  /** ADD bridge + portmap for a new container; returns it and bridge's result */
  container(id: string, mappings: unknown[], extra?: Record<string, unknown>): Promise<{ ns: TestNetns; prev: Record<string, unknown>; add: PluginRun }>
  pm(command: string, id: string, ns: TestNetns | string, conf: Record<string, unknown>): PluginRun
  pmConf(mappings: unknown[], prev?: Record<string, unknown>, extra?: Record<string, unknown>): Record<string, unknown>
  /** elements of the portmap table: map name → comments/keys as JSON text */
  elements(): { map: string; text: string }[]
  /** the host namespace's portmap records directory */
  records: string
}

export async function rig(t: Test): Promise<Rig> {
  const host = await createTestNetns(t)
  const ext = await createTestNetns(t)
  const records = `/run/berth/portmap/${netnsFileKey(host.path)}`
  t.teardown(() => rmSync(records, { recursive: true, force: true }))
  host.exec('ip', ['link', 'set', 'lo', 'up'])
  ext.exec('ip', ['link', 'set', 'lo', 'up'])
  const up = uniqueName('up')
  host.exec('ip', ['link', 'add', up, 'type', 'veth', 'peer', 'name', 'ext0', 'netns', ext.name])
  host.exec('ip', ['addr', 'add', '10.99.0.1/24', 'dev', up])
  host.exec('ip', ['addr', 'add', 'fd99::1/64', 'dev', up, 'nodad'])
  host.exec('ip', ['link', 'set', up, 'up'])
  ext.exec('ip', ['addr', 'add', '10.99.0.2/24', 'dev', 'ext0'])
  ext.exec('ip', ['addr', 'add', 'fd99::2/64', 'dev', 'ext0', 'nodad'])
  ext.exec('ip', ['link', 'set', 'ext0', 'up'])
  // Only used by the "not local" test: the outside can route to the containers through the host.
  ext.exec('ip', ['route', 'add', '10.77.0.0/24', 'via', '10.99.0.1'])
  const dataDir = t.testdir()
  const bridge = uniqueName('br')
  const brConf = {
    cniVersion: V,
    name: NET,
    type: 'bridge',
    bridge,
    isDefaultGateway: true,
    ipMasq: true,
    // As podman's default network: with br_netfilter, a container reaching itself through a host port
    // is sent back out of the bridge port it came from.
    hairpinMode: true,
    ipam: { type: 'host-local', dataDir, ranges: [[{ subnet: '10.77.0.0/24' }], [{ subnet: 'fd77::/64' }]] },
  }
  const r: Rig = {
    host,
    ext,
    records,
    pmConf: (mappings, prev, extra = {}) => ({
      cniVersion: V,
      name: NET,
      type: 'portmap',
      runtimeConfig: { portMappings: mappings },
      ...(prev === undefined ? {} : { prevResult: prev }),
      ...extra,
    }),
    pm: (command, id, ns, conf) =>
      runPlugin('portmap', { command, netns: typeof ns === 'string' ? ns : ns.path, ifName: 'eth0', containerId: id, stdin: conf, hostNetns: host.path }),
    async container(id, mappings, extra = {}) {
      const ns = await createTestNetns(t)
      ns.exec('ip', ['link', 'set', 'lo', 'up'])
      const b = runPlugin('bridge', { command: 'ADD', netns: ns.path, ifName: 'eth0', containerId: id, path: REF, stdin: brConf, hostNetns: host.path })
      if (b.status !== 0) throw new Error(`bridge ADD ${id}: ${b.stdout}${b.stderr}`)
      const prev = b.json as Record<string, unknown>
      const add = r.pm('ADD', id, ns, r.pmConf(mappings, prev, extra))
      return { ns, prev, add }
    },
    elements() {
      const out = spawnSync('nsenter', [`--net=${host.path}`, '--', 'nft', '-j', 'list', 'table', 'inet', 'berth_portmap'], { encoding: 'utf8' })
      if (out.status !== 0) return []
      const list = (JSON.parse(out.stdout) as { nftables: Record<string, { name?: string; elem?: unknown[] }>[] }).nftables
      return list.flatMap((o) => {
        const s = o['map'] ?? o['set']
        return s?.elem === undefined ? [] : s.elem.map((e) => ({ map: String(s.name), text: JSON.stringify(e) }))
      })
    },
  }
  return r
}

export const ok = (t: Test, r: PluginRun, what: string) => t.equal(r.status, 0, `${what}: ${r.stdout}${r.stderr}`)

export const noIptables = existsSync('/usr/sbin/iptables-restore') && existsSync('/usr/sbin/ip6tables-restore') ? false : 'iptables-restore / ip6tables-restore not installed'
export const noConntrack = existsSync('/usr/sbin/conntrack') ? false : 'conntrack tool not installed'
