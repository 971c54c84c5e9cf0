// The shim and the daemon together, as a runtime on a host sees them: a throw-away host namespace runs a
// daemon of its own, and the plugins called there through their shims are served by it (bridge ADD with
// host-local in-process, real traffic); callers in other network namespaces are served where they stand
// (namespace workers), and a caller in another mount namespace gets the plugin run on its own.
import t from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startDaemon } from '../../helpers/daemon.js'
import { netnsFileKey } from '../../../pkg/ns/netns.js'
import { createTestNetns, type TestNetns } from '../../helpers/netns.js'
import { uniqueName } from '../../helpers/names.js'
import { BIN_DIR } from '../../helpers/paths.js'
import { needsBuiltBin, needsRoot } from '../../helpers/privileges.js'

const skip = needsRoot() || needsBuiltBin('berth', BIN_DIR)
const PATH = process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin'

function shim(host: TestNetns, type: string, env: Record<string, string>, stdin: string) {
  return spawnSync('nsenter', [`--net=${host.path}`, '--', join(BIN_DIR, type)], { env: { PATH, CNI_PATH: BIN_DIR, CNI_IFNAME: 'eth0', ...env }, input: stdin, encoding: 'utf8', timeout: 60_000 })
}

/** The same, without blocking: calls that must run at once. */
function shimAsync(host: TestNetns, type: string, env: Record<string, string>, stdin: string): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn('nsenter', [`--net=${host.path}`, '--', join(BIN_DIR, type)], { env: { PATH, CNI_PATH: BIN_DIR, CNI_IFNAME: 'eth0', ...env }, timeout: 60_000 })
    let stdout = ''
    let stderr = ''
    p.stdout.on('data', (c: Buffer) => (stdout += c.toString()))
    p.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
    p.on('close', (status) => resolve({ status, stdout, stderr }))
    p.stdin.end(stdin)
  })
}

const status = (socket: string) => JSON.parse(spawnSync(join(BIN_DIR, 'berth'), ['daemon', 'status', '--json', '--socket', socket], { encoding: 'utf8' }).stdout) as {
  requests: { type: string; verb: string; count: number; codes: Record<string, number> }[]
  fallbacks: Record<string, number>
  workers: { running: number; busy: number; served: number }
}

t.test('bridge ADD, CHECK, DEL through the shim, served by the host\'s daemon', { skip }, async (t) => {
  const host = await createTestNetns(t)
  const ctr = await createTestNetns(t)
  const d = await startDaemon(t, { netns: host.path })
  const dataDir = mkdtempSync(join(tmpdir(), 'berth-test-shimd-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  const bridge = uniqueName('br')
  const conf = JSON.stringify({ cniVersion: '1.0.0', name: uniqueName('net'), type: 'bridge', bridge, isGateway: true, ipMasq: true, ipam: { type: 'host-local', subnet: '10.234.0.0/24', dataDir } })
  const env = { BERTH_SOCKET: d.socket, CNI_CONTAINERID: 'c-shimd', CNI_NETNS: ctr.path }
  const add = shim(host, 'bridge', { ...env, CNI_COMMAND: 'ADD' }, conf)
  t.equal(add.status, 0, `ADD: ${add.stdout}${add.stderr}`)
  const result = JSON.parse(add.stdout) as { ips: { address: string }[] }
  t.match(result.ips[0]?.address, /^10\.234\.0\.\d+\/24$/)
  t.match(ctr.exec('ip', ['-o', '-4', 'addr', 'show', 'eth0']), result.ips[0]?.address ?? '-', 'the container has the address')
  t.doesNotThrow(() => ctr.exec('ping', ['-c', '1', '-W', '2', '10.234.0.1']), 'the container reaches its gateway')
  t.equal(shim(host, 'bridge', { ...env, CNI_COMMAND: 'CHECK' }, JSON.stringify({ ...JSON.parse(conf), prevResult: result })).status, 0, 'CHECK')
  const del = shim(host, 'bridge', { ...env, CNI_COMMAND: 'DEL' }, conf)
  t.equal(del.status, 0, `DEL: ${del.stdout}${del.stderr}`)
  t.equal(shim(host, 'bridge', { ...env, CNI_COMMAND: 'DEL' }, conf).status, 0, 'DEL again')
  const st = status(d.socket)
  const served = (verb: string) => st.requests.find((r) => r.type === 'bridge' && r.verb === verb)?.codes['0']
  t.equal(served('ADD'), 1, 'the daemon served ADD')
  t.equal(served('CHECK'), 1, 'the daemon served CHECK')
  t.equal(served('DEL'), 2, 'the daemon served both DELs')
  t.notOk(st.requests.some((r) => r.type === 'host-local'), "host-local ran inside the bridge's call, not as a call of its own")
  t.same(st.fallbacks, {}, 'nothing was handed back')
  t.equal(host.exec('ip', ['-o', 'link', 'show', 'type', 'veth']).trim(), '', 'no veth left on the host')
  const left = readdirSync(dataDir, { recursive: true }).filter((f) => /\d+\.\d+\.\d+\.\d+$/.test(String(f)))
  t.same(left, [], 'no reservation left')
})

t.test('callers in other network namespaces are served where they stand, each by a worker thread', { skip }, async (t) => {
  const daemonHost = await createTestNetns(t)
  const hosts = [await createTestNetns(t), await createTestNetns(t)]
  const ctrs = [await createTestNetns(t), await createTestNetns(t)]
  const d = await startDaemon(t, { netns: daemonHost.path })
  const dataDir = mkdtempSync(join(tmpdir(), 'berth-test-shimw-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  const bridge = uniqueName('br')
  // Both hosts use the same bridge name, network and subnet: nothing may mix them up.
  const conf = JSON.stringify({ cniVersion: '1.0.0', name: uniqueName('net'), type: 'bridge', bridge, isGateway: true, ipMasq: true, ipam: { type: 'host-local', subnet: '10.235.0.0/24', dataDir } })
  const call = (i: number, command: string) =>
    shimAsync(hosts[i] as TestNetns, 'bridge', { BERTH_SOCKET: d.socket, CNI_CONTAINERID: `c-w${i}`, CNI_NETNS: (ctrs[i] as TestNetns).path, CNI_COMMAND: command }, conf)
  const adds = await Promise.all([call(0, 'ADD'), call(1, 'ADD')])
  for (const [i, add] of adds.entries()) {
    const host = hosts[i] as TestNetns
    const ctr = ctrs[i] as TestNetns
    t.equal(add.status, 0, `host ${i}: ADD: ${add.stdout}${add.stderr}`)
    const ip = (JSON.parse(add.stdout) as { ips: { address: string }[] }).ips[0]?.address ?? '-'
    t.match(host.exec('ip', ['-o', '-4', 'addr', 'show', bridge]), '10.235.0.1/24', `host ${i}: the bridge and its gateway address are on the caller's host`)
    t.match(ctr.exec('ip', ['-o', '-4', 'addr', 'show', 'eth0']), ip, `host ${i}: the container has ${ip}`)
    t.doesNotThrow(() => ctr.exec('ping', ['-c', '1', '-W', '2', '10.235.0.1']), `host ${i}: the container reaches its gateway`)
    t.match(host.exec('nft', ['list', 'table', 'inet', 'berth_bridge']), ip.split('/')[0] ?? '-', `host ${i}: the masquerade element is in the host's own ruleset`)
    t.ok(existsSync(join('/run/berth/bridge', netnsFileKey(host.path), 'att')), `host ${i}: the bridge's records are under the host's namespace key`)
  }
  t.throws(() => daemonHost.exec('ip', ['link', 'show', bridge]), "nothing on the daemon's own namespace")
  const dels = await Promise.all([call(0, 'DEL'), call(1, 'DEL')])
  for (const [i, del] of dels.entries()) {
    t.equal(del.status, 0, `host ${i}: DEL: ${del.stdout}${del.stderr}`)
    t.equal((hosts[i] as TestNetns).exec('ip', ['-o', 'link', 'show', 'type', 'veth']).trim(), '', `host ${i}: no veth left`)
  }
  const st = status(d.socket)
  t.same(st.fallbacks, {}, 'nothing was handed back')
  t.equal(st.workers.served, 4, 'worker threads ran all four calls')
  t.equal(st.requests.find((r) => r.type === 'bridge' && r.verb === 'ADD')?.codes['0'], 2, 'the daemon counted both ADDs')
  // Idle workers go home: no thread of the daemon keeps a host namespace (and its links) alive.
  const ids = hosts.map((h) => `net:[${statSync(h.path).ino}]`)
  let held: string[] = []
  for (let i = 0; i < 50; i++) {
    held = readdirSync(`/proc/${d.proc.pid}/task`).map((tid) => readlinkSync(`/proc/${d.proc.pid}/task/${tid}/ns/net`)).filter((n) => ids.includes(n))
    if (held.length === 0) break
    await new Promise((r) => setTimeout(r, 100))
  }
  t.same(held, [], "every thread is back in the daemon's namespace")
})

t.test('a caller in another mount namespace is handed back and runs the plugin where it stands', { skip }, async (t) => {
  const host = await createTestNetns(t)
  const ctr = await createTestNetns(t)
  const d = await startDaemon(t)
  const conf = JSON.stringify({ cniVersion: '1.0.0', name: 'lo', type: 'loopback' })
  ctr.exec('ip', ['link', 'set', 'lo', 'down'])
  const env = { PATH, CNI_PATH: BIN_DIR, BERTH_SOCKET: d.socket, CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c-other', CNI_NETNS: ctr.path, CNI_IFNAME: 'lo', BERTH_LOG_LEVEL: 'debug' }
  const add = spawnSync('unshare', ['--mount', '--propagation', 'private', '--', 'nsenter', `--net=${host.path}`, '--', join(BIN_DIR, 'loopback')], { env, input: conf, encoding: 'utf8', timeout: 60_000 })
  t.equal(add.status, 0, add.stdout + add.stderr)
  t.match(ctr.exec('ip', ['-o', 'link', 'show', 'lo']), /UP/)
  t.match(add.stderr, /another mount namespace/, 'the shim says why it ran on its own (debug)')
  t.match(status(d.socket).fallbacks, { 'caller in another mount namespace': 1 })
})

t.test('a shim of another build never talks to this daemon', { skip }, async (t) => {
  const d = await startDaemon(t)
  const ns = await createTestNetns(t)
  const dir = mkdtempSync(join(tmpdir(), 'berth-test-otherbuild-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  // The same shim with its build id changed byte for byte: a stand-in for an older install.
  const bytes = readFileSync(join(BIN_DIR, 'loopback'), 'latin1')
  const id = /berth-shim build=([0-9a-f]{16})/.exec(bytes)?.[1]
  t.ok(id, 'the shim carries its build id')
  if (id === undefined) return
  const other = bytes.split(id).join(id.replace(/./g, (c) => (c === '0' ? '1' : '0')))
  cpSync(join(BIN_DIR, 'lib'), join(dir, 'lib'), { recursive: true })
  writeFileSync(join(dir, 'loopback'), Buffer.from(other, 'latin1'), { mode: 0o755 })
  const r = spawnSync(join(dir, 'loopback'), {
    env: { PATH, BERTH_SOCKET: d.socket, BERTH_LOG_LEVEL: 'debug', CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c-ob', CNI_NETNS: ns.path, CNI_IFNAME: 'lo', CNI_PATH: dir },
    input: JSON.stringify({ cniVersion: '1.0.0', name: 'lo', type: 'loopback' }),
    encoding: 'utf8',
  })
  t.equal(r.status, 0, r.stdout + r.stderr)
  t.match(r.stderr, /build/, 'the shim fell back because of the build')
  t.same(status(d.socket).requests, [], 'the daemon served nothing')
})
