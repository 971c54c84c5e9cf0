// daemon/scheduling.ts: the in-flight bound with its queue deadline, and per-key ordering.
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { KeyedSerializer, Slots } from '../../../daemon/scheduling.js'

t.test('at most N at once; waiters are served in order; a waiter past its deadline gets nothing', async (t) => {
  const slots = new Slots(2)
  const a = await slots.acquire(1000)
  const b = await slots.acquire(1000)
  t.equal(slots.inUse, 2)
  const order: string[] = []
  const c = slots.acquire(1000).then((r) => (order.push('c'), r))
  const d = slots.acquire(1000).then((r) => (order.push('d'), r))
  const late = slots.acquire(20)
  t.equal(slots.waiting, 3)
  t.equal(await late, undefined, 'deadline passed')
  t.equal(slots.waiting, 2)
  a?.()
  a?.() // a second release of the same slot frees nothing more
  const rc = await c
  t.equal(slots.inUse, 2, 'the freed slot went straight to the next waiter')
  b?.()
  const rd = await d
  t.same(order, ['c', 'd'])
  rc?.()
  rd?.()
  t.equal(slots.inUse, 0)
  t.equal(slots.waiting, 0)
})

t.test('one key runs in arrival order, other keys run alongside, failures do not block the key', async (t) => {
  const s = new KeyedSerializer()
  const log: string[] = []
  const job = (name: string, ms: number, fail = false) => async () => {
    log.push(`start ${name}`)
    await sleep(ms)
    log.push(`end ${name}`)
    if (fail) throw new Error(name)
    return name
  }
  const p1 = s.run('k', job('a1', 30, true))
  const p2 = s.run('k', job('a2', 1))
  const p3 = s.run('other', job('b', 5))
  await t.rejects(p1, /a1/)
  t.equal(await p2, 'a2')
  t.equal(await p3, 'b')
  t.ok(log.indexOf('end a1') < log.indexOf('start a2'), 'a2 waited for a1')
  t.ok(log.indexOf('start b') < log.indexOf('end a1'), 'b did not wait for key k')
  await sleep(1)
  t.equal(s.keys, 0, 'no key is remembered once its calls are done')
})
