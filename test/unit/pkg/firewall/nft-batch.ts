// The JSON that NftBatch hands to libnftables, compared whole (no nft is run here).
import t from 'tap'
import { CniCode } from '../../../../pkg/errors/cni-error.js'
import { elementJson, NftBatch, NFT_COMMENT_MAX } from '../../../../pkg/firewall/nft-batch.js'

t.test('a table with a chain, a set, a map and commented elements', async (t) => {
  const b = new NftBatch()
    .addTable('inet', 'berth_test')
    .addChain({ family: 'inet', table: 'berth_test', name: 'postrouting', type: 'nat', hook: 'postrouting', prio: 100, policy: 'accept' })
    .addChain({ family: 'inet', table: 'berth_test', name: 'masq' })
    .addSet({ family: 'inet', table: 'berth_test', name: 'subnets4', type: 'ipv4_addr', flags: ['interval'] })
    .addMap({ family: 'inet', table: 'berth_test', name: 'ports', type: ['ipv4_addr', 'inet_service'], map: 'verdict' })
    .addElements('inet', 'berth_test', 'subnets4', [
      { key: { prefix: { addr: '10.88.0.0', len: 16 } }, comment: 'net: a, id: c1' },
      { key: '10.99.0.1' },
    ])
    .addElements('inet', 'berth_test', 'ports', [
      { key: { concat: ['10.88.0.2', 8080] }, value: { jump: { target: 'masq' } }, comment: 'id: c1' },
    ])
    .addRule({
      family: 'inet',
      table: 'berth_test',
      chain: 'postrouting',
      expr: [{ match: { op: '==', left: { payload: { protocol: 'ip', field: 'saddr' } }, right: '@subnets4' } }, { jump: { target: 'masq' } }],
      comment: 'berth',
    })
  t.equal(b.length, 8)
  t.same(b.toJSON(), {
    nftables: [
      { add: { table: { family: 'inet', name: 'berth_test' } } },
      { add: { chain: { family: 'inet', table: 'berth_test', name: 'postrouting', type: 'nat', hook: 'postrouting', prio: 100, policy: 'accept' } } },
      { add: { chain: { family: 'inet', table: 'berth_test', name: 'masq' } } },
      { add: { set: { family: 'inet', table: 'berth_test', name: 'subnets4', type: 'ipv4_addr', flags: ['interval'] } } },
      { add: { map: { family: 'inet', table: 'berth_test', name: 'ports', type: ['ipv4_addr', 'inet_service'], map: 'verdict' } } },
      {
        add: {
          element: {
            family: 'inet',
            table: 'berth_test',
            name: 'subnets4',
            elem: [{ elem: { val: { prefix: { addr: '10.88.0.0', len: 16 } }, comment: 'net: a, id: c1' } }, '10.99.0.1'],
          },
        },
      },
      {
        add: {
          element: {
            family: 'inet',
            table: 'berth_test',
            name: 'ports',
            elem: [[{ elem: { val: { concat: ['10.88.0.2', 8080] }, comment: 'id: c1' } }, { jump: { target: 'masq' } }]],
          },
        },
      },
      {
        add: {
          rule: {
            family: 'inet',
            table: 'berth_test',
            chain: 'postrouting',
            expr: [{ match: { op: '==', left: { payload: { protocol: 'ip', field: 'saddr' } }, right: '@subnets4' } }, { jump: { target: 'masq' } }],
            comment: 'berth',
          },
        },
      },
    ],
  })
  t.same(JSON.parse(b.toString()), b.toJSON(), 'toString is the same JSON')
})

t.test('set and map specs with initial elements, timeouts and sizes', async (t) => {
  const b = new NftBatch()
    .addSet({ family: 'ip', table: 't', name: 's', type: 'ipv4_addr', flags: ['timeout'], timeout: 60, size: 1024, elements: [{ key: '10.0.0.1', timeout: 30, comment: 'c' }] })
    .addMap({ family: 'ip', table: 't', name: 'm', type: 'ipv4_addr', map: 'ipv4_addr', elements: [{ key: '10.0.0.1', value: '10.0.0.2' }] })
  t.same(b.commands, [
    { add: { set: { family: 'ip', table: 't', name: 's', type: 'ipv4_addr', flags: ['timeout'], timeout: 60, size: 1024, elem: [{ elem: { val: '10.0.0.1', timeout: 30, comment: 'c' } }] } } },
    { add: { map: { family: 'ip', table: 't', name: 'm', type: 'ipv4_addr', map: 'ipv4_addr', elem: [['10.0.0.1', '10.0.0.2']] } } },
  ])
})

t.test('removal commands', async (t) => {
  const b = new NftBatch()
    .deleteElements('inet', 't', 'ports', [{ concat: ['10.0.0.2', 80] }, { key: '10.0.0.3', value: { accept: null }, comment: 'x' }])
    .deleteRule('inet', 't', 'c', 7)
    .flushSet('inet', 't', 's')
    .flushMap('inet', 't', 'm')
    .flushChain('inet', 't', 'c')
    .deleteChain('inet', 't', 'c')
    .deleteSet('inet', 't', 's')
    .deleteMap('inet', 't', 'm')
    .flushTable('inet', 't')
    .deleteTableIfExists('inet', 't')
  t.same(b.commands, [
    { delete: { element: { family: 'inet', table: 't', name: 'ports', elem: [{ concat: ['10.0.0.2', 80] }, '10.0.0.3'] } } },
    { delete: { rule: { family: 'inet', table: 't', chain: 'c', handle: 7 } } },
    { flush: { set: { family: 'inet', table: 't', name: 's' } } },
    { flush: { map: { family: 'inet', table: 't', name: 'm' } } },
    { flush: { chain: { family: 'inet', table: 't', name: 'c' } } },
    { delete: { chain: { family: 'inet', table: 't', name: 'c' } } },
    { delete: { set: { family: 'inet', table: 't', name: 's' } } },
    { delete: { map: { family: 'inet', table: 't', name: 'm' } } },
    { flush: { table: { family: 'inet', name: 't' } } },
    { add: { table: { family: 'inet', name: 't' } } },
    { delete: { table: { family: 'inet', name: 't' } } },
  ], 'deleteElements sends keys only; deleteTableIfExists is add + delete')
})

t.test('create, insert, raw and append', async (t) => {
  const a = new NftBatch().createElements('ip', 't', 's', [{ key: '10.0.0.1' }]).insertRule({ family: 'ip', table: 't', chain: 'c', expr: [{ accept: null }], handle: 3 })
  const b = new NftBatch().raw({ flush: { ruleset: null } }).append(a)
  t.same(b.commands, [
    { flush: { ruleset: null } },
    { create: { element: { family: 'ip', table: 't', name: 's', elem: ['10.0.0.1'] } } },
    { insert: { rule: { family: 'ip', table: 't', chain: 'c', handle: 3, expr: [{ accept: null }] } } },
  ])
  t.equal(a.length, 2, 'append does not consume the other batch')
  t.equal(new NftBatch().addElements('ip', 't', 's', []).deleteElements('ip', 't', 's', []).length, 0, 'empty element lists add no command')
  const c = new NftBatch().addTable('ip', 't')
  const cmds = c.commands as unknown as unknown[]
  cmds.length = 0
  t.equal(c.length, 1, 'commands is a copy')
})

t.test('elementJson forms', async (t) => {
  t.equal(elementJson({ key: '10.0.0.1' }), '10.0.0.1')
  t.same(elementJson({ key: 80, value: 'x' }), [80, 'x'])
  t.same(elementJson({ key: 80, value: 'x', comment: 'c' }), [{ elem: { val: 80, comment: 'c' } }, 'x'])
})

t.test('validation before libnftables sees anything', async (t) => {
  const b = () => new NftBatch()
  const bad: [string, () => unknown, RegExp][] = [
    ['family', () => b().addTable('ipx' as 'ip', 't'), /invalid nftables family "ipx"/],
    ['empty table name', () => b().addTable('ip', ''), /invalid nftables table name ""/],
    ['table name with space', () => b().addTable('ip', 'a b'), /table name "a b"/],
    ['table name starting with a digit', () => b().addTable('ip', '1t'), /table name "1t"/],
    ['long table name', () => b().addTable('ip', 'x'.repeat(65)), /at most 64/],
    ['chain name with quote', () => b().deleteChain('ip', 't', 'c"x'), /chain name/],
    ['set name with slash', () => b().addElements('ip', 't', '../s', [{ key: 1 }]), /set name "..\/s"/],
    ['partial base chain', () => b().addChain({ family: 'ip', table: 't', name: 'c', hook: 'input' }), /type, hook and prio together/],
    ['policy on a regular chain', () => b().addChain({ family: 'ip', table: 't', name: 'c', policy: 'drop' }), /only base chains/],
    ['fractional prio', () => b().addChain({ family: 'ip', table: 't', name: 'c', type: 'filter', hook: 'input', prio: 1.5 }), /integer/],
    ['bad device', () => b().addChain({ family: 'netdev', table: 't', name: 'c', type: 'filter', hook: 'ingress', prio: 0, dev: 'a/b' }), /device name/],
    ['bad set type', () => b().addSet({ family: 'ip', table: 't', name: 's', type: 'ipv4 addr' }), /set type/],
    ['empty concat type', () => b().addSet({ family: 'ip', table: 't', name: 's', type: [] }), /set type/],
    ['zero timeout', () => b().addSet({ family: 'ip', table: 't', name: 's', type: 'ipv4_addr', timeout: 0 }), /set timeout/],
    ['bad map value type', () => b().addMap({ family: 'ip', table: 't', name: 'm', type: 'ipv4_addr', map: 'a;b' }), /map value type/],
    ['set element with value', () => b().addSet({ family: 'ip', table: 't', name: 's', type: 'ipv4_addr', elements: [{ key: '1.1.1.1', value: 'x' }] }), /no value/],
    ['map element without value', () => b().addMap({ family: 'ip', table: 't', name: 'm', type: 'ipv4_addr', map: 'verdict', elements: [{ key: '1.1.1.1' }] }), /needs a value/],
    ['element timeout', () => b().addElements('ip', 't', 's', [{ key: 1, timeout: -1 }]), /element timeout/],
    ['rule without statements', () => b().addRule({ family: 'ip', table: 't', chain: 'c', expr: [] }), /at least one statement/],
    ['rule handle', () => b().deleteRule('ip', 't', 'c', 0), /rule handle/],
    ['insert handle', () => b().insertRule({ family: 'ip', table: 't', chain: 'c', expr: [{ accept: null }], handle: 1.5 }), /rule handle/],
    ['raw with two verbs', () => b().raw({ add: {}, delete: {} }), /exactly one of/],
    ['raw with unknown verb', () => b().raw({ list: { ruleset: null } }), /exactly one of/],
  ]
  for (const [name, fn, msg] of bad) t.throws(fn, { name: 'CniError', code: CniCode.InvalidConfig, message: msg }, name)
})

t.test('comments: at most 128 bytes, no quotes or control characters', async (t) => {
  const add = (comment: string) => new NftBatch().addElements('inet', 't', 's', [{ key: '10.0.0.1', comment }])
  t.doesNotThrow(() => add('x'.repeat(NFT_COMMENT_MAX)), '128 ASCII bytes pass')
  t.throws(() => add('x'.repeat(NFT_COMMENT_MAX + 1)), { code: CniCode.InvalidConfig, message: /longer than 128 bytes/ })
  t.throws(() => add('é'.repeat(65)), { message: /longer than 128 bytes/ }, '65 two-byte characters are 130 bytes')
  t.doesNotThrow(() => add("net: a, if: eth0, id: c1 's' /x/ é"), 'ordinary punctuation and UTF-8 pass')
  t.throws(() => add('a"b'), { message: /double quotes/ })
  t.throws(() => add('a\nb'), { message: /control characters/ })
  t.throws(() => add('a\0b'), { message: /control characters/ })
  t.throws(() => new NftBatch().addRule({ family: 'ip', table: 't', chain: 'c', expr: [{ accept: null }], comment: 'x'.repeat(300) }), { message: /longer than 128/ }, 'rule comments too')
})
