// The namespace half of the native facade, against the real kernel.
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { existsSync, readlinkSync, statSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createNetns, deleteNetns, NetnsHandle, NetnsNotFoundError, netnsFileKey, withNetnsSync } from '../../../pkg/ns/netns.js'
import { native } from '../../../native/index.js'
import { CLONE_NEWNET } from '../../../native/binding.js'
import { SysError } from '../../../pkg/errors/sys-error.js'
import { CniError } from '../../../pkg/errors/cni-error.js'
import { needsRoot } from '../../helpers/privileges.js'
import { uniqueName } from '../../helpers/names.js'
import { createTestNetns } from '../../helpers/netns.js'

const skip = needsRoot()
const threadNs = () => readlinkSync('/proc/thread-self/ns/net')

t.test('create a persistent namespace under /run/netns, visible to ip netns, then delete it', { skip }, async (t) => {
  const name = uniqueName('ns')
  t.teardown(() => deleteNetns(name))
  const path = createNetns(name)
  t.equal(path, `/run/netns/${name}`)
  t.match(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }), name)
  // It is a real, separate namespace: only lo inside.
  const links = JSON.parse(execFileSync('ip', ['-n', name, '-j', 'link'], { encoding: 'utf8' })) as { ifname: string }[]
  t.same(links.map((l) => l.ifname), ['lo'])
  const h = NetnsHandle.open(path)
  const cur = NetnsHandle.current()
  t.not(h.id, cur.id)
  t.notOk(h.equals(cur))
  t.ok(NetnsHandle.open(path).equals(h), 'two handles of one namespace are equal')
  h.close()
  cur.close()
  t.throws(() => createNetns(name), { name: 'CniError', code: 101, message: /already exists/ })
  deleteNetns(name)
  t.notOk(existsSync(path))
  t.doesNotThrow(() => deleteNetns(name), 'deleting twice is fine')
})

t.test('create a namespace at a given path', { skip }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-ns-'))
  const path = join(dir, 'myns')
  t.teardown(() => {
    deleteNetns(path)
    rmSync(dir, { recursive: true, force: true })
  })
  createNetns(path)
  const h = NetnsHandle.open(path)
  t.not(h.id, NetnsHandle.current().id)
  h.close()
})

t.test('withNetnsSync runs inside and always switches back', { skip }, async (t) => {
  const ns = await createTestNetns(t)
  const h = NetnsHandle.open(ns.path)
  t.teardown(() => h.close())
  const host = threadNs()
  const inside = withNetnsSync(h, () => threadNs())
  t.equal(inside, `net:[${statSync(ns.path).ino}]`)
  t.equal(threadNs(), host, 'back in the host namespace')
  t.throws(() => withNetnsSync(h, () => {
    throw new Error('inner failure')
  }), { message: 'inner failure' })
  t.equal(threadNs(), host, 'back after an exception')
  t.throws(() => withNetnsSync(h, () => Promise.resolve(1)), TypeError)
  t.equal(threadNs(), host, 'back after a rejected async callback')
  // sysfs-free proof that the switch is real: the test namespace has only lo
  const devs = withNetnsSync(h, () => execFileSync('cat', ['/proc/net/dev'], { encoding: 'utf8' }))
  t.notMatch(devs, /eth|ens|veth/, 'a child forked inside sees the namespace')
})

t.test('opening what is not a namespace fails with code 4 naming the path', { skip }, async (t) => {
  const missing = `/run/netns/${uniqueName('no')}`
  const err = t.throws(() => NetnsHandle.open(missing), { code: 4, errnoCode: 'ENOENT' })
  t.ok(err instanceof NetnsNotFoundError)
  t.match((err as Error).message, missing)
  const dir = mkdtempSync(join(tmpdir(), 'berth-ns-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'plain')
  writeFileSync(file, 'x')
  t.ok(t.throws(() => NetnsHandle.open(file), { code: 4, message: /not a network namespace/ }) instanceof CniError)
})

t.test('invalid names are rejected before anything is created', { skip }, async (t) => {
  t.throws(() => createNetns('..'), { code: 7 })
  t.throws(() => createNetns('bad name'), { code: 7 })
})

t.test('syscall failures are SysErrors with the syscall and errno code', { skip }, async (t) => {
  const n = native()
  const e1 = t.throws(() => n.setns(987654, CLONE_NEWNET), { syscall: 'setns', code: 'EBADF', errno: 9, message: 'setns fd 987654: EBADF' })
  t.ok(e1 instanceof SysError, 'the JS class handed to the addon')
  t.throws(() => n.umount2('/nonexistent-berth-path', 0), { name: 'SysError', code: 'ENOENT', path: '/nonexistent-berth-path' })
  t.throws(() => (n.setns as unknown as (x: string) => void)('nope'), TypeError, 'C++ re-checks argument types')
})

t.test('netnsFileKey: dev, inode and the never-reused cookie; another namespace read without moving this thread', { skip }, async (t) => {
  const own = netnsFileKey()
  const st = statSync('/proc/thread-self/ns/net')
  t.match(own, new RegExp(`^${st.dev}-${st.ino}-\\d+$`))
  t.equal(netnsFileKey('/proc/self/ns/net'), own, 'the same namespace by another path')
  const ns = await createTestNetns(t)
  const other = netnsFileKey(ns.path)
  const ost = statSync(ns.path)
  t.match(other, new RegExp(`^${ost.dev}-${ost.ino}-\\d+$`))
  t.not(other.split('-')[2], own.split('-')[2], 'another cookie')
  t.equal(netnsFileKey(ns.path), other, 'stable')
  t.equal(readlinkSync('/proc/thread-self/ns/net'), `net:[${st.ino}]`, 'this thread is back home')
  // Namespaces made and dropped in a row: a reused inode never gives a key seen before.
  const seen = new Set<string>([own, other])
  for (let i = 0; i < 20; i++) {
    const n = await createTestNetns(t)
    const key = netnsFileKey(n.path)
    t.notOk(seen.has(key), `key ${key} is new`)
    seen.add(key)
    n.destroy()
  }
})
