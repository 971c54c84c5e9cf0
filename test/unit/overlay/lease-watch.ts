// The shared watch over a fake source: reports changes only, never an empty list on failure, throttles error
// reports, re-lists at the next expiry by itself, and stops on close.
import t from 'tap'
import { CniError } from '../../../pkg/errors/cni-error.js'
import { startLeaseWatch, type LeaseWatchSource } from '../../../pkg/overlay/lease-watch.js'
import type { Lease } from '../../../pkg/overlay/store.js'

const lease = (n: number, expiresAt = Date.now() + 3600_000): Lease => ({ network: 'ov', subnet: `10.244.${n}.0/24`, hostId: `host${n}`, publicIp: `192.168.0.${n}`, vtepMac: `02:00:00:00:00:0${n}`, expiresAt })

function fake(over: Partial<LeaseWatchSource> = {}) {
  const state = { leases: [] as Lease[], fail: false, lists: 0, kick: () => undefined as void, report: (_e: CniError) => undefined as void, unsubscribed: false }
  const src: LeaseWatchSource = {
    list: async () => {
      state.lists++
      if (state.fail) throw new Error('store down')
      return state.leases.filter((l) => l.expiresAt > Date.now())
    },
    subscribe: (kick, report) => {
      state.kick = kick
      state.report = report
      return () => (state.unsubscribed = true)
    },
    now: Date.now,
    resyncMs: 3600_000,
    expiryTimer: false,
    ...over,
  }
  return { state, src }
}

/** Resolves once `cond` holds (checked every few ms); the tap timeout catches a hang. */
async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 5))
}

t.test('the initial list, then only real changes', async (t) => {
  const { state, src } = fake()
  state.leases = [lease(1)]
  const seen: string[][] = []
  const w = startLeaseWatch(src, (ls) => seen.push(ls.map((l) => l.hostId)))
  t.teardown(() => w.close())
  await until(() => seen.length === 1)
  t.same(seen, [['host1']])
  state.leases = [{ ...lease(1), expiresAt: Date.now() + 7200_000 }] // a renewal
  state.kick()
  await until(() => state.lists === 2)
  state.leases = [lease(1), lease(2)]
  state.kick()
  await until(() => seen.length === 2)
  t.same(seen, [['host1'], ['host1', 'host2']], 'the renewal fired nothing, the join did')
  // A burst of hints is gathered into one re-list.
  const before = state.lists
  for (let i = 0; i < 20; i++) state.kick()
  await until(() => state.lists > before)
  await new Promise((r) => setTimeout(r, 50))
  t.ok(state.lists - before <= 2, `20 hints, ${state.lists - before} re-list(s)`)
})

t.test('a failing store: the error is reported once, the last list stays, recovery re-lists', async (t) => {
  const { state, src } = fake({ resyncMs: 20 })
  state.leases = [lease(1), lease(2)]
  const seen: string[][] = []
  const errors: string[] = []
  const w = startLeaseWatch(src, (ls) => seen.push(ls.map((l) => l.hostId)), { onError: (e) => errors.push(e.message) })
  t.teardown(() => w.close())
  await until(() => seen.length === 1)
  state.fail = true
  state.report(new CniError(11, 'watch stream dropped')) // what a source says when its stream breaks
  const at = state.lists
  await until(() => state.lists >= at + 3) // several failed re-lists (retried at most every second, here every 20 ms)
  t.same(errors, ['watch stream dropped'], 'reported once; repeats within 30 s are dropped')
  t.same(seen, [['host1', 'host2']], 'no empty list was reported')
  state.leases = [lease(2)]
  state.fail = false
  await until(() => seen.length === 2)
  t.same(seen[1], ['host2'], 'the change made while the store was down shows once it is back')
  state.fail = true
  await until(() => errors.length === 2)
  t.match(errors[1], /watching leases failed: store down/, 'after a success, a new failure is reported again')
})

t.test('with expiryTimer the watch re-lists when the earliest lease expires, without any hint', async (t) => {
  const { state, src } = fake({ expiryTimer: true })
  state.leases = [lease(1), lease(2, Date.now() + 150)]
  const seen: string[][] = []
  const w = startLeaseWatch(src, (ls) => seen.push(ls.map((l) => l.hostId)))
  t.teardown(() => w.close())
  await until(() => seen.length === 2)
  t.same(seen, [['host1', 'host2'], ['host1']])
})

t.test('close stops everything', async (t) => {
  const { state, src } = fake({ resyncMs: 10 })
  let fired = 0
  const w = startLeaseWatch(src, () => fired++)
  await until(() => fired === 1 && state.lists >= 2)
  w.close()
  w.close()
  t.ok(state.unsubscribed, 'unsubscribed from the source')
  const lists = state.lists
  state.leases = [lease(1)]
  state.kick()
  await new Promise((r) => setTimeout(r, 60))
  t.ok(state.lists <= lists + 1, 'no re-lists after close (one may have been under way)')
  t.equal(fired, 1, 'no events after close')
})
