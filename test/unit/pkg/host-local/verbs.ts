// The verbs in-process, with the data directory on t.testdir(): ADD/CHECK/DEL, rollback, GC, STATUS.
import t from 'tap'
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseNetConf } from '../../../../pkg/cni/schema.js'
import type { CmdArgs, Command } from '../../../../pkg/skel/skel.js'
import { cmdAdd } from '../../../../pkg/host-local/add.js'
import { cmdCheck } from '../../../../pkg/host-local/check.js'
import { cmdDel } from '../../../../pkg/host-local/del.js'
import { cmdGc } from '../../../../pkg/host-local/gc.js'
import { cmdStatus } from '../../../../pkg/host-local/status.js'
import { BOOT_DIR } from '../../../../pkg/host-local/disk-store.js'

interface Call {
  containerId?: string
  ifName?: string
  args?: Map<string, string>
  extra?: Record<string, unknown>
}

function cmd(command: Command, ipam: Record<string, unknown>, c: Call = {}): CmdArgs {
  const conf = parseNetConf(JSON.stringify({ cniVersion: '1.1.0', name: 'net1', type: 'bridge', ipam: { type: 'host-local', ...ipam }, ...c.extra }))
  return {
    command,
    containerId: c.containerId ?? 'c1',
    netns: '',
    ifName: c.ifName ?? 'eth0',
    args: c.args ?? new Map(),
    path: [],
    stdin: new Uint8Array(),
    conf,
    env: {},
  }
}
const reservations = (dir: string) => (existsSync(dir) ? readdirSync(dir).filter((f) => /^[0-9a-f.:]+$/.test(f) && f.includes('.') !== f.includes(':')).sort() : [])

t.test('ADD, CHECK, DEL, DEL, dual-stack, with routes and dns', async (t) => {
  const dataDir = t.testdir({ 'resolv.conf': '# c\nnameserver 10.0.0.53\nnameserver fd00::53\ndomain example\nsearch a.example b.example\noptions ndots:2 edns0\nbogus\n' })
  const ipam = { dataDir, ranges: [[{ subnet: '10.1.0.0/24' }], [{ subnet: 'fd00:1::/64' }]], routes: [{ dst: '0.0.0.0/0' }], resolvConf: join(dataDir, 'resolv.conf') }
  const r = await cmdAdd(cmd('ADD', ipam))
  t.same(r, {
    cniVersion: '1.1.0',
    ips: [
      { address: '10.1.0.2/24', gateway: '10.1.0.1' },
      { address: 'fd00:1::2/64', gateway: 'fd00:1::1' },
    ],
    routes: [{ dst: '0.0.0.0/0' }],
    dns: { nameservers: ['10.0.0.53', 'fd00::53'], domain: 'example', search: ['a.example', 'b.example'], options: ['ndots:2', 'edns0'] },
  })
  await cmdCheck(cmd('CHECK', ipam))
  await t.rejects(cmdCheck(cmd('CHECK', ipam, { ifName: 'eth1' })), { code: 3, message: /container c1 \(interface eth1\) in range set 10\.1\.0\.1-10\.1\.0\.254/ })
  await cmdDel(cmd('DEL', ipam))
  t.same(reservations(join(dataDir, 'net1')), [])
  await cmdDel(cmd('DEL', ipam))
  await t.rejects(cmdCheck(cmd('CHECK', ipam)), { code: 3 })
})

t.test('CHECK wants every range set: a lost IPv6 reservation is reported', async (t) => {
  const dataDir = t.testdir()
  const ipam = { dataDir, ranges: [[{ subnet: '10.1.0.0/24' }], [{ subnet: 'fd00:1::/64' }]] }
  await cmdAdd(cmd('ADD', ipam))
  const { rmSync } = await import('node:fs')
  rmSync(join(dataDir, 'net1', 'fd00:1::2'))
  await t.rejects(cmdCheck(cmd('CHECK', ipam)), { code: 3, message: /range set fd00:1::1-fd00:1::ffff:ffff:ffff:ffff/ })
})

t.test('DEL with nothing reserved, no directory, or a broken range config succeeds', async (t) => {
  const dataDir = t.testdir()
  await cmdDel(cmd('DEL', { dataDir, subnet: '10.1.0.0/24' }))
  t.same(readdirSync(dataDir), [], 'DEL creates nothing')
  await cmdAdd(cmd('ADD', { dataDir, subnet: '10.1.0.0/24' }))
  await cmdDel(cmd('DEL', { dataDir, subnet: 'not a subnet' }))
  t.same(reservations(join(dataDir, 'net1')), [])
})

t.test('a failure in the second range set releases the first; nothing left behind', async (t) => {
  const dataDir = t.testdir()
  const ipam = { dataDir, ranges: [[{ subnet: '10.1.0.0/24' }], [{ subnet: '10.2.0.0/24', rangeStart: '10.2.0.9', rangeEnd: '10.2.0.9' }]] }
  await cmdAdd(cmd('ADD', ipam, { containerId: 'first' }))
  await t.rejects(cmdAdd(cmd('ADD', ipam, { containerId: 'second' })), { code: 100, message: 'no IP addresses available in range set 10.2.0.9-10.2.0.9 of network net1' })
  t.same(reservations(join(dataDir, 'net1')), ['10.1.0.2', '10.2.0.9'])
  // The requested-address conflict names the owner, and also leaves nothing.
  await t.rejects(cmdAdd(cmd('ADD', { dataDir, subnet: '10.1.0.0/24' }, { containerId: 'third', extra: { runtimeConfig: { ips: ['10.1.0.2'] } } })), {
    code: 101,
    message: 'requested IP 10.1.0.2 in network net1 is already reserved by container first (interface eth0)',
  })
  t.same(reservations(join(dataDir, 'net1')), ['10.1.0.2', '10.2.0.9'])
})

t.test('requested addresses through CNI_ARGS and the ips capability, one per set', async (t) => {
  const dataDir = t.testdir()
  const ipam = { dataDir, ranges: [[{ subnet: '10.1.0.0/24' }], [{ subnet: 'fd00:1::/64' }]] }
  const r = await cmdAdd(cmd('ADD', ipam, { args: new Map([['IP', '10.1.0.50']]), extra: { runtimeConfig: { ips: ['fd00:1::50/64'] } } }))
  t.same(r.ips?.map((i) => i.address), ['10.1.0.50/24', 'fd00:1::50/64'])
  await t.rejects(cmdAdd(cmd('ADD', ipam, { containerId: 'c2', extra: { runtimeConfig: { ips: ['10.1.0.60', '10.1.0.61'] } } })), { code: 7, message: /same range set/ })
  t.same(reservations(join(dataDir, 'net1')), ['10.1.0.50', 'fd00:1::50'])
})

t.test('bad input is refused before anything is written', async (t) => {
  const dataDir = t.testdir()
  await t.rejects(cmdAdd(cmd('ADD', { dataDir, subnet: '10.1.0.0/24', gateway: '10.9.0.1' })), { code: 7, message: /ipam\.gateway/ })
  await t.rejects(cmdAdd(cmd('ADD', { dataDir: `${dataDir}/../x`, subnet: '10.1.0.0/24' })), { code: 7, message: /ipam\.dataDir/ })
  await t.rejects(cmdAdd(cmd('ADD', { dataDir, subnet: '10.1.0.0/24', resolvConf: join(dataDir, 'missing') })), { code: 5, message: /ipam\.resolvConf/ })
  t.same(readdirSync(dataDir), [])
})

t.test('GC: no list does nothing; the old key works; an empty list releases everything', async (t) => {
  const dataDir = t.testdir()
  const ipam = { dataDir, subnet: '10.1.0.0/24' }
  for (const id of ['a', 'b', 'c']) await cmdAdd(cmd('ADD', ipam, { containerId: id }))
  const dir = join(dataDir, 'net1')
  await cmdGc(cmd('GC', ipam))
  t.same(reservations(dir), ['10.1.0.2', '10.1.0.3', '10.1.0.4'])
  await cmdGc(cmd('GC', ipam, { extra: { 'cni.dev/attachments': [{ containerID: 'a', ifname: 'eth0' }, { containerID: 'b', ifname: 'eth0' }] } }))
  t.same(reservations(dir), ['10.1.0.2', '10.1.0.3'])
  await cmdGc(cmd('GC', ipam, { extra: { 'cni.dev/valid-attachments': [{ containerID: 'a', ifname: 'eth9' }] } }))
  t.same(reservations(dir), [])
  t.same(readdirSync(join(dir, BOOT_DIR)), [], 'boot records go with their reservations')
  await t.rejects(cmdGc(cmd('GC', ipam, { extra: { 'cni.dev/valid-attachments': [{ containerID: 1 }] } })), { code: 7 })
  await cmdGc(cmd('GC', { dataDir: join(dataDir, 'nowhere'), subnet: '10.1.0.0/24' }, { extra: { 'cni.dev/valid-attachments': [] } }))
})

t.test('STATUS: ready; 50 when a set is full or the data dir is not writable; earlier boots released', async (t) => {
  const dataDir = t.testdir({ file: '' })
  const ipam = { dataDir, ranges: [[{ subnet: '10.1.0.0/24', rangeStart: '10.1.0.10', rangeEnd: '10.1.0.11' }]] }
  await cmdStatus(cmd('STATUS', ipam))
  await cmdAdd(cmd('ADD', ipam, { containerId: 'a' }))
  await cmdStatus(cmd('STATUS', ipam))
  await cmdAdd(cmd('ADD', ipam, { containerId: 'b' }))
  await t.rejects(cmdStatus(cmd('STATUS', ipam)), { code: 50, message: 'range set 10.1.0.10-10.1.0.11 of network net1 is full (2 of 2 addresses reserved)' })
  // Pretend 10.1.0.10 was reserved in an earlier boot: STATUS frees it and is ready again.
  const dir = join(dataDir, 'net1')
  const rec = JSON.parse(readFileSync(join(dir, BOOT_DIR, '10.1.0.10'), 'utf8')) as Record<string, unknown>
  writeFileSync(join(dir, BOOT_DIR, '10.1.0.10'), JSON.stringify({ ...rec, bootId: 'an-earlier-boot', ino: statSync(join(dir, '10.1.0.10')).ino }))
  await cmdStatus(cmd('STATUS', ipam))
  t.same(reservations(dir), ['10.1.0.11'])
  await t.rejects(cmdStatus(cmd('STATUS', { ...ipam, dataDir: join(dataDir, 'file', 'sub') })), { code: 50, message: /is not writable/ })
})
