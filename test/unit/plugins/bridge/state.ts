import t from 'tap'
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { tempFileName } from '../../../../pkg/fsutil/atomic-write.js'
import { BridgeState, stateDirOfNetns } from '../../../../plugins/bridge/state.js'

const TAG = '0123456789abcdef'
const OTHER = 'fedcba9876543210'

t.test('records: write, read back, list, remove', async (t) => {
  const st = new BridgeState(t.testdir())
  t.equal(st.read(TAG), undefined, 'none yet')
  t.same(st.list(), [])
  st.write(TAG, { network: 'n1', containerId: 'c1', ifName: 'eth0', hostVeth: { name: 'veth01234567' }, nat: { keys: ['10.0.0.2', 'fd00::2'] }, spoof: { port: 'veth01234567', mac: '02:00:00:00:00:01' } })
  t.same(st.read(TAG), { v: 1, network: 'n1', containerId: 'c1', ifName: 'eth0', hostVeth: { name: 'veth01234567' }, nat: { keys: ['10.0.0.2', 'fd00::2'] }, spoof: { port: 'veth01234567', mac: '02:00:00:00:00:01' } })
  st.write(OTHER, { network: 'n2', containerId: 'c2', ifName: 'eth0' })
  t.same(st.list().map((x) => x.tag).sort(), [TAG, OTHER].sort())
  t.same(readdirSync(join(st.dir, 'att')).filter((f) => f.endsWith('.tmp')), [], 'no temporary files left')
  st.remove(TAG)
  st.remove(TAG)
  t.equal(st.read(TAG), undefined, 'removed (twice is fine)')
})

t.test('unreadable or foreign records are ignored, bad tags refused', async (t) => {
  const st = new BridgeState(t.testdir())
  mkdirSync(join(st.dir, 'att'), { recursive: true })
  writeFileSync(join(st.dir, 'att', `${TAG}.json`), '{"v":1,"network":"n"')
  writeFileSync(join(st.dir, 'att', `${OTHER}.json`), '{"v":99,"network":"n","containerId":"c","ifName":"e"}')
  writeFileSync(join(st.dir, 'att', 'junk.json'), '{}')
  t.equal(st.read(TAG), undefined, 'truncated')
  t.equal(st.read(OTHER), undefined, 'unknown version')
  t.same(st.list(), [])
  t.throws(() => st.read('../../etc/passwd'), /bad owner tag/)
  t.throws(() => st.write('x', { network: 'n', containerId: 'c', ifName: 'e' }), /bad owner tag/)
})

t.test('NAT key owners: claimed, read, released only by their owner', async (t) => {
  const st = new BridgeState(t.testdir())
  st.claimNatKeys(TAG, ['10.0.0.2', 'fd00:0::2'])
  t.equal(st.natKeyOwner('10.0.0.2'), TAG)
  t.equal(st.natKeyOwner('fd00::2'), TAG, 'addresses in canonical form')
  t.equal(readFileSync(join(st.dir, 'nat', 'fd00::2'), 'utf8'), TAG)
  st.claimNatKeys(OTHER, ['10.0.0.2'])
  t.equal(st.natKeyOwner('10.0.0.2'), OTHER, 'a later ADD takes the address over')
  st.releaseNatKeys(TAG, ['10.0.0.2', 'fd00::2'])
  t.equal(st.natKeyOwner('10.0.0.2'), OTHER, "another owner's key stays")
  t.equal(st.natKeyOwner('fd00::2'), undefined, 'own key released')
  t.throws(() => st.natKeyOwner('../x'), 'only addresses become file names')
})

t.test('one directory per network namespace', async (t) => {
  const d = stateDirOfNetns(undefined, '/x')
  t.match(d, /^\/x\/\d+-\d+-\d+$/, 'dev-inode-cookie')
  t.equal(stateDirOfNetns(`/proc/${process.pid}/ns/net`, '/x'), d, 'the same namespace seen through another path')
})

t.test("a writer killed before its rename: the owner's remove and release take its temporary files", async (t) => {
  const st = new BridgeState(t.testdir())
  st.write(TAG, { network: 'n1', containerId: 'c1', ifName: 'eth0' })
  st.write(OTHER, { network: 'n1', containerId: 'c2', ifName: 'eth0' })
  st.claimNatKeys(OTHER, ['10.0.0.3'])
  t.same(readdirSync(join(st.dir, 'tmp')), [], 'writes leave nothing in tmp/')
  // What kill -9 during write() and claimNatKeys() leaves: a temporary file that never got its name.
  const left = (target: string) => {
    const f = tempFileName(target)
    writeFileSync(join(st.dir, 'tmp', f), '')
    return f
  }
  left(join(st.dir, 'att', `${TAG}.json`))
  left(join(st.dir, 'nat', '10.0.0.2'))
  const others = [left(join(st.dir, 'att', `${OTHER}.json`)), left(join(st.dir, 'nat', '10.0.0.3'))]
  st.releaseNatKeys(TAG, ['10.0.0.2', '10.0.0.3'])
  st.remove(TAG)
  t.same(readdirSync(join(st.dir, 'tmp')).sort(), others.sort(), "the claim of a key nobody holds and the record's temporary file go; another owner's stay")
  t.equal(st.natKeyOwner('10.0.0.3'), OTHER)
})
