// The watch both stores share: re-list on every hint that something changed (a file event, an etcd event),
// at the next lease expiry, and periodically as a safety net; report the list only when it differs from the
// last one reported (renewals do not count); on failure keep the last list and report the error instead.
import { CniCode, CniError } from '../errors/cni-error.js'
import { describe } from '../errors/describe.js'
import { leaseSetKey } from './lease.js'
import type { Lease, Watch, WatchOptions } from './store.js'

export interface LeaseWatchSource {
  list(): Promise<Lease[]>
  /** starts delivering change hints to `kick` (and trouble to `report`); returns the function that stops them */
  subscribe(kick: () => void, report: (e: CniError) => void): () => void
  now(): number
  /** re-list this often even without hints (ms) */
  resyncMs: number
  /** re-list when the earliest lease expires (the file store; etcd deletes expired keys itself) */
  expiryTimer: boolean
}

/** how long a burst of hints (a write is several file events) is gathered before one re-list */
const DEBOUNCE_MS = 15
/** a re-list after the expiry instant, so the lease is past it when we look */
const EXPIRY_SLACK_MS = 5
/** while the store stays unreachable, onError is called again at most this often */
const ERROR_REPEAT_MS = 30_000

export function startLeaseWatch(src: LeaseWatchSource, onChange: (leases: Lease[]) => void, opts: WatchOptions = {}): Watch {
  let closed = false
  let lastKey: string | undefined
  let running = false
  let again = false
  let timer: NodeJS.Timeout | undefined
  let debounce: NodeJS.Timeout | undefined
  // The first error after a success is reported at once, repeats of it only every ERROR_REPEAT_MS.
  let lastErrorAt: number | undefined
  const report = (e: CniError) => {
    const now = Date.now()
    if (closed || (lastErrorAt !== undefined && now - lastErrorAt < ERROR_REPEAT_MS)) return
    lastErrorAt = now
    opts.onError?.(e)
  }

  const schedule = (ms: number) => {
    if (closed) return
    if (timer !== undefined) clearTimeout(timer)
    timer = setTimeout(() => void refresh(), Math.max(0, ms))
  }

  const refresh = async (): Promise<void> => {
    if (closed) return
    if (running) {
      again = true
      return
    }
    running = true
    let next = src.resyncMs
    try {
      const leases = await src.list()
      if (closed) return
      lastErrorAt = undefined
      const key = leaseSetKey(leases)
      if (key !== lastKey) {
        lastKey = key
        onChange(leases)
      }
      if (src.expiryTimer && leases.length > 0) {
        const first = Math.min(...leases.map((l) => l.expiresAt))
        next = Math.min(next, first - src.now() + EXPIRY_SLACK_MS)
      }
    } catch (e) {
      report(e instanceof CniError ? e : new CniError(CniCode.TryAgainLater, `watching leases failed: ${describe(e)}`, undefined, { cause: e }))
      // Retry soon, but not in a tight loop against a store that is down.
      next = Math.min(next, 1000)
    } finally {
      running = false
    }
    if (closed) return
    if (again) {
      again = false
      schedule(0)
    } else schedule(next)
  }

  const kick = () => {
    if (closed || debounce !== undefined) return
    debounce = setTimeout(() => {
      debounce = undefined
      void refresh()
    }, DEBOUNCE_MS)
  }

  const unsubscribe = src.subscribe(kick, report)
  void refresh()
  return {
    close() {
      if (closed) return
      closed = true
      if (timer !== undefined) clearTimeout(timer)
      if (debounce !== undefined) clearTimeout(debounce)
      unsubscribe()
    },
  }
}
