// nft.ts against a fake addon: error mapping, listing parsing. No kernel is touched.
import t from 'tap'
import type { NativeBinding, NftOutput } from '../../../../native/binding.js'
import { setNativeForTests } from '../../../../native/index.js'
import { CniCode } from '../../../../pkg/errors/cni-error.js'
import { SysError } from '../../../../pkg/errors/sys-error.js'
import { elementsOf, firstErrorLine, nftApply, nftApplyScript, nftErrorText, nftList, nftListElements, nftTableExists, rulesOf, type NftObject } from '../../../../pkg/firewall/nft.js'
import { NftBatch } from '../../../../pkg/firewall/nft-batch.js'

// Trimmed from a real `nft -j list table inet bt` (libnftables 1.0.6).
const LISTING = {
  nftables: [
    { metainfo: { version: '1.0.6', release_name: 'Lester Gooch #5', json_schema_version: 1 } },
    { table: { family: 'inet', name: 'bt', handle: 1 } },
    {
      set: {
        family: 'inet', name: 's4', table: 'bt', type: 'ipv4_addr', handle: 1, flags: ['interval'],
        elem: [{ elem: { val: '10.0.0.1', comment: 'own' } }, { elem: { val: { prefix: { addr: '10.1.0.0', len: 16 } }, comment: 'pfx' } }, '10.2.0.1'],
      },
    },
    { set: { family: 'inet', name: 'empty', table: 'bt', type: 'ipv4_addr', handle: 4 } },
    {
      map: {
        family: 'inet', name: 'm', table: 'bt', type: ['ipv4_addr', 'inet_service'], handle: 2, map: 'verdict',
        elem: [[{ elem: { val: { concat: ['10.0.0.2', 80] }, comment: 'mc' } }, { jump: { target: 'c1' } }], [{ concat: ['10.0.0.3', 81] }, { accept: null }]],
      },
    },
    { chain: { family: 'inet', table: 'bt', name: 'c1', handle: 3 } },
    { rule: { family: 'inet', table: 'bt', chain: 'c1', handle: 5, comment: 'tag', expr: [{ accept: null }] } },
    { rule: { family: 'inet', table: 'bt', chain: 'c2', handle: 6, expr: [{ drop: null }] } },
  ],
}

interface Call { script: string; json: boolean }

function fakeNative(t: { teardown(fn: () => void): void }, respond: (c: Call) => NftOutput): Call[] {
  const calls: Call[] = []
  const fake = {
    init() {},
    setns() { throw new Error('setns must not be called without a namespace') },
    nftRun(script: string, json: boolean) {
      calls.push({ script, json })
      return respond({ script, json })
    },
  } as unknown as NativeBinding
  setNativeForTests(fake)
  t.teardown(() => setNativeForTests(undefined))
  return calls
}

const nftFail = (text: string) => new SysError('nft', 22, undefined, text)

t.test('nftApply sends the batch JSON once, in JSON mode', async (t) => {
  const calls = fakeNative(t, () => ({ output: '', error: '' }))
  const b = new NftBatch().addTable('inet', 'bt')
  nftApply(undefined, b)
  t.same(calls, [{ script: b.toString(), json: true }])
  nftApply(undefined, new NftBatch())
  t.equal(calls.length, 1, 'an empty batch makes no call')
  nftApplyScript(undefined, 'add table inet x\n')
  nftApplyScript(undefined, '   \n')
  t.same(calls[1], { script: 'add table inet x\n', json: false }, 'scripts go in text mode; blank scripts are skipped')
})

t.test('libnftables failures become CniError 102 with the full text in details', async (t) => {
  const text = 'internal:0:0-0: Error: Could not process rule: File exists\n\ninternal:0:0-0: Error: second\n\n'
  fakeNative(t, () => {
    throw nftFail(text)
  })
  t.throws(() => nftApply(undefined, new NftBatch().addTable('inet', 'bt')), {
    name: 'CniError',
    code: CniCode.FirewallFailed,
    message: 'failed to apply nftables transaction: Could not process rule: File exists',
    details: text.trim(),
  })
})

t.test('errors that are not from nft pass through unchanged', async (t) => {
  const boom = new SysError('setns', 1)
  fakeNative(t, () => {
    throw boom
  })
  t.throws(() => nftApply(undefined, new NftBatch().addTable('inet', 'bt')), boom)
})

t.test('error text helpers', async (t) => {
  t.equal(firstErrorLine('internal:0:0-0: Error: Unknown family \'foo\'.\n\ninternal:0:0-0: Error: Parsing command array at index 0 failed.\n'), "Unknown family 'foo'.")
  t.equal(firstErrorLine("\nError: syntax error, unexpected '{'\n{ bad\n^\n"), "syntax error, unexpected '{'")
  t.equal(firstErrorLine('<cmdline>:1:5-8: Error: No such file or directory'), 'No such file or directory')
  t.equal(firstErrorLine(''), 'unknown error')
  t.equal(nftErrorText(nftFail('Error: x\n')), 'Error: x', 'from the detail as SysError renders it')
  const withField = Object.assign(nftFail('ignored'), { detail: 'Error: from field' })
  t.equal(nftErrorText(withField), 'Error: from field', 'a detail field wins when SysError has one')
})

t.test('nftList: undefined for a missing table, objects without metainfo otherwise', async (t) => {
  const calls = fakeNative(t, ({ script }) => {
    const cmd = JSON.parse(script).nftables[0].list
    if (cmd.tables) return { output: JSON.stringify({ nftables: [LISTING.nftables[0], LISTING.nftables[1]] }), error: '' }
    return { output: JSON.stringify(LISTING), error: '' }
  })
  t.equal(nftList(undefined, 'inet', 'nope'), undefined)
  t.same(JSON.parse(calls[0]!.script), { nftables: [{ list: { tables: { family: 'inet' } } }] })
  t.equal(nftTableExists(undefined, 'ip', 'bt'), false, 'same name, other family')
  const l = nftList(undefined, 'inet', 'bt')
  t.equal(l?.length, LISTING.nftables.length - 1)
  t.notOk(l?.some((o) => 'metainfo' in o))
  t.same(JSON.parse(calls.at(-1)!.script), { nftables: [{ list: { table: { family: 'inet', name: 'bt' } } }] })
  t.same(nftListElements(undefined, 'inet', 'bt', 'empty'), [])
  t.equal(nftListElements(undefined, 'inet', 'bt', 'absent'), undefined)
  t.equal(nftListElements(undefined, 'inet', 'nope', 's4'), undefined)
  t.throws(() => nftList(undefined, 'inet', 'bad name'), { code: CniCode.InvalidConfig })
})

t.test('nftList: unparseable output is a 102', async (t) => {
  fakeNative(t, () => ({ output: 'not json', error: '' }))
  t.throws(() => nftTableExists(undefined, 'inet', 'bt'), { code: CniCode.FirewallFailed, message: /failed to parse nftables listing/ })
})

t.test('nftList: a table deleted between the two calls reads as missing', async (t) => {
  let n = 0
  fakeNative(t, ({ script }) => {
    n++
    if (JSON.parse(script).nftables[0].list.tables) {
      return { output: JSON.stringify({ nftables: n === 1 ? [LISTING.nftables[1]] : [] }), error: '' }
    }
    throw nftFail('internal:0:0-0: Error: No such file or directory\n')
  })
  t.equal(nftList(undefined, 'inet', 'bt'), undefined)
})

t.test('elementsOf and rulesOf read listings', async (t) => {
  const l = LISTING.nftables as unknown as NftObject[]
  t.same(elementsOf(l, 's4'), [
    { key: '10.0.0.1', comment: 'own' },
    { key: { prefix: { addr: '10.1.0.0', len: 16 } }, comment: 'pfx' },
    { key: '10.2.0.1' },
  ])
  t.same(elementsOf(l, 'm'), [
    { key: { concat: ['10.0.0.2', 80] }, comment: 'mc', value: { jump: { target: 'c1' } } },
    { key: { concat: ['10.0.0.3', 81] }, value: { accept: null } },
  ])
  t.same(elementsOf(l, 'empty'), [])
  t.equal(elementsOf(l, 'nope'), undefined)
  t.same(rulesOf(l, 'c1'), [{ handle: 5, comment: 'tag', expr: [{ accept: null }] }])
  t.same(rulesOf(l, 'c2'), [{ handle: 6, expr: [{ drop: null }] }])
  t.same(rulesOf(l, 'c3'), [])
})
