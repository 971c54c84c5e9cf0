// The chain runner against recording fake plugins (small node scripts written by the test): what each
// plugin receives (stdin and CNI_* environment) in ADD, CHECK, DEL, GC and STATUS, in which order, and
// what ends up in the cache. No privileges needed: nothing here touches the kernel.
import t, { type Test } from 'tap'
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { addNetworkList, checkNetworkList, delNetworkList, gcNetworkList, networkListFromBytes, readCache, statusNetworkList, type CniEnv, type NetworkList, type RuntimeConf } from '../../../runtime-min/libcni/index.js'

// Appends {command, type, stdin, env} to $REC_LOG; ADD answers with prevResult plus one interface named
// after the plugin; a plugin whose config says "fail": COMMAND answers with CNI error 7.
const RECORDER = `#!/usr/bin/env node
const fs = require('fs')
const conf = JSON.parse(fs.readFileSync(0, 'utf8'))
const env = {}
for (const k of ['CNI_COMMAND', 'CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_ARGS', 'CNI_PATH']) env[k] = process.env[k]
fs.appendFileSync(process.env.REC_LOG, JSON.stringify({ command: env.CNI_COMMAND, type: conf.type, stdin: conf, env }) + '\\n')
if (conf.fail === env.CNI_COMMAND) { process.stdout.write(JSON.stringify({ cniVersion: conf.cniVersion, code: 7, msg: 'injected failure' })); process.exit(1) }
if (env.CNI_COMMAND === 'ADD') {
  const prev = conf.prevResult || { cniVersion: conf.cniVersion, interfaces: [], ips: [] }
  const interfaces = [...(prev.interfaces || []), { name: conf.type, sandbox: env.CNI_NETNS }]
  const ips = prev.ips && prev.ips.length ? prev.ips : [{ address: '10.9.0.2/24', gateway: '10.9.0.1', interface: 0 }]
  process.stdout.write(JSON.stringify({ cniVersion: conf.cniVersion, interfaces, ips }))
}
`

interface Rec {
  command: string
  type: string
  stdin: Record<string, unknown>
  env: Record<string, string>
}

function setup(t: Test, plugins: object[], version = '1.1.0') {
  const dir = t.testdir()
  for (const p of ['rec-a', 'rec-b', 'rec-c']) {
    writeFileSync(join(dir, p), RECORDER)
    chmodSync(join(dir, p), 0o755)
  }
  const log = join(dir, 'log.jsonl')
  const env: CniEnv = { cniPath: ['/nonexistent', dir], cacheDir: join(dir, 'cache'), env: { PATH: process.env['PATH'], REC_LOG: log } }
  const bytes = Buffer.from(JSON.stringify({ cniVersion: version, name: 'chain', plugins }))
  const list: NetworkList = networkListFromBytes(bytes, 'test')
  const records = (): Rec[] => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Rec) : [])
  const clear = () => writeFileSync(log, '')
  return { dir, env, list, bytes, records, clear }
}

const rt: RuntimeConf = {
  containerId: 'ctr1',
  netns: '/run/netns/fake',
  ifName: 'eth0',
  args: [['IgnoreUnknown', '1'], ['K8S_POD_NAME', 'web']],
  capabilityArgs: { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }], mac: '02:00:00:00:00:01' },
}

t.test('ADD: in order, prevResult chained, only declared capabilities, CNI_* set; the cache; DEL in reverse', async (t) => {
  const f = setup(t, [
    { type: 'rec-a', capabilities: { mac: true }, extra: { kept: true } },
    { type: 'rec-b', capabilities: { portMappings: true, ips: true } },
    { type: 'rec-c' },
  ])
  const result = await addNetworkList(f.list, rt, f.env)
  t.same((result['interfaces'] as { name: string }[]).map((i) => i.name), ['rec-a', 'rec-b', 'rec-c'], 'each plugin saw the previous result')
  const adds = f.records()
  t.same(adds.map((r) => [r.command, r.type]), [['ADD', 'rec-a'], ['ADD', 'rec-b'], ['ADD', 'rec-c']])
  const [a, b, c] = adds as [Rec, Rec, Rec]
  t.same(a.stdin['runtimeConfig'], { mac: '02:00:00:00:00:01' }, 'rec-a gets only mac')
  t.same(b.stdin['runtimeConfig'], { portMappings: rt.capabilityArgs['portMappings'] }, 'rec-b gets portMappings (ips was not given)')
  t.notOk('runtimeConfig' in c.stdin, 'rec-c declares nothing and gets nothing')
  t.same(a.stdin['extra'], { kept: true }, 'unknown keys pass through')
  t.notOk('prevResult' in a.stdin, 'the first plugin has no prevResult')
  t.same((b.stdin['prevResult'] as { interfaces: { name: string }[] }).interfaces.map((i) => i.name), ['rec-a'])
  for (const r of adds) {
    t.equal(r.stdin['name'], 'chain')
    t.equal(r.stdin['cniVersion'], '1.1.0')
    t.same(r.env, { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'ctr1', CNI_NETNS: '/run/netns/fake', CNI_IFNAME: 'eth0', CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAME=web', CNI_PATH: `/nonexistent:${f.dir}` })
  }
  const cached = readCache(f.env.cacheDir, 'chain', 'ctr1', 'eth0')
  t.equal(cached.state, 'ok')
  if (cached.state === 'ok') {
    t.same(Buffer.from(cached.entry.config), f.bytes, 'the conflist bytes')
    t.same(cached.entry.result, result, 'the final result')
    t.same(cached.entry.cniArgs, rt.args)
  }

  f.clear()
  await checkNetworkList(f.list, rt, f.env)
  t.same(f.records().map((r) => [r.command, r.type]), [['CHECK', 'rec-a'], ['CHECK', 'rec-b'], ['CHECK', 'rec-c']], 'CHECK in order')
  t.ok(f.records().every((r) => JSON.stringify(r.stdin['prevResult']) === JSON.stringify(result)), 'CHECK gets the cached result')

  f.clear()
  // DEL with a caller that forgot the args and capabilities: the cached ones are used
  await delNetworkList(f.list, { ...rt, args: [], capabilityArgs: {} }, f.env)
  const dels = f.records()
  t.same(dels.map((r) => [r.command, r.type]), [['DEL', 'rec-c'], ['DEL', 'rec-b'], ['DEL', 'rec-a']], 'DEL in reverse')
  t.ok(dels.every((r) => JSON.stringify(r.stdin['prevResult']) === JSON.stringify(result)), 'DEL gets the cached result')
  t.same(dels[1]?.stdin['runtimeConfig'], { portMappings: rt.capabilityArgs['portMappings'] }, 'cached capability args')
  t.equal(dels[0]?.env['CNI_ARGS'], 'IgnoreUnknown=1;K8S_POD_NAME=web', 'cached CNI_ARGS')
  t.equal(readCache(f.env.cacheDir, 'chain', 'ctr1', 'eth0').state, 'missing', 'cache removed')
})

t.test('a failing ADD rolls back the plugins that succeeded, last first; nothing cached', async (t) => {
  const f = setup(t, [{ type: 'rec-a' }, { type: 'rec-b' }, { type: 'rec-c', fail: 'ADD' }])
  await t.rejects(addNetworkList(f.list, rt, f.env), { code: 7, message: /^plugin type="rec-c" failed \(add\): injected failure$/ })
  const recs = f.records()
  t.same(recs.map((r) => [r.command, r.type]), [['ADD', 'rec-a'], ['ADD', 'rec-b'], ['ADD', 'rec-c'], ['DEL', 'rec-b'], ['DEL', 'rec-a']], 'the failing plugin cleans up after itself')
  t.same((recs[3]?.stdin['prevResult'] as { interfaces: { name: string }[] }).interfaces.map((i) => i.name), ['rec-a', 'rec-b'], 'rollback DEL gets the last result')
  t.equal(readCache(f.env.cacheDir, 'chain', 'ctr1', 'eth0').state, 'missing')
})

t.test('ADD of an attachment the cache already holds is refused before any plugin runs', async (t) => {
  const f = setup(t, [{ type: 'rec-a' }])
  await addNetworkList(f.list, rt, f.env)
  f.clear()
  await t.rejects(addNetworkList(f.list, rt, f.env), { message: 'network chain is already attached to container ctr1 as eth0; DEL that attachment first' })
  t.same(f.records(), [], 'no plugin called')
  t.equal(readCache(f.env.cacheDir, 'chain', 'ctr1', 'eth0').state, 'ok', 'the existing attachment is untouched')
  await addNetworkList(f.list, { ...rt, ifName: 'eth1' }, f.env)
  t.pass('another ifname of the same container is fine')
})

t.test('a failing DEL still calls every plugin, reports, and keeps the cache for a retry', async (t) => {
  const f = setup(t, [{ type: 'rec-a' }, { type: 'rec-b', fail: 'DEL' }, { type: 'rec-c' }])
  await addNetworkList(f.list, rt, f.env)
  f.clear()
  await t.rejects(delNetworkList(f.list, rt, f.env), { code: 7, message: /plugin type="rec-b" failed \(delete\)/ })
  t.same(f.records().map((r) => r.type), ['rec-c', 'rec-b', 'rec-a'])
  t.equal(readCache(f.env.cacheDir, 'chain', 'ctr1', 'eth0').state, 'ok', 'cache kept')
})

t.test('GC: stale cached attachments get DEL, then every plugin gets GC with the valid list', async (t) => {
  const f = setup(t, [{ type: 'rec-a' }, { type: 'rec-b' }])
  await addNetworkList(f.list, rt, f.env)
  await addNetworkList(f.list, { ...rt, containerId: 'ctr2' }, f.env)
  f.clear()
  const removed = await gcNetworkList(f.list, [{ containerID: 'ctr1', ifname: 'eth0' }], f.env)
  t.same(removed, [{ containerID: 'ctr2', ifname: 'eth0' }])
  const recs = f.records()
  t.same(recs.map((r) => [r.command, r.type, r.env['CNI_CONTAINERID']]), [['DEL', 'rec-b', 'ctr2'], ['DEL', 'rec-a', 'ctr2'], ['GC', 'rec-a', ''], ['GC', 'rec-b', '']])
  const valid = [{ containerID: 'ctr1', ifname: 'eth0' }]
  t.same(recs[2]?.stdin['cni.dev/valid-attachments'], valid)
  t.same(recs[2]?.stdin['cni.dev/attachments'], valid, 'the old key too, as libcni sends it')
  t.equal(readCache(f.env.cacheDir, 'chain', 'ctr1', 'eth0').state, 'ok')
  t.equal(readCache(f.env.cacheDir, 'chain', 'ctr2', 'eth0').state, 'missing')
})

t.test('versions: STATUS and GC only from 1.1.0, CHECK only from 0.4.0, no prevResult on DEL below 0.4.0', async (t) => {
  const f11 = setup(t, [{ type: 'rec-a' }])
  await statusNetworkList(f11.list, f11.env)
  t.same(f11.records().map((r) => r.command), ['STATUS'])
  const f = setup(t, [{ type: 'rec-a' }], '0.3.1')
  await statusNetworkList(f.list, f.env)
  await gcNetworkList(f.list, [], f.env)
  t.same(f.records(), [], 'nothing sent to a 0.3.1 list')
  await addNetworkList(f.list, rt, f.env)
  await t.rejects(checkNetworkList(f.list, rt, f.env), { code: 1, message: /does not support the CHECK command/ })
  f.clear()
  await delNetworkList(f.list, rt, f.env)
  t.notOk('prevResult' in (f.records()[0]?.stdin ?? {}), 'no prevResult below 0.4.0')
})
