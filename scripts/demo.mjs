#!/usr/bin/env node
// The end-to-end demo on embedded defaults: berth's plugins driven exactly as a container runtime drives
// them (ADD, CHECK, DEL through bin/, config on stdin, CNI_* environment), on a throw-away "host" network
// namespace so the machine's own interfaces, routes and firewall are never touched:
//   - two "containers" (network namespaces) joined to a bridge by the bridge plugin with host-local IPAM,
//     loopback up, NAT (ipMasq) to an "outside" network that has no route back;
//   - they ping each other, their gateway and the outside host; then DEL leaves nothing behind.
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readlinkSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const bin = join(root, 'bin')
for (const t of ['bridge', 'host-local', 'loopback']) {
  if (!existsSync(join(bin, t))) throw new Error(`bin/${t} is missing: run npm run build`)
}
const dataDir = mkdtempSync(join(tmpdir(), 'berth-demo-'))
const holders = []

// A namespace held by a sleep process: killing it removes the namespace and everything in it.
async function netns(name) {
  const p = spawn('unshare', ['--net', '--kill-child', 'sleep', '3600'], { stdio: 'ignore' })
  holders.push(p)
  const path = `/proc/${p.pid}/ns/net`
  const self = readlinkSync('/proc/self/ns/net')
  for (let i = 0; i < 500 && (!existsSync(path) || readlinkSync(path) === self); i++) await new Promise((r) => setTimeout(r, 10))
  return { name, path }
}

const inNs = (ns, cmd, args, quiet = false) => {
  if (!quiet) console.log(`[${ns.name}] $ ${cmd} ${args.join(' ')}`)
  const out = execFileSync('nsenter', [`--net=${ns.path}`, '--', cmd, ...args], { encoding: 'utf8' })
  if (!quiet) console.log(out.trimEnd())
  return out
}

const network = {
  cniVersion: '1.1.0',
  name: 'demo',
  plugins: [
    {
      type: 'bridge',
      bridge: 'berth0',
      isGateway: true,
      ipMasq: true,
      ipam: { type: 'host-local', ranges: [[{ subnet: '10.88.7.0/24' }]], routes: [{ dst: '0.0.0.0/0' }], dataDir },
    },
  ],
}

// Like libcni: each plugin of the list in order for ADD with the previous result, in reverse for DEL.
function plugin(host, conf, command, container, prevResult) {
  const stdin = JSON.stringify({ cniVersion: network.cniVersion, name: network.name, ...conf, ...(prevResult ? { prevResult } : {}) })
  const env = { PATH: process.env.PATH, CNI_COMMAND: command, CNI_CONTAINERID: container.name, CNI_NETNS: container.path, CNI_IFNAME: conf.type === 'loopback' ? 'lo' : 'eth0', CNI_PATH: bin }
  const r = spawnSync('nsenter', [`--net=${host.path}`, '--', join(bin, conf.type)], { env, input: stdin, encoding: 'utf8' })
  console.log(`$ CNI_COMMAND=${command} CNI_CONTAINERID=${container.name} bin/${conf.type}  -> exit ${r.status}`)
  if (r.status !== 0) throw new Error(`${conf.type} ${command} failed: ${r.stdout}${r.stderr}`)
  return r.stdout.trim() === '' ? undefined : JSON.parse(r.stdout)
}

function attach(host, c) {
  plugin(host, { type: 'loopback' }, 'ADD', c)
  const result = plugin(host, network.plugins[0], 'ADD', c)
  console.log(JSON.stringify(result, null, 2))
  return result
}

try {
  const host = await netns('host')
  const outside = await netns('outside')
  const c1 = await netns('c1')
  const c2 = await netns('c2')
  // The "outside" network: a veth between host and outside, with no route back to the containers.
  execFileSync('ip', ['link', 'add', 'up0', 'netns', host.path, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', outside.path])
  inNs(host, 'ip', ['addr', 'add', '192.0.2.1/24', 'dev', 'up0'], true)
  inNs(host, 'ip', ['link', 'set', 'up0', 'up'], true)
  inNs(outside, 'ip', ['addr', 'add', '192.0.2.2/24', 'dev', 'eth0'], true)
  inNs(outside, 'ip', ['link', 'set', 'eth0', 'up'], true)

  const r1 = attach(host, c1)
  const r2 = attach(host, c2)
  const ip2 = r2.ips[0].address.split('/')[0]
  const gw = r1.ips[0].gateway
  inNs(c1, 'ping', ['-c', '1', '-W', '2', ip2])
  inNs(c1, 'ping', ['-c', '1', '-W', '2', gw])
  inNs(c1, 'ping', ['-c', '1', '-W', '2', '192.0.2.2'])
  plugin(host, network.plugins[0], 'CHECK', c1, r1)
  for (const [c, r] of [[c1, r1], [c2, r2]]) {
    plugin(host, network.plugins[0], 'DEL', c, r)
    plugin(host, { type: 'loopback' }, 'DEL', c)
  }
  const left = JSON.parse(inNs(host, 'ip', ['-j', 'link', 'show', 'type', 'veth'], true)).map((l) => l.ifname).filter((n) => n !== 'up0')
  console.log(`host veths left after DEL: ${left.length === 0 ? 'none' : left.join(', ')}`)
  if (left.length > 0) throw new Error('DEL left veths behind')
  console.log('demo: ok')
} finally {
  for (const p of holders) p.kill('SIGKILL')
  rmSync(dataDir, { recursive: true, force: true })
}
