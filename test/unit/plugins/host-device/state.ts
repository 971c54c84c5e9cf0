// State files: path safety, atomic round trip, listing across networks, damaged files.
import t from 'tap'
import { readdirSync, statSync, writeFileSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { decodeState, listStates, readState, removeState, statePath, withStateLock, writeState, type AttachmentState } from '../../../../plugins/host/host-device/state.js'

const sample = (over: Partial<AttachmentState> = {}): AttachmentState => ({
  version: 1,
  network: 'net1',
  containerId: 'c1',
  ifName: 'eth0',
  netns: '/proc/1/ns/net',
  device: { name: 'ens3', index: 4, kind: null, mac: '02:00:00:00:00:01', mtu: 9000, up: true, addresses: ['192.0.2.5/24'] },
  createdAt: '2026-01-01T00:00:00.000Z',
  ...over,
})

t.test('path: <stateDir>/<network>/<containerID>-<ifname>.json, nothing escapes', async (t) => {
  t.equal(statePath({ stateDir: '/s', network: 'net1', containerId: 'c1', ifName: 'eth0' }), '/s/net1/c1-eth0.json')
  t.throws(() => statePath({ stateDir: '/s', network: '..', containerId: 'c1', ifName: 'eth0' }), { code: 7 })
  t.throws(() => statePath({ stateDir: '/s', network: 'n', containerId: 'a/../..', ifName: 'eth0' }), { code: 7 })
})

t.test('write, read, list, remove', async (t) => {
  const stateDir = t.testdir()
  const k = { stateDir, network: 'net1', containerId: 'c1', ifName: 'eth0' }
  t.equal(readState(k), undefined)
  await withStateLock(stateDir, async () => writeState(k, sample()))
  t.same(readState(k), sample())
  t.equal(statSync(statePath(k)).mode & 0o777, 0o600)
  t.equal(statSync(join(stateDir, 'net1')).mode & 0o777, 0o700)
  writeState({ ...k, network: 'net2', containerId: 'c2' }, sample({ network: 'net2', containerId: 'c2', device: null }))
  writeFileSync(join(stateDir, 'net2', 'junk.json'), 'not json')
  t.same(listStates(stateDir).map((s) => s.containerId).sort(), ['c1', 'c2'], 'damaged files skipped')
  removeState(k)
  t.equal(readState(k), undefined)
  removeState(k)
  t.same(readdirSync(join(stateDir, 'net1')), [], 'no temp files left')
})

t.test('damaged state is CniError 5', async (t) => {
  t.throws(() => decodeState('{', 'p'), { code: 5, message: /not JSON/ })
  t.throws(() => decodeState('{"version":2}', 'p'), { code: 5, message: /version 1/ })
  t.throws(() => decodeState(JSON.stringify({ ...sample(), device: { name: 'x' } }), 'p'), { code: 5, message: /incomplete/ })
  const dir = t.testdir()
  mkdirSync(join(dir, 'n'))
  writeFileSync(join(dir, 'n', 'c-eth0.json'), '[]')
  t.throws(() => readState({ stateDir: dir, network: 'n', containerId: 'c', ifName: 'eth0' }), { code: 5 })
})
