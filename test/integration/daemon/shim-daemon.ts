// The shim and the daemon together, as a runtime on a host sees them: a throw-away host namespace runs a
// daemon of its own, and the plugins called there through their shims are served by it (bridge ADD with
// host-local in-process, real traffic), while a caller elsewhere gets the same plugin run on its own.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startDaemon } from '../../helpers/daemon.js'
import { createTestNetns, type TestNetns } from '../../helpers/netns.js'
import { uniqueName } from '../../helpers/names.js'
import { BIN_DIR } from '../../helpers/paths.js'
import { needsBuiltBin, needsRoot } from '../../helpers/privileges.js'

const skip = needsRoot() || needsBuiltBin('berth', BIN_DIR)
const PATH = process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin'

function shim(host: TestNetns, type: string, env: Record<string, string>, stdin: string) {
  return spawnSync('nsenter', [`--net=${host.path}`, '--', join(BIN_DIR, type)], { env: { PATH, CNI_PATH: BIN_DIR, CNI_IFNAME: 'eth0', ...env }, input: stdin, encoding: 'utf8', timeout: 60_000 })
}

const status = (socket: string) => JSON.parse(spawnSync(join(BIN_DIR, 'berth'), ['daemon', 'status', '--json', '--socket', socket], { encoding: 'utf8' }).stdout) as {
  requests: { type: string; verb: string; count: number; codes: Record<string, number> }[]
  fallbacks: Record<string, number>
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

t.test('a caller in another namespace is handed back and runs the plugin where it stands', { skip }, async (t) => {
  const daemonHost = await createTestNetns(t)
  const host = await createTestNetns(t)
  const ctr = await createTestNetns(t)
  const d = await startDaemon(t, { netns: daemonHost.path })
  const conf = JSON.stringify({ cniVersion: '1.0.0', name: 'lo', type: 'loopback' })
  ctr.exec('ip', ['link', 'set', 'lo', 'down'])
  const add = shim(host, 'loopback', { BERTH_SOCKET: d.socket, CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c-other', CNI_NETNS: ctr.path, CNI_IFNAME: 'lo', BERTH_LOG_LEVEL: 'debug' }, conf)
  t.equal(add.status, 0, add.stdout + add.stderr)
  t.match(ctr.exec('ip', ['-o', 'link', 'show', 'lo']), /UP/)
  t.match(add.stderr, /another network namespace/, 'the shim says why it ran on its own (debug)')
  t.match(status(d.socket).fallbacks, { 'caller in another network namespace': 1 })
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
