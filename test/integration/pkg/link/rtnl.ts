// The handle model: a socket opened in namespace A keeps operating on A after the thread is back home;
// requests are serialised per handle; close() releases the socket.
import t from 'tap'
import { readdirSync, readlinkSync } from 'node:fs'
import { openRtnl } from '../../../../pkg/link/rtnl.js'
import { createVethPair } from '../../../../pkg/link/veth.js'
import { getLink, linkByName, listLinks } from '../../../../pkg/link/link.js'
import { NetnsHandle } from '../../../../pkg/ns/netns.js'
import { needsRoot } from '../../../helpers/privileges.js'
import { uniqueName } from '../../../helpers/names.js'
import { createTestNetns } from '../../../helpers/netns.js'
import { createRtnlNetns } from '../../../helpers/rtnl-ns.js'
import { execFileSync } from 'node:child_process'

const socketFds = (): number => readdirSync('/proc/self/fd').filter((f) => {
  try {
    return readlinkSync(`/proc/self/fd/${f}`).startsWith('socket:')
  } catch {
    return false
  }
}).length

t.test('a socket opened in A keeps operating on A', { skip: needsRoot() }, async (t) => {
  const home = NetnsHandle.current()
  t.teardown(() => home.close())
  const a = await createTestNetns(t)
  const ah = NetnsHandle.open(a.path)
  t.teardown(() => ah.close())
  const rt = openRtnl(ah)
  t.teardown(() => rt.close())
  t.equal(rt.netns, a.path)

  const here = NetnsHandle.current()
  t.ok(here.equals(home), 'the thread is back in its own namespace after openRtnl')
  here.close()

  // Let the event loop turn a few times (libuv work, timers) before using the socket.
  await new Promise((r) => setTimeout(r, 20))
  const name = uniqueName('ns')
  await createVethPair(rt, { name, peerName: `${name}p` })
  t.ok(JSON.parse(a.exec('ip', ['-j', 'link', 'show', name])).length === 1, 'the link is in A')
  let inHost = true
  try {
    execFileSync('ip', ['link', 'show', name], { stdio: 'ignore' })
  } catch {
    inHost = false
  }
  t.notOk(inHost, 'and not in the namespace the thread is in')
  t.same((await listLinks(rt)).map((l) => l.name).sort(), ['lo', name, `${name}p`].sort(), 'the listing is of A')
})

t.test('two handles used concurrently stay apart', { skip: needsRoot() }, async (t) => {
  const a = await createRtnlNetns(t)
  const b = await createRtnlNetns(t)
  await Promise.all(
    Array.from({ length: 8 }, (_, i) => [
      createVethPair(a.rt, { name: `a${i}`, peerName: `a${i}p` }),
      createVethPair(b.rt, { name: `b${i}`, peerName: `b${i}p` }),
    ]).flat(),
  )
  const inA = (a.ns.ipJson(['link', 'show']) as { ifname: string }[]).map((l) => l.ifname)
  const inB = (b.ns.ipJson(['link', 'show']) as { ifname: string }[]).map((l) => l.ifname)
  t.equal(inA.filter((n) => n.startsWith('a')).length, 16)
  t.equal(inA.filter((n) => n.startsWith('b')).length, 0)
  t.equal(inB.filter((n) => n.startsWith('b')).length, 16)
  t.equal(inB.filter((n) => n.startsWith('a')).length, 0)
})

t.test('many requests in flight on one handle (dumps included) are serialised', { skip: needsRoot() }, async (t) => {
  const { rt } = await createRtnlNetns(t)
  await createVethPair(rt, { name: 'x0', peerName: 'x1' })
  const results = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? listLinks(rt) : getLink(rt, 'x0'))))
  t.ok(results.every((r) => (Array.isArray(r) ? r.length === 3 : r.name === 'x0')), 'every dump complete, every get answered')
})

t.test('close() releases the socket and fails later requests', { skip: needsRoot() }, async (t) => {
  const a = await createTestNetns(t)
  const ah = NetnsHandle.open(a.path)
  t.teardown(() => ah.close())
  const before = socketFds()
  const rt = openRtnl(ah)
  t.equal(socketFds(), before + 1, 'one socket while open')
  await listLinks(rt)
  const pending = listLinks(rt)
  rt.close()
  rt.close()
  t.equal(socketFds(), before, 'closed (and close is idempotent)')
  await t.rejects(pending, { name: 'NetlinkError', code: 'EBADF', op: 'list links' }, 'a request queued before close fails')
  await t.rejects(linkByName(rt, 'lo'), { name: 'NetlinkError', code: 'EBADF', op: 'get link', target: 'lo' })
})
