// The per-host agent of one overlay network (`berth overlay agent --net NAME`): holds the host's lease
// (renewed at a third of its TTL), watches the store and reconciles routes/neighbours/FDB to the live
// leases as soon as the set changes (a join, a release, an expiry). Reconciling is diff-based and stopping
// removes nothing, so restarting the agent disturbs no traffic. While the store is unreachable the data
// path stays as it was; when the store returns, the watch re-lists and the agent resyncs.
import { CniCode, CniError } from '../errors/cni-error.js'
import { describe } from '../errors/describe.js'
import { linkByName } from '../link/link.js'
import { openRtnl, type Rtnl } from '../link/rtnl.js'
import type { Log } from '../log/log.js'
import type { NetnsHandle } from '../ns/netns.js'
import type { OverlayNetwork } from './config.js'
import { prepareHost, syncPeers, type HostSide } from './host.js'
import { LeaseLostError } from './lease.js'
import type { ReconcileStats } from './reconcile.js'
import { openStore, type Lease, type LeaseStore, type Watch } from './store.js'

export interface AgentOptions {
  net: OverlayNetwork
  /** the host namespace (undefined: the agent's own) */
  ns?: NetnsHandle
  log: Log
  /** aborting stops the agent (it leaves the host's state as it is) */
  signal: AbortSignal
  /** how often the kernel is compared with the last lease list even without changes (drift); default 10 s */
  resyncMs?: number
  /** how long to wait before retrying a store that cannot be reached at start; default 1 s */
  retryMs?: number
  /** called after each reconcile pass (tests, benchmarks) */
  onSync?: (leases: readonly Lease[], stats: ReconcileStats) => void
  /** called once the host side is ready (lease held, VTEP up) */
  onReady?: (host: HostSide) => void
  /** default: openStore(net.store) */
  store?: LeaseStore
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms)
    signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true })
  })

const isTryAgain = (e: unknown) => e instanceof CniError && e.code === CniCode.TryAgainLater

/** Runs until `signal` aborts. Rejects only on errors retrying cannot fix (bad configuration, kernel refusals at start). */
export async function runAgent(o: AgentOptions): Promise<void> {
  const { net, log, signal } = o
  const store = o.store ?? openStore(net.store)
  let rt: Rtnl | undefined
  let watch: Watch | undefined
  const timers: NodeJS.Timeout[] = []
  try {
    rt = openRtnl(o.ns)
    const r = rt
    // 1. The host side; an unreachable store is waited for, anything else is fatal.
    let host: HostSide | undefined
    while (host === undefined && !signal.aborted) {
      try {
        host = await prepareHost({ rt: r, ns: o.ns, net, store, log })
      } catch (e) {
        if (!isTryAgain(e)) throw e
        log.warn(`store unreachable, retrying: ${describe(e)}`)
        await sleep(o.retryMs ?? 1000, signal)
      }
    }
    if (host === undefined) return
    let h: HostSide = host
    log.info(`network ${net.name}: holding ${h.lease.subnet} (VTEP ${h.vtep.mac} on ${h.underlay.ip})`)
    o.onReady?.(h)

    // 2. Reconcile passes, one at a time; a request while one runs makes one more pass afterwards.
    let leases: Lease[] | undefined
    let running = false
    let again = false
    const sync = async (): Promise<void> => {
      if (leases === undefined || signal.aborted) return
      if (running) {
        again = true
        return
      }
      running = true
      try {
        do {
          again = false
          const ls = leases
          try {
            const stats = await syncPeers(r, net, h, ls)
            if (stats.added + stats.removed > 0) log.info(`network ${net.name}: ${ls.length} leases, ${stats.added} entries set, ${stats.removed} removed`)
            o.onSync?.(ls, stats)
          } catch (e) {
            log.warn(`reconcile failed (retrying at the next change or resync): ${describe(e)}`)
          }
        } while (again && !signal.aborted)
      } finally {
        running = false
      }
    }
    watch = store.watch(
      net.name,
      (ls) => {
        log.debug(`store: ${ls.length} live leases`)
        leases = ls
        void sync()
      },
      { onError: (e) => log.warn(`store unreachable; keeping the data path as it is: ${e.message}`) },
    )

    // 3. Renewal at a third of the TTL; a lost lease is acquired again (possibly another subnet).
    const renew = async () => {
      try {
        h = { ...h, lease: await store.renew(h.lease, net.leaseTtlMs) }
        log.debug(`renewed ${h.lease.subnet} until ${new Date(h.lease.expiresAt).toISOString()}`)
      } catch (e) {
        if (e instanceof LeaseLostError) {
          log.warn(`lease on ${h.lease.subnet} lost; acquiring again`)
          try {
            h = await prepareHost({ rt: r, ns: o.ns, net, store, log })
            o.onReady?.(h)
            void sync()
          } catch (e2) {
            log.warn(`re-acquiring the lease failed: ${describe(e2)}`)
          }
        } else log.warn(`lease renewal failed (will retry): ${describe(e)}`)
      }
    }
    timers.push(setInterval(() => void renew(), Math.max(100, Math.floor(net.leaseTtlMs / 3))))
    // Drift: compare the kernel with the last list; a VXLAN device that vanished is made again first.
    const resync = async () => {
      try {
        if ((await linkByName(r, net.vxlanName)) === undefined) {
          log.warn(`VXLAN device ${net.vxlanName} is gone; making it again`)
          h = await prepareHost({ rt: r, ns: o.ns, net, store, log })
          o.onReady?.(h)
        }
      } catch (e) {
        log.warn(`repairing the host side failed (will retry): ${describe(e)}`)
        return
      }
      await sync()
    }
    timers.push(setInterval(() => void resync(), o.resyncMs ?? 10_000))
    // The intervals keep the process alive until the abort.
    await new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })))
  } finally {
    for (const t of timers) clearInterval(t)
    watch?.close()
    rt?.close()
    await store.close().catch((e: unknown) => log.warn(`closing the store: ${describe(e)}`))
  }
}
