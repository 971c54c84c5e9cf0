// A Store in memory (the reference's FakeStore): for tests and dry runs.
import { formatIp, parseIp, type IpAddr } from '../ip/cidr.js'
import { legacyOf, ownedBy, type Owner, type Reservation, type Store } from './store.js'

export class MemoryStore implements Store {
  readonly bootId: string | undefined
  readonly #byIp = new Map<string, Reservation>()
  readonly #last = new Map<number, string>()
  #queue: Promise<unknown> = Promise.resolve()

  /** null: the boot is unknown (as when /proc cannot be read) */
  constructor(bootId: string | null = 'boot-0') {
    this.bootId = bootId ?? undefined
  }

  async locked<T>(fn: () => T | Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn)
    this.#queue = run.catch(() => undefined)
    return run
  }

  /** Test seam: put a reservation in place as another tool (or an earlier boot) would have. */
  put(r: Reservation): void {
    this.#byIp.set(formatIp(r.ip.bytes), r)
  }

  setLastReserved(rangeSetIndex: number, ip: IpAddr): void {
    this.#last.set(rangeSetIndex, formatIp(ip.bytes))
  }

  reserve(ip: IpAddr, owner: Owner, rangeSetIndex: number): boolean {
    const key = formatIp(ip.bytes)
    if (this.#byIp.has(key)) return false
    this.#byIp.set(key, { ip, containerId: owner.containerId, ifName: owner.ifName, bootId: this.bootId })
    this.#last.set(rangeSetIndex, key)
    return true
  }

  release(ip: IpAddr): void {
    this.#byIp.delete(formatIp(ip.bytes))
  }

  get(ip: IpAddr): Reservation | undefined {
    return this.#byIp.get(formatIp(ip.bytes))
  }

  list(): Reservation[] {
    return [...this.#byIp.values()]
  }

  owned(owner: Owner): Reservation[] {
    return this.list().filter((r) => ownedBy(r, owner) || legacyOf(r, owner))
  }

  lastReserved(rangeSetIndex: number): IpAddr | undefined {
    const s = this.#last.get(rangeSetIndex)
    return s === undefined ? undefined : parseIp(s)
  }
}
