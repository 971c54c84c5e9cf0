import t from 'tap'
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { tempFileName } from '../../../../pkg/fsutil/atomic-write.js'
import { PortmapState, type OwnerRecord } from '../../../../plugins/portmap/records.js'
import { portmapOwner, type Entry } from '../../../../plugins/portmap/plan.js'

const e = (o: Partial<Entry>): Entry => ({ family: 4, hostIP: undefined, protocol: 'tcp', hostPort: 8080, hostPortEnd: 8080, containerIP: '10.0.0.5', containerPort: 80, ...o })
const rec = (id: string, entries: Entry[]): OwnerRecord => {
  const o = portmapOwner('net1', id, 'eth0')
  return { version: 1, tag: o.tag, netTag: o.netTag, comment: o.comment, backend: 'nftables', entries, elements: [], hairpin: [] }
}

t.test('the state directory is per network namespace: <dev>-<inode>-<cookie>', async (t) => {
  const root = t.testdir()
  const s = PortmapState.open(root, '/proc/self/ns/net')
  const st = statSync('/proc/self/ns/net')
  t.match(s.dir, new RegExp(`^${join(root, `${st.dev}-${st.ino}-`)}\\d+$`))
  t.ok(existsSync(join(s.dir, 'owners')) && existsSync(join(s.dir, 'ports')))
  t.equal(s.lockPath, join(s.dir, 'lock'))
})

t.test('reservations: conflicts name the holder; any overlaps every address; own ones and other protocols do not conflict', async (t) => {
  const s = PortmapState.open(t.testdir(), '/proc/self/ns/net')
  const c1 = rec('c1', [e({}), e({ hostIP: '10.99.0.1', hostPort: 9000, hostPortEnd: 9002 }), e({ family: 6, hostIP: 'fd99::1', hostPort: 7000, hostPortEnd: 7000 })])
  s.record(c1)
  t.same(s.readOwner(c1.tag), JSON.parse(JSON.stringify(c1)), 'the record reads back')
  t.equal(readFileSync(join(s.dir, 'ports', '4-tcp-9001', '10.99.0.1'), 'utf8'), `${c1.tag}\n`, 'one reservation per port of a range')
  t.ok(existsSync(join(s.dir, 'ports', '6-tcp-7000', 'fd99::1')))

  const c2 = rec('c2', [])
  t.equal(s.findHolder([e({ hostIP: '10.99.0.7' })], c2.tag)?.owner.tag, c1.tag, 'a specific address conflicts with "any"')
  t.equal(s.findHolder([e({ hostPort: 9002, hostPortEnd: 9002 })], c2.tag)?.entry.hostPort, 9000, '"any" conflicts with a specific address, naming the holding entry')
  t.equal(s.findHolder([e({ hostIP: '10.99.0.2', hostPort: 9001, hostPortEnd: 9001 })], c2.tag), undefined, 'another address of the port is free')
  t.equal(s.findHolder([e({ protocol: 'udp' })], c2.tag), undefined, 'another protocol is free')
  t.equal(s.findHolder([e({ family: 6 })], c2.tag), undefined, 'another family is free')
  t.equal(s.findHolder([e({})], c1.tag), undefined, "the owner's own reservation is no conflict")
  t.equal(s.findHolder([e({})], c2.tag, () => false), undefined, 'a holder the kernel does not confirm is stale')
  t.notOk(existsSync(join(s.dir, 'ports', '4-tcp-8080', 'any')), '... and its reservation is removed')

  s.record(rec('c3', [e({ hostPort: 8080 })]))
  t.throws(() => s.record(rec('c4', [e({ hostPort: 8080 })])), { code: 7 }, 'O_EXCL: a reservation of another owner is never overwritten')
  s.forget(c1)
  t.equal(s.readOwner(c1.tag), undefined, 'forget removes the record')
  t.notOk(existsSync(join(s.dir, 'ports', '4-tcp-9001')), '... and its reservations (empty port directories too)')
  t.equal(readdirSync(join(s.dir, 'ports', '4-tcp-8080')).length, 1, "another owner's reservation stays")
})

t.test('stale reservations: a missing record, or a record that no longer lists the port', async (t) => {
  const s = PortmapState.open(t.testdir(), '/proc/self/ns/net')
  const c1 = rec('c1', [e({})])
  s.record(c1)
  writeFileSync(join(s.dir, 'owners', `${c1.tag}.json`), JSON.stringify({ ...c1, entries: [e({ hostPort: 1, hostPortEnd: 1 })] }))
  t.equal(s.findHolder([e({})], rec('c2', []).tag), undefined, 'the record moved on: not held')
  writeFileSync(join(s.dir, 'ports', '4-tcp-8080', 'any'), 'ffffffffffffffff\n', { flag: 'w' })
  t.equal(s.findHolder([e({})], rec('c2', []).tag), undefined, 'no record for the tag: not held')
  writeFileSync(join(s.dir, 'owners', `${c1.tag}.json`), '{torn')
  t.equal(s.readOwner(c1.tag), undefined, 'a torn record reads as missing')
  t.equal(s.readOwner('../../etc/passwd'), undefined, 'only tags name records')
})

t.test('hairpin uses: the last user of a shared element is the one to delete it', async (t) => {
  const s = PortmapState.open(t.testdir(), '/proc/self/ns/net')
  const h = { name: '4-10.0.0.0_24-10.0.0.0_24', set: 'hairpin4', elem: { key: 'x' } }
  const c1 = { ...rec('c1', [e({})]), hairpin: [h] }
  const c2 = { ...rec('c2', [e({ hostPort: 9090, hostPortEnd: 9090 })]), hairpin: [h] }
  s.record(c1)
  s.record(c2)
  t.same(s.unusedHairpin(c1.hairpin, c1.tag), [], 'c2 still uses it')
  s.forget(c2)
  t.same(s.unusedHairpin(c1.hairpin, c1.tag), [h], 'c1 is the last user')
  s.forget(c1)
  t.same(s.unusedHairpin([h]), [h], 'unused by anyone')
  t.notOk(existsSync(join(s.dir, 'hairpin', h.name)))
  t.throws(() => s.record({ ...rec('c3', []), hairpin: [{ ...h, name: '../x' }] }), { code: 7 }, 'names are checked')
})

t.test('reset wipes records and starts a generation; legacy is remembered', async (t) => {
  const s = PortmapState.open(t.testdir(), '/proc/self/ns/net')
  const c1 = rec('c1', [e({})])
  s.record(c1)
  s.reset('g1', false)
  t.equal(s.generation(), 'g1')
  t.notOk(s.legacy)
  t.equal(s.readOwner(c1.tag), undefined)
  t.same(s.owners(), [])
  t.same(readdirSync(join(s.dir, 'ports')), [])
  s.reset('g2', true)
  t.equal(s.generation(), 'g2')
  t.ok(s.legacy)
})

t.test('what a writer killed mid-way leaves: temporary files go when the lock is next taken, a torn reservation with its record', async (t) => {
  const s = PortmapState.open(t.testdir(), '/proc/self/ns/net')
  const c1 = rec('c1', [e({ hostPort: 8080 }), e({ hostPort: 8081, hostPortEnd: 8081 })])
  await s.locked(async () => s.record(c1))
  t.same(readdirSync(join(s.dir, 'tmp')), [], 'writes leave nothing in tmp/')
  writeFileSync(join(s.dir, 'tmp', tempFileName(join(s.dir, 'owners', 'x.json'))), '{"version":1')
  // record() killed between creating a reservation and writing the tag into it
  writeFileSync(join(s.dir, 'ports', '4-tcp-8081', 'any'), '')
  await s.locked(async () => {
    t.same(readdirSync(join(s.dir, 'tmp')), [], 'a temporary file found under the lock is a leftover: removed')
    s.forget(c1)
  })
  t.same(readdirSync(join(s.dir, 'ports')), [], 'the torn reservation went with the record')
  t.same(readdirSync(join(s.dir, 'owners')), [])
})
