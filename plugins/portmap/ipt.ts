// The iptables backend (`"backend": "iptables"`), with iptables-restore --noflush / iptables-save, for hosts
// that keep their firewall in iptables. The same policy as nft.ts, in rules instead of map elements:
//
//   nat BERTH-HOSTPORTS        jumped to from PREROUTING and OUTPUT with -m addrtype --dst-type LOCAL (only
//                              traffic addressed to the host itself); one DNAT rule per entry, commented
//                              with the owner: -p tcp [-d hostIP] -m tcp --dport 8000:8010
//                              -j DNAT --to-destination 10.88.0.5:80-90/8000 (a shifted range is one rule)
//   nat BERTH-HOSTPORTS-MASQ   jumped to from POSTROUTING; per container address: -s <subnet> -d <addr>
//                              -m conntrack --ctstate DNAT -j MASQUERADE (and -s 127.0.0.0/8 for IPv4)
//   raw PREROUTING             ! -i lo -d 127.0.0.0/8 -j DROP once route_localnet was turned on
//
// Unlike the nftables maps, the rule count grows with the mappings (iptables has no maps of this shape).
// Chains and jumps are created once (checked against iptables-save under the ADD lock).
import { iptablesRestore, iptablesSave, iptablesTools } from '../../pkg/firewall/iptables.js'
import { IptablesBatch, type IptSavedRule, type IptSavedTable } from '../../pkg/firewall/iptables-format.js'
import { formatIp, networkOf, parseCidr, type IpFamily } from '../../pkg/ip/cidr.js'
import { PROTOCOLS, type ContainerAddr, type Protocol } from './config.js'
import type { ListedEntry } from './nft.js'
import type { Entry, Owner } from './plan.js'

export const DNAT_CHAIN = 'BERTH-HOSTPORTS'
export const MASQ_CHAIN = 'BERTH-HOSTPORTS-MASQ'
const GUARD_COMMENT = 'berth portmap: 127.0.0.0/8 only from lo'
const LOCAL = ['-m', 'addrtype', '--dst-type', 'LOCAL']

const hostCidr = (ip: string, f: IpFamily) => (ip.includes('/') ? ip : `${ip}/${f === 4 ? 32 : 128}`)
const target = (f: IpFamily, ip: string) => (f === 6 ? `[${ip}]` : ip)

/** The DNAT rule of an entry (without the comment). */
export function dnatArgs(e: Entry, conditions: readonly string[] = []): string[] {
  const ports = e.hostPortEnd === e.hostPort ? `${e.hostPort}` : `${e.hostPort}:${e.hostPortEnd}`
  const to =
    e.hostPortEnd === e.hostPort
      ? `${target(e.family, e.containerIP)}:${e.containerPort}`
      : `${target(e.family, e.containerIP)}:${e.containerPort}-${e.containerPort + (e.hostPortEnd - e.hostPort)}/${e.hostPort}`
  return [...conditions, ...(e.hostIP === undefined ? [] : ['-d', hostCidr(e.hostIP, e.family)]), '-p', e.protocol, '-m', e.protocol, '--dport', ports, '-j', 'DNAT', '--to-destination', to]
}

/** The masquerade rules of a container address. */
export function masqArgs(c: ContainerAddr, localhost: boolean): string[][] {
  const n = parseCidr(c.cidr)
  const net = networkOf(n)
  const srcs = [`${formatIp(net.bytes)}/${net.prefixLen}`, ...(localhost && c.family === 4 ? ['127.0.0.0/8'] : [])]
  return srcs.map((s) => ['-s', s, '-d', hostCidr(c.ip, c.family), '-m', 'conntrack', '--ctstate', 'DNAT', '-j', 'MASQUERADE'])
}

const opt = (args: readonly string[], name: string): string | undefined => {
  const i = args.indexOf(name)
  return i < 0 ? undefined : args[i + 1]
}

/** Reads DNAT rules of BERTH-HOSTPORTS back into entries (rules of another shape are skipped). */
export function savedEntries(f: IpFamily, nat: IptSavedTable | undefined): (ListedEntry & { rule: IptSavedRule })[] {
  const out: (ListedEntry & { rule: IptSavedRule })[] = []
  for (const r of nat?.rules ?? []) {
    if (r.chain !== DNAT_CHAIN || opt(r.args, '-j') !== 'DNAT') continue
    const protocol = opt(r.args, '-p') as Protocol | undefined
    const dport = opt(r.args, '--dport')
    const to = opt(r.args, '--to-destination')
    if (protocol === undefined || !PROTOCOLS.includes(protocol) || dport === undefined || to === undefined) continue
    const [lo, hi] = dport.split(':').map(Number) as [number, number | undefined]
    const d = opt(r.args, '-d')
    const m = /^\[([^\]]+)\]:(\d+)/.exec(to) ?? /^([^:[\]]+):(\d+)/.exec(to)
    if (m === null) continue
    out.push({
      family: f,
      hostIP: d === undefined ? undefined : d.replace(/\/(32|128)$/, ''),
      protocol,
      hostPort: lo,
      hostPortEnd: hi ?? lo,
      containerIP: m[1]!,
      containerPort: Number(m[2]),
      map: DNAT_CHAIN,
      element: { key: null, ...(r.comment === undefined ? {} : { comment: r.comment }) },
      rule: r,
    })
  }
  return out
}

export const iptablesPresent = (f: IpFamily): boolean => {
  const t = iptablesTools(f)
  return t.restore !== undefined && t.save !== undefined
}

export async function saveTables(f: IpFamily): Promise<{ nat: IptSavedTable | undefined; raw: IptSavedTable | undefined }> {
  const all = await iptablesSave(undefined, f)
  return { nat: all.find((t) => t.table === 'nat'), raw: all.find((t) => t.table === 'raw') }
}

const tagOf = (c: string | undefined) => (c ?? '').split(' ')[0] ?? ''
const netTagOf = (c: string | undefined) => (c ?? '').split(' ')[1] ?? ''

/** Deletes the rules of our two chains that `pick` selects. */
function deleteRules(b: IptablesBatch, nat: IptSavedTable | undefined, pick: (r: IptSavedRule) => boolean): number {
  let n = 0
  for (const r of nat?.rules ?? []) {
    if ((r.chain === DNAT_CHAIN || r.chain === MASQ_CHAIN) && pick(r)) {
      b.delete('nat', r.chain, r.args, r.comment)
      n++
    }
  }
  return n
}

/** The ADD batch for one family: chains and jumps when missing, the owner's old rules out, the new rules in. */
export function addIptBatch(
  f: IpFamily,
  o: Owner,
  entries: readonly Entry[],
  masq: readonly string[][],
  guard: boolean,
  saved: { nat: IptSavedTable | undefined; raw: IptSavedTable | undefined },
  conditions: readonly string[] = [],
): IptablesBatch {
  const b = new IptablesBatch(f)
  const chains = saved.nat?.chains ?? new Map<string, string>()
  if (!chains.has(DNAT_CHAIN)) {
    b.declareChain('nat', DNAT_CHAIN)
    b.append('nat', 'PREROUTING', [...LOCAL, '-j', DNAT_CHAIN])
    b.append('nat', 'OUTPUT', [...LOCAL, '-j', DNAT_CHAIN])
  }
  if (!chains.has(MASQ_CHAIN)) {
    b.declareChain('nat', MASQ_CHAIN)
    b.append('nat', 'POSTROUTING', ['-j', MASQ_CHAIN])
  }
  deleteRules(b, saved.nat, (r) => tagOf(r.comment) === o.tag)
  for (const e of entries) b.append('nat', DNAT_CHAIN, dnatArgs(e, conditions), o.comment)
  for (const m of masq) b.append('nat', MASQ_CHAIN, m, o.comment)
  if (guard && f === 4 && !(saved.raw?.rules ?? []).some((r) => r.chain === 'PREROUTING' && r.comment === GUARD_COMMENT)) {
    b.append('raw', 'PREROUTING', ['!', '-i', 'lo', '-d', '127.0.0.0/8', '-j', 'DROP'], GUARD_COMMENT)
  }
  return b
}

export function delIptBatch(f: IpFamily, o: Owner, nat: IptSavedTable | undefined): { batch: IptablesBatch; removed: ListedEntry[] } {
  const b = new IptablesBatch(f)
  const removed = savedEntries(f, nat).filter((e) => tagOf(e.element.comment) === o.tag)
  deleteRules(b, nat, (r) => tagOf(r.comment) === o.tag)
  return { batch: b, removed }
}

export function gcIptBatch(f: IpFamily, netTag: string, keep: ReadonlySet<string>, nat: IptSavedTable | undefined): IptablesBatch {
  const b = new IptablesBatch(f)
  deleteRules(b, nat, (r) => netTagOf(r.comment) === netTag && !keep.has(tagOf(r.comment)))
  return b
}

export const restore = (b: IptablesBatch) => iptablesRestore(undefined, b)
