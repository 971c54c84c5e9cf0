// The embedded lease store: plain files shared by every host of one machine (a rig's hosts are namespaces
// over the same file system).
//
//   <root>/networks.json                    registered networks, replaced atomically under <root>/.networks.lock
//   <root>/networks/<net>/.lock             taken for every change of the network's leases
//   <root>/networks/<net>/<a.b.c.d>-<len>   one lease per subnet (JSON), written atomically
//
// Expiry is by timestamp: an expired lease file stays until another host takes its subnet, which is how a
// host coming back finds its old subnet. Readers (list, watch) take no lock: renames are atomic.
import { watch as fsWatch, mkdirSync, readdirSync, readFileSync, rmSync, type FSWatcher } from 'node:fs'
import { join } from 'node:path'
import { CniCode, CniError } from '../errors/cni-error.js'
import { errorCode } from '../errors/sys-error.js'
import { safeJoin } from '../fsutil/safe-path.js'
import { writeFileAtomicSync } from '../fsutil/atomic-write.js'
import { withLock } from '../lock/lock.js'
import { checkAcquireRequest, checkHostId, checkNetworkName, checkTtl, decodeLease, decodeNetworkRecord, encodeLease, leaseFor, LeaseLostError, liveSorted } from './lease.js'
import { startLeaseWatch } from './lease-watch.js'
import type { AcquireRequest, Lease, LeaseStore, NetworkRecord, Watch, WatchOptions } from './store.js'
import { checkAgainstRegistered, exhaustedError, pickSubnet, subnetAt, subnetIndex, subnetSpace } from './subnet-alloc.js'

export interface FileStoreOptions {
  path: string
  /** the clock (tests inject one) */
  now?: () => number
  /** the random source of the subnet choice (tests inject one) */
  random?: () => number
  /** how long a change waits for another host's lock before code 11 */
  lockTimeoutMs?: number
  /** watch safety-net re-list period */
  resyncMs?: number
}

const fileOf = (subnet: string) => subnet.replace('/', '-')

export class FileLeaseStore implements LeaseStore {
  readonly root: string
  readonly #now: () => number
  readonly #random: () => number
  readonly #lockTimeoutMs: number
  readonly #resyncMs: number

  constructor(opts: FileStoreOptions) {
    this.root = opts.path
    this.#now = opts.now ?? Date.now
    this.#random = opts.random ?? Math.random
    this.#lockTimeoutMs = opts.lockTimeoutMs ?? 10_000
    this.#resyncMs = opts.resyncMs ?? 5000
  }

  async registerNetwork(rec: NetworkRecord): Promise<void> {
    checkNetworkName(rec.network)
    this.#mkdir(this.root)
    await withLock(
      join(this.root, '.networks.lock'),
      () => {
        const all = this.#readNetworks()
        if (checkAgainstRegistered(rec, all)) return
        const { network, clusterCidr, subnetLen, vni } = rec
        all.push({ network, clusterCidr, subnetLen, vni })
        writeFileAtomicSync(join(this.root, 'networks.json'), JSON.stringify({ networks: all }, null, 2) + '\n', { mode: 0o644 })
      },
      { timeoutMs: this.#lockTimeoutMs },
    )
  }

  async getNetwork(network: string): Promise<NetworkRecord | undefined> {
    checkNetworkName(network)
    return this.#readNetworks().find((r) => r.network === network)
  }

  async acquire(req: AcquireRequest): Promise<Lease> {
    checkAcquireRequest(req)
    const space = subnetSpace(await this.#network(req.network))
    const dir = this.#netDir(req.network)
    return this.#locked(dir, () => {
      const now = this.#now()
      const files = this.#readLeases(req.network)
      const mine = files.filter((l) => l.hostId === req.hostId)
      const live = mine.filter((l) => l.expiresAt > now && subnetIndex(space, l.subnet) !== undefined)
      // Order of preference: the host's live lease, the subnet it asks for, its expired lease, a free subnet.
      let subnet = live[0]?.subnet
      const free = (s: string) => {
        const held = files.find((l) => l.subnet === s)
        return subnetIndex(space, s) !== undefined && (held === undefined || held.hostId === req.hostId || held.expiresAt <= now)
      }
      if (subnet === undefined && req.preferSubnet !== undefined && free(req.preferSubnet)) subnet = req.preferSubnet
      subnet ??= mine.find((l) => free(l.subnet))?.subnet
      if (subnet === undefined) {
        const taken = new Set<number>()
        const avoid = new Set<number>()
        for (const l of files) {
          const i = subnetIndex(space, l.subnet)
          if (i !== undefined) (l.expiresAt > now ? taken : avoid).add(i)
        }
        const i = pickSubnet(space, taken, avoid, this.#random)
        if (i === undefined) throw exhaustedError(space, req.network)
        subnet = subnetAt(space, i)
      }
      // One lease per host: drop any other file of this host (an old layout, a preferSubnet move).
      for (const l of mine) if (l.subnet !== subnet) rmSync(join(dir, fileOf(l.subnet)), { force: true })
      const lease = leaseFor(req, subnet, now)
      writeFileAtomicSync(join(dir, fileOf(subnet)), encodeLease(lease), { mode: 0o644 })
      return lease
    })
  }

  async renew(lease: Lease, ttlMs: number): Promise<Lease> {
    checkNetworkName(lease.network)
    checkHostId(lease.hostId)
    checkTtl(ttlMs)
    const dir = this.#netDir(lease.network)
    return this.#locked(dir, () => {
      const held = this.#readLease(lease.network, lease.subnet)
      if (held === undefined || held.hostId !== lease.hostId) throw new LeaseLostError(lease.network, lease.hostId, lease.subnet)
      const renewed: Lease = { ...lease, expiresAt: this.#now() + ttlMs }
      writeFileAtomicSync(join(dir, fileOf(lease.subnet)), encodeLease(renewed), { mode: 0o644 })
      return renewed
    })
  }

  async release(network: string, hostId: string): Promise<void> {
    checkNetworkName(network)
    checkHostId(hostId)
    const dir = this.#netDir(network)
    await this.#locked(dir, () => {
      for (const l of this.#readLeases(network)) if (l.hostId === hostId) rmSync(join(dir, fileOf(l.subnet)), { force: true })
    })
  }

  async list(network: string): Promise<Lease[]> {
    checkNetworkName(network)
    return liveSorted(this.#readLeases(network), this.#now())
  }

  watch(network: string, onChange: (leases: Lease[]) => void, opts?: WatchOptions): Watch {
    checkNetworkName(network)
    const dir = this.#netDir(network)
    return startLeaseWatch(
      {
        list: () => this.list(network),
        subscribe: (kick, report) => {
          this.#mkdir(dir)
          let w: FSWatcher | undefined
          try {
            w = fsWatch(dir, { persistent: true }, kick)
            // A watcher that breaks (directory removed) leaves the periodic re-list in charge.
            w.on('error', () => w?.close())
          } catch (e) {
            report(new CniError(CniCode.IoFailure, `cannot watch ${dir}: ${errorCode(e) ?? String(e)}; changes are noticed by periodic re-reads only`))
          }
          return () => w?.close()
        },
        now: this.#now,
        resyncMs: this.#resyncMs,
        expiryTimer: true,
      },
      onChange,
      opts,
    )
  }

  async close(): Promise<void> {
    // Nothing held between calls: every change opens, locks and closes its own files.
  }

  #netDir(network: string): string {
    return safeJoin(this.root, ['networks', network], { what: 'network name' })
  }

  async #network(network: string): Promise<NetworkRecord> {
    const rec = await this.getNetwork(network)
    if (rec === undefined) {
      throw new CniError(CniCode.InvalidConfig, `overlay network ${network} is not registered in the file store at ${this.root}; register it (the plugin's ADD does) before acquiring leases`)
    }
    return rec
  }

  #locked<T>(dir: string, fn: () => T): Promise<T> {
    this.#mkdir(dir)
    return withLock(join(dir, '.lock'), fn, { timeoutMs: this.#lockTimeoutMs })
  }

  #mkdir(dir: string): void {
    try {
      mkdirSync(dir, { recursive: true, mode: 0o755 })
    } catch (e) {
      throw new CniError(CniCode.IoFailure, `cannot create the overlay store directory ${dir}: ${errorCode(e) ?? String(e)}`, undefined, { cause: e })
    }
  }

  #readNetworks(): NetworkRecord[] {
    const path = join(this.root, 'networks.json')
    let text: string
    try {
      text = readFileSync(path, 'utf8')
    } catch (e) {
      if (errorCode(e) === 'ENOENT') return []
      throw new CniError(CniCode.IoFailure, `cannot read ${path}: ${errorCode(e) ?? String(e)}`, undefined, { cause: e })
    }
    let v: unknown
    try {
      v = JSON.parse(text)
    } catch {
      throw new CniError(CniCode.DecodingFailure, `${path} is not valid JSON; fix or remove it (it lists the registered overlay networks)`)
    }
    const list = typeof v === 'object' && v !== null && 'networks' in v && Array.isArray(v.networks) ? v.networks : undefined
    const recs = list?.map(decodeNetworkRecord)
    if (recs === undefined || recs.some((r) => r === undefined)) {
      throw new CniError(CniCode.DecodingFailure, `${path} does not hold {"networks": [...]} records; fix or remove it`)
    }
    return recs as NetworkRecord[]
  }

  /** The lease file of one subnet (renewals read just that one), or undefined. */
  #readLease(network: string, subnet: string): Lease | undefined {
    // A subnet that is not a plain IPv4 CIDR cannot name a lease file (and must not reach a path).
    if (!/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/.test(subnet)) return undefined
    const path = safeJoin(this.#netDir(network), fileOf(subnet), { what: 'subnet' })
    let text: string
    try {
      text = readFileSync(path, 'utf8')
    } catch (e) {
      if (errorCode(e) === 'ENOENT') return undefined
      throw new CniError(CniCode.IoFailure, `cannot read lease ${path}: ${errorCode(e) ?? String(e)}`, undefined, { cause: e })
    }
    const lease = decodeLease(text)
    return lease !== undefined && lease.network === network && lease.subnet === subnet ? lease : undefined
  }

  /** Every lease file of the network, live or expired; files that do not decode, or whose name does not match, are ignored. */
  #readLeases(network: string): Lease[] {
    const dir = this.#netDir(network)
    let names: string[]
    try {
      names = readdirSync(dir)
    } catch (e) {
      if (errorCode(e) === 'ENOENT') return []
      throw new CniError(CniCode.IoFailure, `cannot read the overlay store directory ${dir}: ${errorCode(e) ?? String(e)}`, undefined, { cause: e })
    }
    const out: Lease[] = []
    for (const name of names) {
      if (name.startsWith('.')) continue
      let text: string
      try {
        text = readFileSync(join(dir, name), 'utf8')
      } catch (e) {
        if (errorCode(e) === 'ENOENT') continue // released between readdir and read
        throw new CniError(CniCode.IoFailure, `cannot read lease ${join(dir, name)}: ${errorCode(e) ?? String(e)}`, undefined, { cause: e })
      }
      const lease = decodeLease(text)
      if (lease !== undefined && lease.network === network && fileOf(lease.subnet) === name) out.push(lease)
    }
    return out
  }
}
