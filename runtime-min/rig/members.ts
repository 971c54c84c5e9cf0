// Making rig members: the switch (underlay bridge with the gateway address) and hosts (a namespace on the
// bridge through a veth, its underlay address, default route via the switch, lo up, forwarding on, and a
// BERTH_ROOT). Every step registers its undo on the caller's Rollback; handles are closed by close().
import { mkdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { describe } from '../../pkg/errors/describe.js'
import { addAddress } from '../../pkg/link/addr.js'
import { createBridge } from '../../pkg/link/bridge.js'
import { setLinkMaster, setLinkUp } from '../../pkg/link/link.js'
import { addRoute } from '../../pkg/link/route.js'
import { openRtnl, type Rtnl } from '../../pkg/link/rtnl.js'
import { createVethPair } from '../../pkg/link/veth.js'
import { createNetns, deleteNetns, NetnsHandle } from '../../pkg/ns/netns.js'
import type { Rollback } from '../../pkg/rollback/rollback.js'
import { writeSysctl } from '../../pkg/sysctl/sysctl.js'
import { HOST_IFACE, memberNetnsPath, memberRoot, ROOT_SUBDIRS, SWITCH, SWITCH_BRIDGE } from './layout.js'
import type { RigInfo, RigMember } from './store.js'

/** rig.json's record of a member (the switch or hostK) with underlay address `ip`. */
export function memberRecord(rig: string, name: string, ip: string, prefixLen: number, v6?: { ip: string; prefixLen: number }): RigMember {
  return {
    name,
    netns: memberNetnsPath(rig, name),
    address: `${ip}/${prefixLen}`,
    ip,
    root: memberRoot(rig, name),
    interface: name === SWITCH ? SWITCH_BRIDGE : HOST_IFACE,
    ...(v6 === undefined ? {} : { address6: `${v6.ip}/${v6.prefixLen}`, ip6: v6.ip }),
  }
}

/** Namespace handles and netlink sockets opened while building, closed together. */
export class BuildResources {
  readonly #handles: NetnsHandle[] = []
  readonly #sockets: Rtnl[] = []
  #switchRt: Rtnl | undefined

  constructor(
    readonly rb: Rollback,
    readonly rig: RigInfo,
  ) {}

  /** A netlink socket in the switch namespace (opened once). */
  switchRtnl(): Rtnl {
    if (this.#switchRt === undefined) this.#switchRt = this.#rtnl(this.#open(this.rig.switch.netns))
    return this.#switchRt
  }

  #open(path: string): NetnsHandle {
    const h = NetnsHandle.open(path)
    this.#handles.push(h)
    return h
  }

  #rtnl(ns: NetnsHandle): Rtnl {
    const rt = openRtnl(ns)
    this.#sockets.push(rt)
    return rt
  }

  /** Creates the member's persisted namespace (its removal registered) and returns a handle to it. */
  makeNamespace(m: RigMember): NetnsHandle {
    try {
      createNetns(m.netns)
    } catch (e) {
      throw new Error(`${describe(e)} (remove it with 'ip netns del ${m.netns.split('/').pop() ?? ''}' if it is a leftover)`)
    }
    this.rb.defer(`delete namespace ${m.netns}`, () => deleteNetns(m.netns))
    return this.#open(m.netns)
  }

  async makeSwitch(): Promise<void> {
    const sw = this.rig.switch
    this.makeNamespace(sw)
    const rt = this.switchRtnl()
    await setLinkUp(rt, 'lo')
    await createBridge(rt, { name: SWITCH_BRIDGE })
    await addAddress(rt, SWITCH_BRIDGE, sw.address)
    await setLinkUp(rt, SWITCH_BRIDGE)
    // No duplicate address detection: the addresses are ours by construction and usable at once.
    if (sw.address6 !== undefined) await addAddress(rt, SWITCH_BRIDGE, sw.address6, { noDad: true })
    makeRoot(sw.root, this.rb)
  }

  async makeHost(host: RigMember): Promise<void> {
    const ns = this.makeNamespace(host)
    const swRt = this.switchRtnl()
    // The switch end is named after the host; the host end is eth0, created directly in the host.
    await createVethPair(swRt, { name: host.name, peerName: HOST_IFACE, peerNetns: ns })
    await setLinkMaster(swRt, host.name, SWITCH_BRIDGE)
    await setLinkUp(swRt, host.name)
    const rt = this.#rtnl(ns)
    await setLinkUp(rt, 'lo')
    await addAddress(rt, HOST_IFACE, host.address)
    await setLinkUp(rt, HOST_IFACE)
    await addRoute(rt, { gw: this.rig.gateway, dev: HOST_IFACE })
    writeSysctl('net.ipv4.ip_forward', '1', ns)
    if (host.address6 !== undefined && this.rig.gateway6 !== undefined) {
      await addAddress(rt, HOST_IFACE, host.address6, { noDad: true })
      await addRoute(rt, { gw: this.rig.gateway6, dev: HOST_IFACE })
      writeSysctl('net.ipv6.conf.all.forwarding', '1', ns)
    }
    makeRoot(host.root, this.rb)
  }

  close(): void {
    for (const s of this.#sockets) s.close()
    for (const h of this.#handles) h.close()
  }
}

function makeRoot(root: string, rb: Rollback): void {
  mkdirSync(root, { recursive: true, mode: 0o755 })
  rb.defer(`remove ${root}`, () => rmSync(root, { recursive: true, force: true }))
  for (const d of ROOT_SUBDIRS) mkdirSync(join(root, d), { recursive: true, mode: 0o755 })
}
