// ipMasq with iptables (`ipMasqBackend: "iptables"`): the same NAT as masq.ts, written with
// iptables-restore / ip6tables-restore in the nat table.
//
// Layout, per IP family:
//   POSTROUTING   one jump per network, the same whatever the number of containers:
//                   -m comment --comment "berth-bridge net:<network>" -j BERTH-BR-<h>
//   BERTH-BR-<h>  per network (h = hash of the network name, as masq.ts); per container address two
//                 rules, both commented with the owner "<16 hex> net:<network> id:<container> if:<ifname>":
//                   -s <ip>/32 -d <subnet> -j RETURN             (traffic inside the network is not NATed)
//                   -s <ip>/32 ! -d 224.0.0.0/4 -j MASQUERADE    (ff00::/8 for IPv6)
//
// ADD creates the network chain with `iptables -N` (idempotent: never flushes a chain another ADD is
// filling). When POSTROUTING does not hold exactly one jump to it (the network's first ADD), the jump is
// fixed under a file lock (/run/berth/bridge-iptables.lock), re-reading POSTROUTING inside it, so racing
// first ADDs add one jump between them; every later ADD sees the jump and takes no lock. The
// container's rules are appended in one `iptables-restore --noflush -w` transaction (after deleting
// rules left for the same address by a container that was never deleted). DEL lists the network chain and deletes the rules whose comment
// starts with the owner hash: no netns, no prevResult. Nothing per container ever goes into POSTROUTING.
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { iptablesEnsureChain, iptablesListChain, iptablesRestore, iptablesTools } from '../../pkg/firewall/iptables.js'
import { IptablesBatch, type IptSavedRule } from '../../pkg/firewall/iptables-format.js'
import { formatIp, networkOf, parseCidr, type IpFamily } from '../../pkg/ip/cidr.js'
import { withLock } from '../../pkg/lock/lock.js'
import type { NetnsHandle } from '../../pkg/ns/netns.js'
import { ownerTagOf } from '../../pkg/owner/owner.js'
import { masqOwner, type MasqOwner } from './masq.js'

const TABLE = 'nat'
/** Serialises the (rare) fixing of a network's POSTROUTING jump among berth processes. */
export const JUMP_LOCK = '/run/berth/bridge-iptables.lock'
const POSTROUTING = 'POSTROUTING'
const MCAST: Record<IpFamily, string> = { 4: '224.0.0.0/4', 6: 'ff00::/8' }
const HOST_LEN: Record<IpFamily, number> = { 4: 32, 6: 128 }

/** The per-network chain: BERTH-BR-<12 hex> (21 characters, under iptables' 28). */
export const iptNetChain = (o: Pick<MasqOwner, 'netHash'>): string => `BERTH-BR-${o.netHash}`
/** The comment on the network's POSTROUTING jump. */
export const iptJumpComment = (network: string): string => `berth-bridge net:${network}`.slice(0, 255)
const jumpArgs = (o: MasqOwner): string[] => ['-j', iptNetChain(o)]

const hostCidr = (f: IpFamily, ip: string) => `${ip}/${HOST_LEN[f]}`

/** The jump rules to the network's chain found in POSTROUTING. */
export function jumpsTo(o: MasqOwner, postrouting: readonly IptSavedRule[] | undefined): IptSavedRule[] {
  return (postrouting ?? []).filter((r) => r.args.length === 2 && r.args[0] === '-j' && r.args[1] === iptNetChain(o))
}

/** Makes POSTROUTING hold exactly one jump to the network's chain (run under the lock). */
export function fixIptJumpBatch(family: IpFamily, o: MasqOwner, postrouting: readonly IptSavedRule[] | undefined): IptablesBatch {
  const b = new IptablesBatch(family)
  const jumps = jumpsTo(o, postrouting)
  if (jumps.length === 0) b.append(TABLE, POSTROUTING, jumpArgs(o), iptJumpComment(o.network))
  for (const extra of jumps.slice(1)) b.delete(TABLE, POSTROUTING, extra.args, extra.comment)
  return b
}

/**
 * The ADD transaction for one family's container rules: rules left in the network chain for the same
 * addresses removed, the container's rules appended.
 */
export function setupIptMasqBatch(family: IpFamily, o: MasqOwner, cidrs: readonly string[], chainRules: readonly IptSavedRule[] | undefined): IptablesBatch {
  const b = new IptablesBatch(family)
  const mine = cidrs.map(parseCidr).filter((n) => n.family === family)
  if (mine.length === 0) return b
  const chain = iptNetChain(o)
  const srcs = new Set(mine.map((n) => hostCidr(family, formatIp(n.bytes))))
  for (const r of chainRules ?? []) {
    const s = r.args.indexOf('-s')
    if (s >= 0 && srcs.has(r.args[s + 1] ?? '')) b.delete(TABLE, chain, r.args, r.comment)
  }
  for (const n of mine) {
    const src = hostCidr(family, formatIp(n.bytes))
    const net = networkOf(n)
    b.append(TABLE, chain, ['-s', src, '-d', `${formatIp(net.bytes)}/${net.prefixLen}`, '-j', 'RETURN'], o.comment)
    b.append(TABLE, chain, ['-s', src, '!', '-d', MCAST[family], '-j', 'MASQUERADE'], o.comment)
  }
  return b
}

/** The DEL transaction for one family: the network chain's rules carrying the owner's tag. */
export function teardownIptMasqBatch(family: IpFamily, o: MasqOwner, chainRules: readonly IptSavedRule[] | undefined): IptablesBatch {
  const b = new IptablesBatch(family)
  for (const r of chainRules ?? []) if (ownerTagOf(r.comment) === o.tag) b.delete(TABLE, iptNetChain(o), r.args, r.comment)
  return b
}

/** The GC transaction for one family: rules of the network's chain whose owner is not a valid attachment. */
export function gcIptMasqBatch(family: IpFamily, network: string, valid: readonly { containerID: string; ifname: string }[], chainRules: readonly IptSavedRule[] | undefined): IptablesBatch {
  const b = new IptablesBatch(family)
  const keep = new Set(valid.map((v) => masqOwner(network, v.containerID, v.ifname).tag))
  const chain = iptNetChain(masqOwner(network, '', ''))
  for (const r of chainRules ?? []) {
    const tag = ownerTagOf(r.comment)
    if (tag !== '' && !keep.has(tag)) b.delete(TABLE, chain, r.args, r.comment)
  }
  return b
}

const familiesOf = (cidrs: readonly string[]): IpFamily[] => [...new Set(cidrs.map((c) => parseCidr(c).family))].sort()

/** Whether the tools for a family are installed (a host without ip6tables has no IPv6 rules to remove). */
const hasTools = (f: IpFamily) => {
  const t = iptablesTools(f)
  return t.restore !== undefined && t.save !== undefined
}

/** Applies the ADD in `ns` (undefined: this process's namespace, the host). */
export async function setupIptMasquerade(ns: NetnsHandle | undefined, o: MasqOwner, cidrs: readonly string[]): Promise<void> {
  for (const f of familiesOf(cidrs)) {
    await iptablesEnsureChain(ns, f, TABLE, iptNetChain(o))
    if (jumpsTo(o, await iptablesListChain(ns, f, TABLE, POSTROUTING)).length !== 1) {
      mkdirSync(dirname(JUMP_LOCK), { recursive: true, mode: 0o700 })
      await withLock(JUMP_LOCK, async () => iptablesRestore(ns, fixIptJumpBatch(f, o, await iptablesListChain(ns, f, TABLE, POSTROUTING))))
    }
    await iptablesRestore(ns, setupIptMasqBatch(f, o, cidrs, await iptablesListChain(ns, f, TABLE, iptNetChain(o))))
  }
}

/**
 * Removes the owner's rules in both families. A concurrent DEL of the same attachment may have removed
 * them first (iptables-restore then fails on a missing rule): success when none is left.
 */
export async function teardownIptMasquerade(ns: NetnsHandle | undefined, o: MasqOwner): Promise<void> {
  for (const f of [4, 6] as const) {
    if (!hasTools(f)) continue
    const rules = await iptablesListChain(ns, f, TABLE, iptNetChain(o))
    try {
      await iptablesRestore(ns, teardownIptMasqBatch(f, o, rules))
    } catch (e) {
      const left = teardownIptMasqBatch(f, o, await iptablesListChain(ns, f, TABLE, iptNetChain(o)))
      if (left.length > 0) throw e
    }
  }
}

/** Removes this network's rules that belong to no valid attachment. */
export async function gcIptMasquerade(ns: NetnsHandle | undefined, network: string, valid: readonly { containerID: string; ifname: string }[]): Promise<void> {
  const chain = iptNetChain(masqOwner(network, '', ''))
  for (const f of [4, 6] as const) {
    if (!hasTools(f)) continue
    await iptablesRestore(ns, gcIptMasqBatch(f, network, valid, await iptablesListChain(ns, f, TABLE, chain)))
  }
}

/**
 * The first thing missing from one family's iptables NAT of `cidrs`, or undefined when everything ADD
 * made is there: the network's chain, POSTROUTING's jump to it, and both rules per address carrying the
 * owner's tag. `postrouting`/`chainRules` are the chains as iptables-save lists them (undefined: missing).
 */
export function checkIptMasqRules(
  family: IpFamily,
  o: MasqOwner,
  cidrs: readonly string[],
  postrouting: readonly IptSavedRule[] | undefined,
  chainRules: readonly IptSavedRule[] | undefined,
  who: string,
): string | undefined {
  const mine = cidrs.map(parseCidr).filter((n) => n.family === family)
  if (mine.length === 0) return undefined
  const tool = family === 6 ? 'ip6tables' : 'iptables'
  const chain = iptNetChain(o)
  if (chainRules === undefined) return `NAT: ${tool} nat chain ${chain} of network ${o.network} does not exist (${who})`
  if (jumpsTo(o, postrouting).length === 0) return `NAT: ${tool} nat chain ${POSTROUTING} has no jump to ${chain} (network ${o.network}; ${who})`
  const owned = chainRules.filter((r) => ownerTagOf(r.comment) === o.tag)
  const has = (args: readonly string[]) => owned.some((r) => r.args.length === args.length && r.args.every((x, i) => x === args[i]))
  for (const n of mine) {
    const src = hostCidr(family, formatIp(n.bytes))
    const net = networkOf(n)
    const want = [
      ['-s', src, '-d', `${formatIp(net.bytes)}/${net.prefixLen}`, '-j', 'RETURN'],
      ['-s', src, '!', '-d', MCAST[family], '-j', 'MASQUERADE'],
    ]
    for (const args of want) {
      if (!has(args)) return `NAT: ${tool} nat chain ${chain} has no rule "${args.join(' ')}" with the owner comment of ${who}`
    }
  }
  return undefined
}

/** CHECK of the iptables NAT in `ns` (undefined: the host): the first thing missing, or undefined. */
export async function checkIptMasquerade(ns: NetnsHandle | undefined, o: MasqOwner, cidrs: readonly string[], who: string): Promise<string | undefined> {
  for (const f of familiesOf(cidrs)) {
    const chainRules = await iptablesListChain(ns, f, TABLE, iptNetChain(o))
    const postrouting = await iptablesListChain(ns, f, TABLE, POSTROUTING)
    const missing = checkIptMasqRules(f, o, cidrs, postrouting, chainRules, who)
    if (missing !== undefined) return missing
  }
  return undefined
}
