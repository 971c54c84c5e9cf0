// `berth overlay check --net NAME`: from this host, ping every peer's VTEP address (<subnet>.0) once with a
// small packet (reachability) and once with DF set at the overlay MTU (ping -M do -s MTU-28): a peer that
// answers the small ping but not the full-size one has an MTU mismatch on the way (a smaller underlay MTU,
// or a peer whose overlay MTU differs), which would otherwise show as stalled TCP connections.
import { CniCode, CniError } from '../errors/cni-error.js'
import { execInNetns, findExecutable } from '../firewall/exec.js'
import { linkByName } from '../link/link.js'
import { openRtnl } from '../link/rtnl.js'
import type { NetnsHandle } from '../ns/netns.js'
import { vtepAddressOf, type OverlayNetwork } from './config.js'
import { openStore, type LeaseStore } from './store.js'
import { findUnderlay } from './underlay.js'
import { overlayMtu } from './vtep.js'

/** IPv4 header (20) + ICMP header (8): the payload of a ping that fills the MTU. */
const ICMP_IPV4_OVERHEAD = 28

export interface PeerReport {
  hostId: string
  subnet: string
  publicIp: string
  vtep: string
  reachable: boolean
  /** the full-size DF ping got through */
  mtuOk: boolean
}

export interface SelftestReport {
  network: string
  hostId: string
  subnet: string | undefined
  /** the overlay MTU this host computes */
  mtu: number
  /** the VXLAN device's MTU as it is (undefined: no device) */
  deviceMtu: number | undefined
  peers: PeerReport[]
  ok: boolean
}

export interface SelftestOptions {
  ns?: NetnsHandle
  store?: LeaseStore
  /** seconds each ping waits for its reply (default 1) */
  waitS?: number
}

export async function runSelftest(net: OverlayNetwork, o: SelftestOptions = {}): Promise<SelftestReport> {
  const ping = findExecutable('ping')
  if (ping === undefined) throw new CniError(CniCode.NotAvailable, 'ping (iputils-ping) is not installed; install it to run the overlay check')
  const store = o.store ?? openStore(net.store)
  const rt = openRtnl(o.ns)
  try {
    const underlay = await findUnderlay(rt, net.underlayInterface)
    const mtu = overlayMtu(net, underlay)
    const dev = await linkByName(rt, net.vxlanName)
    const leases = await store.list(net.name)
    const own = leases.find((l) => l.hostId === underlay.ip)
    const wait = String(o.waitS ?? 1)
    const once = async (ip: string, size?: number) =>
      (await execInNetns(o.ns, ping, ['-n', '-q', '-c', '1', '-W', wait, ...(size !== undefined ? ['-M', 'do', '-s', String(size)] : []), ip], { timeoutMs: 10_000 })).status === 0
    const peers = await Promise.all(
      leases
        .filter((l) => l.hostId !== underlay.ip)
        .map(async (l): Promise<PeerReport> => {
          const vtep = vtepAddressOf(l.subnet)
          const [reachable, mtuOk] = await Promise.all([once(vtep), once(vtep, mtu - ICMP_IPV4_OVERHEAD)])
          return { hostId: l.hostId, subnet: l.subnet, publicIp: l.publicIp, vtep, reachable, mtuOk }
        }),
    )
    return {
      network: net.name,
      hostId: underlay.ip,
      subnet: own?.subnet,
      mtu,
      deviceMtu: dev?.mtu,
      peers,
      ok: own !== undefined && dev?.mtu === mtu && peers.every((p) => p.reachable && p.mtuOk),
    }
  } finally {
    rt.close()
    if (o.store === undefined) await store.close().catch(() => undefined)
  }
}

/** One line per finding, for the CLI. */
export function formatSelftest(r: SelftestReport): string[] {
  const out = [`network ${r.network}: host ${r.hostId}, subnet ${r.subnet ?? 'none (no live lease: is the agent running?)'}, overlay MTU ${r.mtu}`]
  if (r.deviceMtu === undefined) out.push(`  VXLAN device missing on this host`)
  else if (r.deviceMtu !== r.mtu) out.push(`  VXLAN device MTU ${r.deviceMtu} differs from the computed ${r.mtu}`)
  if (r.peers.length === 0) out.push('  no peers')
  for (const p of r.peers) {
    const state = !p.reachable ? 'UNREACHABLE' : !p.mtuOk ? `MTU MISMATCH (a ${r.mtu}-byte packet with DF set does not get through)` : 'ok'
    out.push(`  peer ${p.hostId} (${p.subnet}, VTEP ${p.vtep}): ${state}`)
  }
  out.push(r.ok ? 'all peers reachable at the overlay MTU' : 'problems found')
  return out
}
