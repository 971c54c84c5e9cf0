// bin/tuning chained after berth's bridge + host-local, against the kernel. Every test makes a
// throw-away "host" namespace and runs the plugins inside it (nsenter); containers are throw-away
// namespaces too. Values are read back with `ip -j` and /proc/sys inside the container.
import t, { type Test } from 'tap'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { runPlugin, type PluginRun } from '../../helpers/run-plugin.js'
import { needsBuiltBin, needsRoot } from '../../helpers/privileges.js'
import { createTestNetns, type TestNetns } from '../../helpers/netns.js'
import { uniqueName } from '../../helpers/names.js'
import { BIN_DIR } from '../../helpers/paths.js'

const skip = needsRoot() || needsBuiltBin('tuning', BIN_DIR) || needsBuiltBin('bridge', BIN_DIR) || needsBuiltBin('host-local', BIN_DIR)
const NET = 'tunetest'
const ok = (t: Test, r: PluginRun, what: string) => t.equal(r.status, 0, `${what}: ${r.stdout}${r.stderr}`)

interface Rig {
  host: TestNetns
  dataDir: string
  bridgeConf: Record<string, unknown>
  /** bridge ADD for the container; returns the result */
  attach(c: TestNetns, id: string): Record<string, unknown>
  tuning(command: string, c: TestNetns | string, conf: Record<string, unknown>, o?: { id?: string; args?: string }): PluginRun
}

async function rig(t: Test): Promise<Rig> {
  const host = await createTestNetns(t)
  host.exec('ip', ['link', 'set', 'lo', 'up'])
  const dir = t.testdir()
  const bridgeConf = {
    cniVersion: '1.1.0',
    name: NET,
    type: 'bridge',
    bridge: uniqueName('tu'),
    isGateway: true,
    ipam: { type: 'host-local', ranges: [[{ subnet: '10.91.0.0/24' }]], dataDir: join(dir, 'ipam') },
  }
  return {
    host,
    dataDir: join(dir, 'tuning'),
    bridgeConf,
    attach(c, id) {
      const r = runPlugin('bridge', { command: 'ADD', netns: c.path, containerId: id, stdin: bridgeConf, hostNetns: host.path })
      if (r.status !== 0 || r.json === undefined) throw new Error(`bridge ADD failed: ${r.stdout}${r.stderr}`)
      return r.json
    },
    tuning: (command, c, conf, o = {}) =>
      runPlugin('tuning', {
        command,
        netns: typeof c === 'string' ? c : c.path,
        containerId: o.id ?? 'c1',
        stdin: { cniVersion: '1.1.0', name: NET, type: 'tuning', dataDir: join(dir, 'tuning'), ...conf },
        hostNetns: host.path,
        ...(o.args === undefined ? {} : { args: o.args }),
      }),
  }
}

interface IpLink { address: string; mtu: number; flags: string[]; txqlen: number; promiscuity: number; allmulti?: number }
const eth0 = (c: TestNetns) => (c.ipJson(['-d', 'link', 'show', 'eth0']) as IpLink[])[0]!
const sysctl = (c: TestNetns, key: string) => c.exec('cat', [`/proc/sys/${key.replaceAll('.', '/')}`]).trim()

const SYSCTLS = { 'net.ipv4.conf.eth0.arp_notify': '1', 'net.core.somaxconn': '500', 'net.ipv4.conf.eth0.accept_local': '1' }
const TUNED = { mac: 'c2:b0:57:49:47:f1', mtu: 1400, promisc: true, allmulti: true, txQLen: 321, sysctl: SYSCTLS }

t.test('ADD sets every value, CHECK verifies them, DEL restores the originals', { skip }, async (t) => {
  const rg = await rig(t)
  const c1 = await createTestNetns(t)
  const prev = rg.attach(c1, 'c1')
  const before = eth0(c1)
  const sysBefore = Object.fromEntries(Object.keys(SYSCTLS).map((k) => [k, sysctl(c1, k)]))
  t.not(before.address, TUNED.mac)
  t.not(before.mtu, TUNED.mtu)
  t.notOk(before.flags.includes('PROMISC'))
  t.notOk(before.flags.includes('ALLMULTI'))
  t.not(before.txqlen, TUNED.txQLen)
  t.not(sysBefore['net.core.somaxconn'], '500')

  const add = rg.tuning('ADD', c1, { ...TUNED, prevResult: prev })
  ok(t, add, 'ADD')
  const after = eth0(c1)
  t.equal(after.address, TUNED.mac, 'mac set')
  t.equal(after.mtu, 1400, 'mtu set')
  t.ok(after.flags.includes('PROMISC'), 'promisc on')
  t.ok(after.flags.includes('ALLMULTI'), 'allmulti on')
  t.equal(after.txqlen, 321, 'txqlen set')
  for (const [k, v] of Object.entries(SYSCTLS)) t.equal(sysctl(c1, k), v, `${k} set`)
  // prevResult passes through, with the container interface's new MAC.
  const res = add.json as { cniVersion: string; interfaces: { name: string; mac: string; sandbox?: string }[]; ips: unknown[] }
  t.equal(res.cniVersion, '1.1.0')
  t.same(res.ips, (prev as { ips: unknown[] }).ips, 'ips passed through')
  t.equal(res.interfaces.find((i) => i.sandbox !== undefined)?.mac, TUNED.mac, 'result carries the new MAC')
  t.equal(res.interfaces[0]?.mac, (prev as { interfaces: { mac: string }[] }).interfaces[0]?.mac, 'bridge MAC unchanged')
  // The state file holds the originals.
  const state = JSON.parse(readFileSync(join(rg.dataDir, 'c1_eth0.json'), 'utf8')) as Record<string, unknown>
  t.match(state, { mac: before.address, mtu: before.mtu, promisc: false, allmulti: false, txQLen: before.txqlen, sysctl: sysBefore })

  ok(t, rg.tuning('CHECK', c1, { ...TUNED, prevResult: add.json }), 'CHECK')
  c1.exec('ip', ['link', 'set', 'eth0', 'mtu', '1450'])
  t.match(rg.tuning('CHECK', c1, { ...TUNED, prevResult: add.json }).json, { code: 103, msg: /mtu of eth0 is 1450, configured 1400/ })
  c1.exec('ip', ['link', 'set', 'eth0', 'mtu', '1400'])
  c1.exec('sh', ['-c', 'echo 0 > /proc/sys/net/ipv4/conf/eth0/arp_notify'])
  t.match(rg.tuning('CHECK', c1, { ...TUNED, prevResult: add.json }).json, { code: 103, msg: /arp_notify/ })
  t.match(rg.tuning('CHECK', c1, TUNED).json, { code: 7, msg: /prevResult/ })

  ok(t, rg.tuning('DEL', c1, TUNED), 'DEL')
  const restored = eth0(c1)
  t.equal(restored.address, before.address, 'mac restored')
  t.equal(restored.mtu, before.mtu, 'mtu restored')
  t.notOk(restored.flags.includes('PROMISC'), 'promisc restored')
  t.notOk(restored.flags.includes('ALLMULTI'), 'allmulti restored')
  t.equal(restored.txqlen, before.txqlen, 'txqlen restored')
  for (const k of Object.keys(SYSCTLS)) t.equal(sysctl(c1, k), sysBefore[k], `${k} restored`)
  t.notOk(existsSync(join(rg.dataDir, 'c1_eth0.json')), 'state file removed')
  ok(t, rg.tuning('DEL', c1, TUNED), 'DEL again')
})

t.test('each value alone is set and restored', { skip }, async (t) => {
  const rg = await rig(t)
  const c1 = await createTestNetns(t)
  const prev = rg.attach(c1, 'c1')
  const cases: [string, Record<string, unknown>, (l: IpLink) => unknown, unknown][] = [
    ['mac', { mac: '02:00:00:00:00:42' }, (l) => l.address, '02:00:00:00:00:42'],
    ['mtu', { mtu: 1300 }, (l) => l.mtu, 1300],
    ['promisc', { promisc: true }, (l) => l.flags.includes('PROMISC'), true],
    ['allmulti', { allmulti: true }, (l) => l.flags.includes('ALLMULTI'), true],
    ['txQLen', { txQLen: 77 }, (l) => l.txqlen, 77],
  ]
  for (const [name, conf, read, want] of cases) {
    const orig = read(eth0(c1))
    ok(t, rg.tuning('ADD', c1, { ...conf, prevResult: prev }), `ADD ${name}`)
    t.equal(read(eth0(c1)), want, `${name} set`)
    ok(t, rg.tuning('DEL', c1, conf), `DEL ${name}`)
    t.equal(read(eth0(c1)), orig, `${name} restored`)
  }
  const key = 'net.ipv4.conf.eth0.arp_notify'
  const orig = sysctl(c1, key)
  ok(t, rg.tuning('ADD', c1, { sysctl: { [key]: '1' }, prevResult: prev }), 'ADD sysctl')
  t.equal(sysctl(c1, key), '1')
  ok(t, rg.tuning('DEL', c1, {}), 'DEL sysctl (the state file says what to restore)')
  t.equal(sysctl(c1, key), orig)
})

t.test('the MAC from runtimeConfig, CNI_ARGS and args.cni, in the reference order', { skip }, async (t) => {
  const rg = await rig(t)
  const c1 = await createTestNetns(t)
  const prev = rg.attach(c1, 'c1')
  ok(t, rg.tuning('ADD', c1, { mac: '02:00:00:00:00:01', prevResult: prev }, { args: 'IgnoreUnknown=1;MAC=02:00:00:00:00:02' }), 'CNI_ARGS over config')
  t.equal(eth0(c1).address, '02:00:00:00:00:02')
  ok(t, rg.tuning('DEL', c1, {}), 'DEL')
  ok(t, rg.tuning('ADD', c1, { runtimeConfig: { mac: '02:00:00:00:00:03' }, prevResult: prev }, { args: 'MAC=02:00:00:00:00:02' }), 'runtimeConfig over CNI_ARGS')
  t.equal(eth0(c1).address, '02:00:00:00:00:03')
  ok(t, rg.tuning('DEL', c1, {}), 'DEL')
  ok(t, rg.tuning('ADD', c1, { runtimeConfig: { mac: '02:00:00:00:00:03' }, args: { cni: { mac: '02:00:00:00:00:04', mtu: 1280 } }, prevResult: prev }), 'args.cni over all')
  t.equal(eth0(c1).address, '02:00:00:00:00:04')
  t.equal(eth0(c1).mtu, 1280)
})

t.test('bad sysctl keys and values are refused with code 7 before anything changes', { skip }, async (t) => {
  const rg = await rig(t)
  const c1 = await createTestNetns(t)
  const prev = rg.attach(c1, 'c1')
  const before = eth0(c1)
  for (const key of ['kernel.hostname', 'net/../kernel/hostname', 'net.ipv4..ip_forward', '/proc/sys/net/ipv4/ip_forward', 'net.ipv4.conf.eth0.no_such_sysctl', 'vm.swappiness', '']) {
    const r = rg.tuning('ADD', c1, { mtu: 1300, sysctl: { [key]: '1' }, prevResult: prev })
    t.not(r.status, 0, `"${key}" refused`)
    t.match(r.json, { code: 7, msg: /sysctl/ }, `"${key}": ${r.stdout}`)
  }
  t.equal(eth0(c1).mtu, before.mtu, 'nothing changed')
  t.notOk(existsSync(join(rg.dataDir, 'c1_eth0.json')), 'no state file left')
  t.match(rg.tuning('ADD', c1, { mac: '03:00:00:00:00:01', prevResult: prev }).json, { code: 7, msg: /unicast/ })
  t.match(rg.tuning('ADD', c1, { mtu: 1300 }).json, { code: 7, msg: /prevResult/ })
})

t.test('DEL with the namespace gone removes the state file; GC removes stale files of its network only', { skip }, async (t) => {
  const rg = await rig(t)
  const c1 = await createTestNetns(t)
  const c2 = await createTestNetns(t)
  const c3 = await createTestNetns(t)
  ok(t, rg.tuning('ADD', c1, { mtu: 1300, prevResult: rg.attach(c1, 'c1') }), 'ADD c1')
  ok(t, rg.tuning('ADD', c2, { mtu: 1300, prevResult: rg.attach(c2, 'c2') }, { id: 'c2' }), 'ADD c2')
  ok(t, rg.tuning('ADD', c3, { name: 'othernet', mtu: 1300, prevResult: rg.attach(c3, 'c3') }, { id: 'c3' }), 'ADD c3 (other network)')
  t.same(readdirSync(rg.dataDir).sort(), ['c1_eth0.json', 'c2_eth0.json', 'c3_eth0.json'])
  const gone = c1.path
  c1.destroy()
  for (let i = 0; i < 100 && existsSync(gone); i++) await new Promise((r) => setTimeout(r, 20))
  ok(t, rg.tuning('DEL', gone, {}), 'DEL with a deleted netns')
  t.same(readdirSync(rg.dataDir).sort(), ['c2_eth0.json', 'c3_eth0.json'])
  const gc = runPlugin('tuning', {
    env: { CNI_COMMAND: 'GC', CNI_PATH: BIN_DIR },
    stdin: { cniVersion: '1.1.0', name: NET, type: 'tuning', dataDir: rg.dataDir, 'cni.dev/valid-attachments': [] },
    hostNetns: rg.host.path,
  })
  ok(t, gc, 'GC')
  t.same(readdirSync(rg.dataDir), ['c3_eth0.json'], "only the other network's file is left")
})
