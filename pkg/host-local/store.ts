// Where reservations live. The allocator only sees this interface: the disk store (the reference's
// on-disk format) in production, the memory store in tests.
import type { IpAddr } from '../ip/cidr.js'

/** Who holds an address: one attachment, as CNI names it. */
export interface Owner {
  containerId: string
  ifName: string
}

export interface Reservation {
  ip: IpAddr
  containerId: string
  /** undefined for legacy reservations, which recorded only the container ID */
  ifName: string | undefined
  /**
   * The boot the reservation was made in, when berth recorded it and the record still describes this very
   * reservation; undefined when unknown (made by the reference, or before berth recorded boots).
   */
  bootId: string | undefined
}

export interface Store {
  /** /proc/sys/kernel/random/boot_id of this boot, or undefined when it cannot be read */
  readonly bootId: string | undefined
  /** Runs fn holding the network's lock; every other method must be called inside it. */
  locked<T>(fn: () => T | Promise<T>): Promise<T>
  /** Reserves ip for owner; false when it is already reserved. Records ip as the set's last reserved. */
  reserve(ip: IpAddr, owner: Owner, rangeSetIndex: number): boolean
  /** Removes a reservation; nothing happens when there is none. */
  release(ip: IpAddr): void
  get(ip: IpAddr): Reservation | undefined
  list(): Reservation[]
  /**
   * The reservations of owner's container that are owner's (same ID and ifname) or legacy (same ID, no
   * ifname): what ADD's duplicate check, DEL and CHECK look at. Must not cost more with more reservations.
   */
  owned(owner: Owner): Reservation[]
  lastReserved(rangeSetIndex: number): IpAddr | undefined
}

/** True when r belongs to owner exactly (containerID and ifname). */
export const ownedBy = (r: Reservation, o: Owner): boolean => r.containerId === o.containerId && r.ifName === o.ifName

/** A legacy reservation (container ID only) of owner's container. */
export const legacyOf = (r: Reservation, o: Owner): boolean => r.ifName === undefined && r.containerId === o.containerId

/** Made in an earlier boot, as far as berth knows: such a reservation cannot back a live attachment. */
export const fromEarlierBoot = (r: Reservation, bootId: string | undefined): boolean =>
  bootId !== undefined && r.bootId !== undefined && r.bootId !== bootId
