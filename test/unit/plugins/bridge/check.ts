// The pure CHECK readers of the bridge's NAT (nftables, iptables) and MAC spoof check: each piece ADD
// makes, removed from an otherwise complete listing, is reported by name.
import t from 'tap'
import type { NftObject } from '../../../../pkg/firewall/nft.js'
import type { NftJson } from '../../../../pkg/firewall/nft-batch.js'
import type { IptSavedRule } from '../../../../pkg/firewall/iptables-format.js'
import { attachmentLabel, checkMasqListing, masqOwner, NAT_TABLE } from '../../../../plugins/bridge/masq.js'
import { checkIptMasqRules, iptJumpComment, iptNetChain } from '../../../../plugins/bridge/masq-iptables.js'
import { checkSpoofListing, SPOOF_TABLE } from '../../../../plugins/bridge/spoofchk.js'

const o = masqOwner('net1', 'c1', 'eth0')
const other = masqOwner('net1', 'c2', 'eth0')
const who = attachmentLabel('c1', 'eth0')
const net = `net_${o.netHash}`
const cidrs = ['10.1.0.5/24', 'fd00::5/64']

/** A table inet berth_bridge as `nft -j list table` prints it after ADD, minus what `drop` names. */
function natListing(drop: string[] = [], comment = o.comment, target = net): NftObject[] {
  const elem = (val: string): NftJson => [{ elem: { val, comment } }, { jump: { target } }]
  const all: [string, NftObject][] = [
    ['chain postrouting', { chain: { family: 'inet', table: NAT_TABLE, name: 'postrouting', type: 'nat', hook: 'postrouting', prio: 100 } }],
    ['chain net', { chain: { family: 'inet', table: NAT_TABLE, name: net } }],
    ['set dst4', { set: { family: 'inet', table: NAT_TABLE, name: `dst4_${o.netHash}`, type: 'ipv4_addr', flags: ['interval'] } }],
    ['set dst6', { set: { family: 'inet', table: NAT_TABLE, name: `dst6_${o.netHash}`, type: 'ipv6_addr', flags: ['interval'] } }],
    ['map src4', { map: { family: 'inet', table: NAT_TABLE, name: 'src4', type: 'ipv4_addr', map: 'verdict', elem: drop.includes('elem4') ? [] : [elem('10.1.0.5')] } }],
    ['map src6', { map: { family: 'inet', table: NAT_TABLE, name: 'src6', type: 'ipv6_addr', map: 'verdict', elem: drop.includes('elem6') ? [] : [elem('fd00::5')] } }],
    ['vmap4', { rule: { chain: 'postrouting', expr: [{ vmap: { key: { payload: { protocol: 'ip', field: 'saddr' } }, data: '@src4' } }] } }],
    ['vmap6', { rule: { chain: 'postrouting', expr: [{ vmap: { key: { payload: { protocol: 'ip6', field: 'saddr' } }, data: '@src6' } }] } }],
    ['masquerade', { rule: { chain: net, expr: [{ masquerade: null }] } }],
  ]
  return all.filter(([k]) => !drop.includes(k)).map(([, v]) => v)
}

t.test('checkMasqListing: complete listing passes; each missing piece is named', async (t) => {
  t.equal(checkMasqListing(o, cidrs, natListing(), who), undefined)
  t.equal(checkMasqListing(o, [], undefined, who), undefined, 'no addresses: nothing to check')
  t.equal(checkMasqListing(o, cidrs, undefined, who), 'NAT: table inet berth_bridge does not exist (container c1 eth0)')
  t.equal(checkMasqListing(o, cidrs, natListing(['elem4']), who), 'NAT: 10.1.0.5 is not in table inet berth_bridge map src4 (container c1 eth0)')
  t.equal(checkMasqListing(o, cidrs, natListing(['elem6']), who), 'NAT: fd00::5 is not in table inet berth_bridge map src6 (container c1 eth0)')
  t.equal(checkMasqListing(o, ['10.1.0.5/24'], natListing(['elem6', 'vmap6', 'set dst6']), who), undefined, 'IPv4 only: the IPv6 parts are not needed')
  t.match(checkMasqListing(o, cidrs, natListing(['chain postrouting']), who), /no chain postrouting hooked at postrouting/)
  t.match(checkMasqListing(o, cidrs, natListing(['chain net']), who), new RegExp(`no chain ${net} for network net1`))
  t.match(checkMasqListing(o, cidrs, natListing(['masquerade']), who), new RegExp(`chain ${net} of table inet berth_bridge has no masquerade rule`))
  t.equal(checkMasqListing(o, cidrs, natListing(['vmap4']), who), 'NAT: chain postrouting of table inet berth_bridge has no rule "ip saddr vmap @src4" (container c1 eth0)')
  t.match(checkMasqListing(o, cidrs, natListing(['vmap6']), who), /"ip6 saddr vmap @src6"/)
  t.match(checkMasqListing(o, cidrs, natListing(['set dst4']), who), /no set dst4_/)
  t.match(checkMasqListing(o, cidrs, natListing(['map src4']), who), /no map src4/)
  t.match(checkMasqListing(o, cidrs, natListing([], other.comment), who), /10\.1\.0\.5 in table inet berth_bridge map src4 belongs to another attachment .*id:c2/)
  t.match(checkMasqListing(o, cidrs, natListing([], o.comment, 'net_000000000000'), who), new RegExp(`jumps to net_000000000000, not ${net}`))
})

t.test('checkIptMasqRules: chain, POSTROUTING jump, both owner-commented rules per address', async (t) => {
  const chain = iptNetChain(o)
  const jump: IptSavedRule = { chain: 'POSTROUTING', args: ['-j', chain], comment: iptJumpComment('net1') }
  const rules = (comment: string | undefined): IptSavedRule[] => [
    { chain, args: ['-s', '10.1.0.5/32', '-d', '10.1.0.0/24', '-j', 'RETURN'], ...(comment ? { comment } : {}) },
    { chain, args: ['-s', '10.1.0.5/32', '!', '-d', '224.0.0.0/4', '-j', 'MASQUERADE'], ...(comment ? { comment } : {}) },
  ]
  t.equal(checkIptMasqRules(4, o, cidrs, [jump], rules(o.comment), who), undefined)
  t.equal(checkIptMasqRules(6, o, ['10.1.0.5/24'], undefined, undefined, who), undefined, 'no address of the family: nothing to check')
  t.equal(checkIptMasqRules(4, o, cidrs, [jump], undefined, who), `NAT: iptables nat chain ${chain} of network net1 does not exist (container c1 eth0)`)
  t.equal(checkIptMasqRules(4, o, cidrs, [], rules(o.comment), who), `NAT: iptables nat chain POSTROUTING has no jump to ${chain} (network net1; container c1 eth0)`)
  t.equal(
    checkIptMasqRules(4, o, cidrs, [jump], rules(o.comment).slice(0, 1), who),
    `NAT: iptables nat chain ${chain} has no rule "-s 10.1.0.5/32 ! -d 224.0.0.0/4 -j MASQUERADE" with the owner comment of container c1 eth0`,
  )
  t.match(checkIptMasqRules(4, o, cidrs, [jump], rules(other.comment), who), /has no rule "-s 10\.1\.0\.5\/32 -d 10\.1\.0\.0\/24 -j RETURN"/, "another owner's rules do not count")
  t.match(checkIptMasqRules(4, o, cidrs, [jump], rules(undefined), who), /has no rule/, 'uncommented rules do not count')
  const v6: IptSavedRule[] = [
    { chain, args: ['-s', 'fd00::5/128', '-d', 'fd00::/64', '-j', 'RETURN'], comment: o.comment },
    { chain, args: ['-s', 'fd00::5/128', '!', '-d', 'ff00::/8', '-j', 'MASQUERADE'], comment: o.comment },
  ]
  t.equal(checkIptMasqRules(6, o, cidrs, [jump], v6, who), undefined)
  t.match(checkIptMasqRules(6, o, cidrs, [jump], v6.slice(1), who), /^NAT: ip6tables nat chain \S+ has no rule "-s fd00::5\/128 -d fd00::\/64 -j RETURN"/)
})

t.test('checkSpoofListing: chain and rule, port and (port . MAC) with the owner tag', async (t) => {
  const veth = 'veth0000aaaa'
  const mac = '02:00:00:00:00:01'
  const listing = (drop: string[] = [], comment = o.comment): NftObject[] => {
    const el = (val: NftJson): NftJson => ({ elem: { val, comment } })
    const all: [string, NftObject][] = [
      ['chain', { chain: { family: 'bridge', table: SPOOF_TABLE, name: 'prerouting', type: 'filter', hook: 'prerouting', prio: -300 } }],
      [
        'rule',
        {
          rule: {
            chain: 'prerouting',
            expr: [
              { match: { op: '==', left: { meta: { key: 'iifname' } }, right: '@ports' } },
              { match: { op: '!=', left: { concat: [{ meta: { key: 'iifname' } }, { payload: { protocol: 'ether', field: 'saddr' } }] }, right: '@allowed' } },
              { drop: null },
            ],
          },
        },
      ],
      ['ports', { set: { family: 'bridge', table: SPOOF_TABLE, name: 'ports', type: 'ifname', elem: drop.includes('port') ? [] : [el(veth)] } }],
      ['allowed', { set: { family: 'bridge', table: SPOOF_TABLE, name: 'allowed', type: ['ifname', 'ether_addr'], elem: drop.includes('pair') ? [] : [el({ concat: [veth, mac] })] } }],
    ]
    return all.filter(([k]) => !drop.includes(k)).map(([, v]) => v)
  }
  t.equal(checkSpoofListing(o, veth, mac, listing(), who), undefined)
  t.equal(checkSpoofListing(o, veth, mac.toUpperCase(), listing(), who), undefined, 'MAC compared without case')
  t.equal(checkSpoofListing(o, veth, mac, undefined, who), 'MAC spoof check: table bridge berth_bridge_spoof does not exist (container c1 eth0)')
  t.match(checkSpoofListing(o, veth, mac, listing(['chain']), who), /no chain prerouting hooked at prerouting/)
  t.match(checkSpoofListing(o, veth, mac, listing(['rule']), who), /has no rule "iifname @ports/)
  t.equal(checkSpoofListing(o, veth, mac, listing(['port']), who), `MAC spoof check: port ${veth} is not in table bridge berth_bridge_spoof set ports (container c1 eth0)`)
  t.equal(checkSpoofListing(o, veth, mac, listing(['pair']), who), `MAC spoof check: ${veth} . ${mac} is not in table bridge berth_bridge_spoof set allowed (container c1 eth0)`)
  t.match(checkSpoofListing(o, veth, '02:00:00:00:00:02', listing(), who), /02:00:00:00:00:02 is not in .* set allowed/, 'another MAC is not allowed')
  t.match(checkSpoofListing(o, veth, mac, listing([], other.comment), who), /port veth0000aaaa .* belongs to another attachment/)
})
