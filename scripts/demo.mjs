#!/usr/bin/env node
// The end-to-end demo on embedded defaults: create a network namespace, run berth's plugins on it
// exactly as a container runtime would (ADD, CHECK, DEL through bin/), show the kernel state, clean up.
import { execFileSync, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const bin = join(root, 'bin')
const ns = `berth-demo-${randomBytes(3).toString('hex')}`
const netns = `/run/netns/${ns}`
const conf = JSON.stringify({ cniVersion: '1.1.0', name: 'demo', type: 'loopback' })

function plugin(type, command) {
  const env = { PATH: process.env.PATH, CNI_COMMAND: command, CNI_CONTAINERID: ns, CNI_NETNS: netns, CNI_IFNAME: 'lo', CNI_PATH: bin }
  const r = spawnSync(join(bin, type), [], { env, input: conf, encoding: 'utf8' })
  console.log(`$ CNI_COMMAND=${command} bin/${type}  -> exit ${r.status}`)
  if (r.stdout) console.log(JSON.stringify(JSON.parse(r.stdout), null, 2))
  if (r.status !== 0) throw new Error(`${type} ${command} failed: ${r.stdout}${r.stderr}`)
}

function inNs(...cmd) {
  console.log(`$ ip netns exec ${ns} ${cmd.join(' ')}`)
  console.log(execFileSync('ip', ['netns', 'exec', ns, ...cmd], { encoding: 'utf8' }).trimEnd())
}

execFileSync('ip', ['netns', 'add', ns])
try {
  plugin('loopback', 'VERSION')
  plugin('loopback', 'ADD')
  inNs('ip', '-brief', 'addr', 'show', 'lo')
  inNs('ping', '-c', '1', '-W', '1', '127.0.0.1')
  plugin('loopback', 'CHECK')
  plugin('loopback', 'DEL')
  inNs('ip', '-brief', 'link', 'show', 'lo')
} finally {
  execFileSync('ip', ['netns', 'del', ns])
}
console.log('demo: ok (namespace removed)')
