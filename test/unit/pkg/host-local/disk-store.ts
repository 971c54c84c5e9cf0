// The disk store on t.testdir(): the reference's file format byte for byte, legacy files, boot records,
// and the allocator's decisions against real files.
import t from 'tap'
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { formatIp, parseIp } from '../../../../pkg/ip/cidr.js'
import { parseNetConf } from '../../../../pkg/cni/schema.js'
import { parseHostLocalConfig } from '../../../../pkg/host-local/config.js'
import { allocate, collect, releaseOwner } from '../../../../pkg/host-local/allocator.js'
import { tempFileName } from '../../../../pkg/fsutil/atomic-write.js'
import { BOOT_DIR, DiskStore, INDEX_DIR, OWNERS_DIR, TMP_DIR, networkDir, ownerKey, readBootId } from '../../../../pkg/host-local/disk-store.js'
import type { RangeSet } from '../../../../pkg/host-local/range-set.js'

const set = (...ranges: Record<string, string>[]): RangeSet =>
  parseHostLocalConfig(parseNetConf(JSON.stringify({ cniVersion: '1.0.0', name: 'n', type: 'x', ipam: { type: 'host-local', ranges: [ranges] } }))).rangeSets[0] as RangeSet
const owner = (containerId: string, ifName = 'eth0') => ({ containerId, ifName })
const ips = (list: { bytes: Uint8Array }[]) => list.map((x) => formatIp(x.bytes)).sort()

t.test('reserve writes the reference format; a taken address is refused', async (t) => {
  const dataDir = t.testdir()
  const store = DiskStore.create({ name: 'net1', dataDir }, { bootId: 'boot-a' })
  const dir = join(dataDir, 'net1')
  t.equal(store.dir, dir)
  await store.locked(() => {
    t.equal(store.reserve(parseIp('10.0.0.5'), owner('c1'), 0), true)
    t.equal(store.reserve(parseIp('10.0.0.5'), owner('c2'), 0), false)
    t.equal(store.reserve(parseIp('fd00::1:0:0:5'), owner('c1', 'net1'), 1), true)
  })
  t.equal(readFileSync(join(dir, '10.0.0.5'), 'utf8'), 'c1\r\neth0')
  t.equal(readFileSync(join(dir, 'fd00::1:0:0:5'), 'utf8'), 'c1\r\nnet1')
  t.equal(statSync(join(dir, '10.0.0.5')).mode & 0o777, 0o600)
  t.equal(readFileSync(join(dir, 'last_reserved_ip.0'), 'utf8'), '10.0.0.5')
  t.equal(readFileSync(join(dir, 'last_reserved_ip.1'), 'utf8'), 'fd00::1:0:0:5')
  t.ok(existsSync(join(dir, 'lock')))
  t.same(readdirSync(dir).filter((f) => f.endsWith('.tmp')), [], 'no temporary file left')
  t.same(readdirSync(join(dir, TMP_DIR)), [], 'nor in .berth-tmp')
  const rec = JSON.parse(readFileSync(join(dir, BOOT_DIR, '10.0.0.5'), 'utf8')) as Record<string, unknown>
  t.same(rec, { bootId: 'boot-a', containerId: 'c1', ifName: 'eth0', ino: statSync(join(dir, '10.0.0.5')).ino })
  t.same(store.get(parseIp('10.0.0.5')), { ip: parseIp('10.0.0.5'), containerId: 'c1', ifName: 'eth0', bootId: 'boot-a' })
})

t.test('reads files the reference and older versions wrote; ignores everything that is not a reservation', async (t) => {
  const dataDir = t.testdir({
    net1: {
      '10.0.0.2': 'c1\r\neth0',
      '10.0.0.3': '  legacy-id \n', // ID only, with whitespace Go's TrimSpace removes
      '10.0.0.4': '',
      lock: '',
      'last_reserved_ip.0': '10.0.0.4',
      '.10.0.0.9.1.ab.tmp': 'x\r\ny',
      notes: 'c1\r\neth0',
      '10.0.0.7': {},
    },
  })
  const store = DiskStore.create({ name: 'net1', dataDir }, { bootId: null })
  const list = store.list()
  t.same(
    list.map((r) => [formatIp(r.ip.bytes), r.containerId, r.ifName, r.bootId]).sort(),
    [
      ['10.0.0.2', 'c1', 'eth0', undefined],
      ['10.0.0.3', 'legacy-id', undefined, undefined],
      ['10.0.0.4', '', undefined, undefined],
    ],
  )
  t.equal(formatIp(store.lastReserved(0)?.bytes ?? new Uint8Array()), '10.0.0.4')
  t.equal(store.lastReserved(1), undefined)
  writeFileSync(join(dataDir, 'net1', 'last_reserved_ip.1'), 'garbage')
  t.equal(store.lastReserved(1), undefined, 'an unreadable last address restarts round robin')
  await store.locked(() => store.sweep())
  t.notOk(existsSync(join(dataDir, 'net1', '.10.0.0.9.1.ab.tmp')), 'sweep removes leftover temporary files')
  t.ok(existsSync(join(dataDir, 'net1', 'notes')), 'and nothing else')
  t.same(releaseOwner(store, owner('legacy-id')).map((x) => formatIp(x.bytes)), ['10.0.0.3'])
})

t.test('boot records: trusted only while they describe the reservation file', async (t) => {
  const dataDir = t.testdir()
  const store = DiskStore.create({ name: 'net1', dataDir }, { bootId: 'boot-a' })
  const dir = store.dir
  await store.locked(() => {
    store.reserve(parseIp('10.0.0.2'), owner('c1'), 0)
    store.reserve(parseIp('10.0.0.3'), owner('c2'), 0)
    store.reserve(parseIp('10.0.0.4'), owner('c3'), 0)
  })
  // The reference releases 10.0.0.2 (its record stays) and reserves 10.0.0.3 again for someone else.
  const { rmSync } = await import('node:fs')
  rmSync(join(dir, '10.0.0.2'))
  rmSync(join(dir, '10.0.0.3'))
  writeFileSync(join(dir, '10.0.0.3'), 'other\r\neth0')
  // And a record that was tampered with or is from an older format.
  writeFileSync(join(dir, BOOT_DIR, '10.0.0.4'), 'not json')
  const later = DiskStore.create({ name: 'net1', dataDir }, { bootId: 'boot-b' })
  t.same(later.list().map((r) => [formatIp(r.ip.bytes), r.bootId]).sort(), [['10.0.0.3', undefined], ['10.0.0.4', undefined]])
  await later.locked(() => later.sweep())
  t.same(readdirSync(join(dir, BOOT_DIR)), [], 'records that describe nothing are swept')
})

t.test('GC over the disk store releases an earlier boot\'s reservation even when listed', async (t) => {
  const dataDir = t.testdir()
  const before = DiskStore.create({ name: 'net1', dataDir }, { bootId: 'boot-a' })
  await before.locked(() => before.reserve(parseIp('10.0.0.2'), owner('c1'), 0))
  const after = DiskStore.create({ name: 'net1', dataDir }, { bootId: 'boot-b' })
  await after.locked(() => after.reserve(parseIp('10.0.0.3'), owner('c2'), 0))
  const gone = await after.locked(() => collect(after, [owner('c1'), owner('c2')].map((o) => ({ containerID: o.containerId, ifname: o.ifName }))))
  t.same(ips(gone), ['10.0.0.2'])
  t.same(readdirSync(join(dataDir, 'net1')).sort(), ['.berth-boot', '.berth-index', '.berth-owners', '.berth-tmp', '10.0.0.3', 'last_reserved_ip.0', 'lock'])
})

t.test('the allocator against the disk: resume after the reference\'s last_reserved_ip, wrap, exhaust', async (t) => {
  const dataDir = t.testdir({ net1: { 'last_reserved_ip.0': '10.0.0.5', '10.0.0.6': 'ref\r\neth0' } })
  const store = DiskStore.create({ name: 'net1', dataDir }, { bootId: null })
  const s = set({ subnet: '10.0.0.0/29' })
  const got = await store.locked(() => ['a', 'b', 'c', 'd'].map((id) => formatIp(allocate(store, { set: s, index: 0, owner: owner(id), network: 'net1' }).ip.bytes)))
  t.same(got, ['10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5'])
  await t.rejects(
    store.locked(() => allocate(store, { set: s, index: 0, owner: owner('e'), network: 'net1' })),
    { code: 100, message: 'no IP addresses available in range set 10.0.0.1-10.0.0.6 of network net1' },
  )
  t.equal(readFileSync(join(dataDir, 'net1', 'last_reserved_ip.0'), 'utf8'), '10.0.0.5')
})

t.test('concurrent allocations (separate locks, one process) never share an address', async (t) => {
  const dataDir = t.testdir()
  const s = set({ subnet: '10.0.0.0/24' })
  const got = await Promise.all(
    Array.from({ length: 30 }, (_, i) => {
      const store = DiskStore.create({ name: 'net1', dataDir }, { bootId: null })
      return store.locked(() => formatIp(allocate(store, { set: s, index: 0, owner: owner(`c${i}`), network: 'net1' }).ip.bytes))
    }),
  )
  t.equal(new Set(got).size, 30)
})

t.test('locations: traversal is refused, a missing network is no store', async (t) => {
  const dataDir = t.testdir()
  t.throws(() => networkDir({ name: '../etc', dataDir }), { code: 7, message: /network name/ })
  t.throws(() => DiskStore.create({ name: 'a/../../b', dataDir }), { code: 7 })
  t.equal(DiskStore.openExisting({ name: 'nothing', dataDir }), undefined)
  t.same(readdirSync(dataDir), [], 'nothing created')
  mkdirSync(join(dataDir, 'x'))
  t.ok(DiskStore.openExisting({ name: 'x', dataDir }))
  writeFileSync(join(dataDir, 'f'), '')
  t.throws(() => DiskStore.openExisting({ name: 'f', dataDir }), { code: 5, message: /is not a directory/ })
})

t.test('readBootId reads the kernel\'s boot ID, undefined when it cannot', async (t) => {
  const id = readBootId()
  if (existsSync('/proc/sys/kernel/random/boot_id')) t.match(id, /^[0-9a-f-]{36}$/)
  t.equal(readBootId(join(t.testdir(), 'missing')), undefined)
})

t.test('a reservation whose bookkeeping cannot be written is undone', async (t) => {
  // last_reserved_ip.0 as a directory: the rename over it fails after the address file was linked.
  const dataDir = t.testdir({ net1: { 'last_reserved_ip.0': {} } })
  const store = DiskStore.create({ name: 'net1', dataDir }, { bootId: 'boot-a' })
  await t.rejects(
    store.locked(() => store.reserve(parseIp('10.0.0.2'), owner('c1'), 0)),
    { code: 5, message: /last_reserved_ip\.0/ },
  )
  t.same(readdirSync(join(dataDir, 'net1')).sort(), ['.berth-boot', '.berth-index', '.berth-owners', '.berth-tmp', 'last_reserved_ip.0', 'lock'])
  t.same(readdirSync(join(dataDir, 'net1', BOOT_DIR)), [])
  t.same(readdirSync(join(dataDir, 'net1', OWNERS_DIR)), [], 'no owner record for the undone reservation')
})

// The owner index: ADD, DEL and CHECK read only the attachment's own files.
const ownerFile = (dir: string, id: string, ifName: string | undefined) => join(dir, OWNERS_DIR, ownerKey(id, ifName))
const readOwner = (dir: string, id: string, ifName: string | undefined) => JSON.parse(readFileSync(ownerFile(dir, id, ifName), 'utf8')) as Record<string, unknown>
const names = (list: { ip: { bytes: Uint8Array } }[]) => list.map((r) => formatIp(r.ip.bytes)).sort()

t.test('owner index: an owner record and a hard link per reservation, both gone with the release', async (t) => {
  const dataDir = t.testdir()
  const store = DiskStore.create({ name: 'net1', dataDir }, { bootId: 'boot-a' })
  const dir = store.dir
  await store.locked(() => {
    store.reserve(parseIp('10.0.0.2'), owner('c1'), 0)
    store.reserve(parseIp('fd00::2'), owner('c1'), 1)
    store.reserve(parseIp('10.0.0.3'), owner('c2'), 0)
  })
  t.same(readOwner(dir, 'c1', 'eth0'), { containerId: 'c1', ifName: 'eth0', ips: ['10.0.0.2', 'fd00::2'] })
  t.equal(statSync(join(dir, INDEX_DIR, '10.0.0.2')).ino, statSync(join(dir, '10.0.0.2')).ino, 'the index entry is the reservation file itself')
  t.same(readdirSync(join(dir, INDEX_DIR)).sort(), ['10.0.0.2', '10.0.0.3', 'fd00::2'])
  t.same(names(store.owned(owner('c1'))), ['10.0.0.2', 'fd00::2'])
  t.same(names(store.owned(owner('c1', 'eth1'))), [])
  t.same(ips(await store.locked(() => releaseOwner(store, owner('c1')))), ['10.0.0.2', 'fd00::2'])
  t.notOk(existsSync(ownerFile(dir, 'c1', 'eth0')), 'an empty owner record is removed')
  t.same(readdirSync(join(dir, INDEX_DIR)), ['10.0.0.3'])
  t.same(readdirSync(join(dir, BOOT_DIR)), ['10.0.0.3'])
  t.same(readOwner(dir, 'c2', 'eth0'), { containerId: 'c2', ifName: 'eth0', ips: ['10.0.0.3'] })
})

t.test('owner index: an indexed directory is not read beyond the owner\'s own files', async (t) => {
  const dataDir = t.testdir()
  const store = DiskStore.create({ name: 'net1', dataDir }, { bootId: null })
  const dir = store.dir
  await store.locked(() => store.reserve(parseIp('10.0.0.2'), owner('c1'), 0))
  // A reservation of c1 that is indexed (linked) but missing from c1's record: only a scan could find it.
  // This state is never written (the record comes first); it shows that lookups trust the index.
  writeFileSync(join(dir, '10.0.0.9'), 'c1\r\neth0')
  const { linkSync } = await import('node:fs')
  linkSync(join(dir, '10.0.0.9'), join(dir, INDEX_DIR, '10.0.0.9'))
  t.same(names(await store.locked(() => store.owned(owner('c1')))), ['10.0.0.2'])
})

t.test('owner index: reservations without an index entry (the reference\'s, a crash) are indexed once', async (t) => {
  const dataDir = t.testdir({
    net1: {
      '10.0.0.5': 'ref\r\neth0', // the reference's
      '10.0.0.6': 'legacy', // an old reference's, ID only
      '10.0.0.7': 'c1\r\neth0', // berth cut by a crash between link(2) and its index
      'last_reserved_ip.0': '10.0.0.7',
    },
  })
  const store = DiskStore.create({ name: 'net1', dataDir }, { bootId: 'boot-a' })
  const dir = store.dir
  // c1 already holds 10.0.0.7: a second ADD is refused although the index did not know it.
  await t.rejects(store.locked(() => allocate(store, { set: set({ subnet: '10.0.0.0/24' }), index: 0, owner: owner('c1'), network: 'net1' })), { code: 101, message: /10\.0\.0\.7 .*already allocated to container c1/ })
  t.same(readdirSync(join(dir, INDEX_DIR)).sort(), ['10.0.0.5', '10.0.0.6', '10.0.0.7'])
  t.same(readOwner(dir, 'ref', 'eth0'), { containerId: 'ref', ifName: 'eth0', ips: ['10.0.0.5'] })
  t.same(readOwner(dir, 'legacy', undefined), { containerId: 'legacy', ifName: null, ips: ['10.0.0.6'] })
  t.same(names(store.owned(owner('ref'))), ['10.0.0.5'])
  t.same(ips(await store.locked(() => releaseOwner(store, owner('legacy', 'eth3')))), ['10.0.0.6'], 'legacy fallback through the index')
  t.same(ips(await store.locked(() => releaseOwner(store, owner('ref')))), ['10.0.0.5'])
  t.same(readdirSync(join(dir, INDEX_DIR)), ['10.0.0.7'])
})

t.test('owner index: entries without a reservation, or naming someone else\'s, are ignored and swept', async (t) => {
  const dataDir = t.testdir()
  const store = DiskStore.create({ name: 'net1', dataDir }, { bootId: 'boot-a' })
  const dir = store.dir
  await store.locked(() => {
    store.reserve(parseIp('10.0.0.2'), owner('c1'), 0)
    store.reserve(parseIp('10.0.0.3'), owner('c1', 'eth1'), 0)
  })
  const { rmSync } = await import('node:fs')
  // As the reference's DEL does: the reservation and its index link (same content) go, the records stay.
  rmSync(join(dir, '10.0.0.2'))
  rmSync(join(dir, INDEX_DIR, '10.0.0.2'))
  // And a crash-like state: a link whose reservation is gone (10.0.0.3 removed by hand), then the
  // reference reserves 10.0.0.3 again for another container.
  rmSync(join(dir, '10.0.0.3'))
  writeFileSync(join(dir, '10.0.0.3'), 'other\r\neth0')
  t.same(names(await store.locked(() => store.owned(owner('c1')))), [])
  t.same(names(await store.locked(() => store.owned(owner('c1', 'eth1')))), [], 'an address now held by someone else is not c1\'s')
  t.same(ips(await store.locked(() => releaseOwner(store, owner('c1', 'eth1')))), [], 'and DEL does not release it')
  t.equal(readFileSync(join(dir, '10.0.0.3'), 'utf8'), 'other\r\neth0')
  await store.locked(() => store.sweep())
  t.notOk(existsSync(ownerFile(dir, 'c1', 'eth0')), 'a record naming nothing is swept')
  t.notOk(existsSync(ownerFile(dir, 'c1', 'eth1')), 'so is one naming only someone else\'s address')
  t.same(readdirSync(join(dir, INDEX_DIR)), [], 'a link to a file that is not the reservation is swept')
  // Next look: 10.0.0.3 is not indexed, so it is read and indexed under its real owner.
  t.same(names(await store.locked(() => store.owned(owner('other')))), ['10.0.0.3'])
  t.equal(statSync(join(dir, INDEX_DIR, '10.0.0.3')).ino, statSync(join(dir, '10.0.0.3')).ino)
})

t.test('owner index: an unreadable owner record (cut by a crash) is rebuilt from the reservations', async (t) => {
  const dataDir = t.testdir()
  const store = DiskStore.create({ name: 'net1', dataDir }, { bootId: 'boot-a' })
  const dir = store.dir
  await store.locked(() => {
    store.reserve(parseIp('10.0.0.2'), owner('c1'), 0)
    store.reserve(parseIp('fd00::2'), owner('c1'), 1)
  })
  writeFileSync(ownerFile(dir, 'c1', 'eth0'), '')
  t.same(names(await store.locked(() => store.owned(owner('c1')))), ['10.0.0.2', 'fd00::2'])
  t.same(readOwner(dir, 'c1', 'eth0'), { containerId: 'c1', ifName: 'eth0', ips: ['10.0.0.2', 'fd00::2'] })
  writeFileSync(ownerFile(dir, 'c1', 'eth0'), JSON.stringify({ containerId: 'someone-else', ifName: 'eth0', ips: [] }))
  t.same(ips(await store.locked(() => releaseOwner(store, owner('c1')))), ['10.0.0.2', 'fd00::2'], 'a record of another owner under this name is not trusted')
})

t.test('ADD frees a candidate address an earlier boot left, without reading the other reservations', async (t) => {
  const dataDir = t.testdir()
  const s = set({ subnet: '10.0.0.0/29' })
  const before = DiskStore.create({ name: 'net1', dataDir }, { bootId: 'boot-a' })
  await before.locked(() => ['a', 'b', 'c', 'd', 'e'].forEach((id) => allocate(before, { set: s, index: 0, owner: owner(id), network: 'net1' })))
  const after = DiskStore.create({ name: 'net1', dataDir }, { bootId: 'boot-b' })
  const got = await after.locked(() => allocate(after, { set: s, index: 0, owner: owner('g'), network: 'net1' }))
  t.equal(formatIp(got.ip.bytes), '10.0.0.2', 'the full set wraps to its first address, an earlier boot\'s')
  t.equal(readFileSync(join(after.dir, '10.0.0.2'), 'utf8'), 'g\r\neth0')
  t.same(names(after.owned(owner('a'))), [], 'a\'s reservation is gone, and its owner record with it')
  t.notOk(existsSync(ownerFile(after.dir, 'a', 'eth0')))
})

t.test('what a process killed mid-reserve leaves in .berth-tmp is removed when the lock is next taken', async (t) => {
  const dataDir = t.testdir()
  const store = DiskStore.create({ name: 'net1', dataDir }, { bootId: 'boot-a' })
  const dir = store.dir
  await store.locked(() => store.reserve(parseIp('10.0.0.2'), owner('c1'), 0))
  // Killed between link(2) and the rename into the index: the temporary name is a second link to the
  // reservation. And a torn owner record's temporary file.
  const { linkSync } = await import('node:fs')
  linkSync(join(dir, '10.0.0.2'), join(dir, TMP_DIR, tempFileName(join(dir, '10.0.0.2'))))
  writeFileSync(join(dir, TMP_DIR, tempFileName(ownerFile(dir, 'c1', 'eth0'))), '{"containerId":')
  t.same(ips(await store.locked(() => releaseOwner(store, owner('c1')))), ['10.0.0.2'])
  t.same(readdirSync(join(dir, TMP_DIR)), [], 'every writer holds the lock: under it, anything there is a leftover')
  t.same(readdirSync(dir).sort(), ['.berth-boot', '.berth-index', '.berth-owners', '.berth-tmp', 'last_reserved_ip.0', 'lock'], 'and the reservation is released')
})
