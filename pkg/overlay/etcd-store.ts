// The lease store on etcd v3 (through etcd-client.ts: npm etcd3, imported on first use).
//
// Keys under the prefix (default /berth/overlay):
//   networks                      {"networks": [NetworkRecord...]}, replaced by compare-and-swap on its revision
//   leases/<net>/<a.b.c.d>-<len>  one lease (JSON) per subnet, attached to an etcd lease with the lease's TTL
//   hosts/<net>/<hostId>          the subnet the host held last (no TTL): a host coming back gets it again
//
// Allocation is one transaction: "the subnet key was never created (create_revision 0) and the host's record is
// as read", then put both. Two hosts racing for a subnet cannot both win; a host racing with itself (plugin ADD and
// agent) cannot take two subnets. Expiry is etcd's: a key disappears with its etcd lease, so clocks need not agree.
// A renewal attaches the key to a fresh etcd lease (stateless: any process of the host can renew), compared on
// the key's revision so a lease that was lost meanwhile is not resurrected.
import { CniCode, CniError } from '../errors/cni-error.js'
import { EtcdClient, type EtcdClientOptions, type IKeyValue, type Namespace } from './etcd-client.js'
import { checkAcquireRequest, checkHostId, checkNetworkName, checkTtl, decodeLease, decodeNetworkRecord, encodeLease, leaseDiffers, leaseFor, LeaseLostError, liveSorted } from './lease.js'
import { startLeaseWatch } from './lease-watch.js'
import type { AcquireRequest, Lease, LeaseStore, NetworkRecord, Watch, WatchOptions } from './store.js'
import { checkAgainstRegistered, exhaustedError, pickSubnet, subnetAt, subnetIndex, subnetSpace } from './subnet-alloc.js'

export interface EtcdStoreOptions extends EtcdClientOptions {
  /** watch safety-net re-list period */
  resyncMs?: number
}

/** compare-and-swap rounds before giving up with code 11 (each loss means another host just won a subnet) */
const MAX_ROUNDS = 16
const keyOf = (subnet: string) => subnet.replace('/', '-')

export class EtcdLeaseStore implements LeaseStore {
  readonly #c: EtcdClient
  readonly #resyncMs: number

  constructor(opts: EtcdStoreOptions) {
    this.#c = new EtcdClient(opts)
    this.#resyncMs = opts.resyncMs ?? 5000
  }

  async registerNetwork(rec: NetworkRecord): Promise<void> {
    checkNetworkName(rec.network)
    subnetSpace(rec)
    const ns = await this.#c.ns()
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const kv = (await this.#c.call('read the network registry', () => ns.get('networks').exec())).kvs[0]
      const all = kv === undefined ? [] : this.#decodeRegistry(kv)
      if (checkAgainstRegistered(rec, all)) return
      const { network, clusterCidr, subnetLen, vni } = rec
      const next = JSON.stringify({ networks: [...all, { network, clusterCidr, subnetLen, vni }] })
      const cmp = kv === undefined ? ns.if('networks', 'Create', '==', 0) : ns.if('networks', 'Mod', '==', kv.mod_revision)
      const r = await this.#c.call('register the network', () => cmp.then(ns.put('networks').value(next)).commit())
      if (r.succeeded) return
    }
    throw this.#busy('registering network ' + rec.network)
  }

  async getNetwork(network: string): Promise<NetworkRecord | undefined> {
    checkNetworkName(network)
    const ns = await this.#c.ns()
    const kv = (await this.#c.call('read the network registry', () => ns.get('networks').exec())).kvs[0]
    return kv === undefined ? undefined : this.#decodeRegistry(kv).find((r) => r.network === network)
  }

  async acquire(req: AcquireRequest): Promise<Lease> {
    checkAcquireRequest(req)
    const rec = await this.getNetwork(req.network)
    if (rec === undefined) {
      throw new CniError(CniCode.InvalidConfig, `overlay network ${req.network} is not registered in etcd (${this.#c.where()}); register it (the plugin's ADD does) before acquiring leases`)
    }
    const space = subnetSpace(rec)
    const ns = await this.#c.ns()
    const hostKey = `hosts/${req.network}/${req.hostId}`
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const leases = await this.#leaseKvs(ns, req.network)
      const own = leases.find((x) => x.lease.hostId === req.hostId)
      if (own !== undefined) {
        const renewed = await this.#reattach(ns, own.kv, leaseFor(req, own.lease.subnet, Date.now()), req.ttlMs)
        if (renewed !== undefined) return renewed
        continue // lost the key between read and write: look again
      }
      const hosts = await this.#c.call('read host records', () => ns.getAll().prefix(`hosts/${req.network}/`).exec())
      const hostKv = hosts.kvs.find((kv) => kv.key.toString() === hostKey)
      const taken = new Set<number>()
      for (const { lease } of leases) {
        const i = subnetIndex(space, lease.subnet)
        if (i !== undefined) taken.add(i)
      }
      const avoid = new Set<number>()
      for (const kv of hosts.kvs) {
        const i = subnetIndex(space, kv.value.toString())
        if (i !== undefined && kv !== hostKv && !taken.has(i)) avoid.add(i)
      }
      const free = (s: string | undefined) => (s === undefined ? undefined : subnetIndex(space, s)) ?? -1
      let index = [free(req.preferSubnet), free(hostKv?.value.toString())].find((i) => i >= 0 && !taken.has(i))
      index ??= pickSubnet(space, taken, avoid)
      if (index === undefined) throw exhaustedError(space, req.network)
      const subnet = subnetAt(space, index)
      const lease = leaseFor(req, subnet, Date.now())
      const id = await this.#grant(ns, req.ttlMs)
      const key = `leases/${req.network}/${keyOf(subnet)}`
      const r = await this.#c.call('allocate a subnet', () =>
        ns
          .if(key, 'Create', '==', 0)
          .and(hostKey, 'Mod', '==', hostKv?.mod_revision ?? 0)
          .then(ns.put(key).value(encodeLease(lease)).lease(id), ns.put(hostKey).value(subnet))
          .commit(),
      )
      if (r.succeeded) return lease
      await this.#revoke(ns, id)
    }
    throw this.#busy(`allocating a subnet of ${req.network} for ${req.hostId}`)
  }

  async renew(lease: Lease, ttlMs: number): Promise<Lease> {
    checkNetworkName(lease.network)
    checkHostId(lease.hostId)
    checkTtl(ttlMs)
    const ns = await this.#c.ns()
    const key = `leases/${lease.network}/${keyOf(lease.subnet)}`
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const kv = (await this.#c.call('read the lease', () => ns.get(key).exec())).kvs[0]
      const held = kv === undefined ? undefined : decodeLease(kv.value.toString())
      if (kv === undefined || held === undefined || held.hostId !== lease.hostId) throw new LeaseLostError(lease.network, lease.hostId, lease.subnet)
      const renewed = await this.#reattach(ns, kv, { ...lease, expiresAt: Date.now() + ttlMs }, ttlMs)
      if (renewed !== undefined) return renewed
    }
    throw this.#busy(`renewing the lease of ${lease.hostId}`)
  }

  async release(network: string, hostId: string): Promise<void> {
    checkNetworkName(network)
    checkHostId(hostId)
    const ns = await this.#c.ns()
    for (const { kv, lease } of (await this.#leaseKvs(ns, network)).filter((x) => x.lease.hostId === hostId)) {
      const key = `leases/${network}/${keyOf(lease.subnet)}`
      // Compared on the revision: a subnet that changed hands meanwhile is not ours to delete.
      await this.#c.call('release the lease', () => ns.if(key, 'Mod', '==', kv.mod_revision).then(ns.delete().key(key)).commit())
      if (kv.lease !== '0') await this.#revoke(ns, kv.lease)
    }
    await this.#c.call('forget the host', () => ns.delete().key(`hosts/${network}/${hostId}`).exec())
  }

  async list(network: string): Promise<Lease[]> {
    checkNetworkName(network)
    const ns = await this.#c.ns()
    // Live means "the key exists": etcd removed the expired ones, whatever the clocks say.
    return liveSorted(
      (await this.#leaseKvs(ns, network)).map((x) => x.lease),
      -Infinity,
    )
  }

  watch(network: string, onChange: (leases: Lease[]) => void, opts?: WatchOptions): Watch {
    checkNetworkName(network)
    return startLeaseWatch(
      {
        list: () => this.list(network),
        subscribe: (kick, report) => {
          let cancelled = false
          const watcher = this.#c.ns().then((ns) => ns.watch().prefix(`leases/${network}/`).withPreviousKV().create())
          void watcher.then(
            (w) => {
              if (cancelled) return void w.cancel().catch(() => undefined)
              // Re-list after every (re)connection: events missed while etcd was away are not replayed.
              w.on('connected', () => !cancelled && kick())
              w.on('delete', () => !cancelled && kick())
              w.on('put', (kv, prev) => {
                if (cancelled) return
                // etcd3 passes null (not undefined) when there was no previous value
                const a = prev == null ? undefined : decodeLease(prev.value.toString())
                const b = decodeLease(kv.value.toString())
                if (a === undefined || b === undefined || leaseDiffers(a, b)) kick()
              })
              // etcd3 reconnects by itself (every 500 ms, see etcd-client.ts); the re-list on 'connected' catches up.
              w.on('disconnected', (e) => !cancelled && report(this.#c.unreachable('watch', e)))
              w.on('error', (e) => !cancelled && report(this.#c.unreachable('watch', e)))
              kick()
            },
            (e: unknown) => !cancelled && report(this.#c.unreachable('watch', e)),
          )
          return () => {
            cancelled = true
            void watcher.then((w) => w.cancel()).catch(() => undefined)
          }
        },
        now: Date.now,
        resyncMs: this.#resyncMs,
        expiryTimer: false,
      },
      onChange,
      opts,
    )
  }

  close(): Promise<void> {
    return this.#c.close()
  }

  /** Puts `lease` on `kv`'s key under a fresh etcd lease if the key is unchanged; undefined when it changed. */
  async #reattach(ns: Namespace, kv: IKeyValue, lease: Lease, ttlMs: number): Promise<Lease | undefined> {
    // Keys are built, never taken from kv.key: etcd3 strips the namespace from some responses and not others.
    const key = `leases/${lease.network}/${keyOf(lease.subnet)}`
    const id = await this.#grant(ns, ttlMs)
    const r = await this.#c.call('renew the lease', () =>
      ns
        .if(key, 'Mod', '==', kv.mod_revision)
        .then(ns.put(key).value(encodeLease(lease)).lease(id), ns.put(`hosts/${lease.network}/${lease.hostId}`).value(lease.subnet))
        .commit(),
    )
    await this.#revoke(ns, r.succeeded ? kv.lease : id)
    return r.succeeded ? lease : undefined
  }

  async #leaseKvs(ns: Namespace, network: string): Promise<{ kv: IKeyValue; lease: Lease }[]> {
    const prefix = `leases/${network}/`
    const r = await this.#c.call('list leases', () => ns.getAll().prefix(prefix).exec())
    const out: { kv: IKeyValue; lease: Lease }[] = []
    for (const kv of r.kvs) {
      const lease = decodeLease(kv.value.toString())
      // getAll() strips the namespace from kv.key.
      if (lease !== undefined && lease.network === network && kv.key.toString() === prefix + keyOf(lease.subnet)) out.push({ kv, lease })
    }
    return out
  }

  async #grant(ns: Namespace, ttlMs: number): Promise<string> {
    // etcd counts in whole seconds (and raises very short TTLs to its own minimum).
    const r = await this.#c.call('grant an etcd lease', () => ns.leaseClient.leaseGrant({ TTL: Math.ceil(ttlMs / 1000), ID: 0 }))
    return r.ID
  }

  async #revoke(ns: Namespace, id: string): Promise<void> {
    if (id === '0') return
    // Best effort: an etcd lease nobody revokes expires on its own.
    await ns.leaseClient.leaseRevoke({ ID: id }).catch(() => undefined)
  }

  #decodeRegistry(kv: IKeyValue): NetworkRecord[] {
    let v: unknown
    try {
      v = JSON.parse(kv.value.toString())
    } catch {
      v = undefined
    }
    const list = typeof v === 'object' && v !== null && 'networks' in v && Array.isArray(v.networks) ? v.networks.map(decodeNetworkRecord) : undefined
    if (list === undefined || list.some((r) => r === undefined)) {
      throw new CniError(CniCode.DecodingFailure, `the network registry in etcd (${this.#c.where()}, key networks) is not {"networks": [...]}; fix or delete that key`)
    }
    return list as NetworkRecord[]
  }

  #busy(what: string): CniError {
    return new CniError(CniCode.TryAgainLater, `etcd store at ${this.#c.where()}: ${what} lost ${MAX_ROUNDS} compare-and-swap rounds to other hosts; try again later`)
  }
}
