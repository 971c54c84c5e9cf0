// iptables.ts with the process runner replaced: argv, stdin and error mapping. Nothing is run, so the
// host firewall is never at risk even when tests run as root.
import t from 'tap'
import { CniCode } from '../../../../pkg/errors/cni-error.js'
import type { ExecResult } from '../../../../pkg/firewall/exec.js'
import { IptablesBatch } from '../../../../pkg/firewall/iptables-format.js'

interface Call { file: string; args: readonly string[]; input?: string }

async function load(t: Tap, result: Partial<ExecResult>, tools = { restore: '/sbin/iptables-restore', save: '/sbin/iptables-save' }) {
  const calls: Call[] = []
  const mod = await t.mockImport<typeof import('../../../../pkg/firewall/iptables.js')>('../../../../pkg/firewall/iptables.js', {
    '../../../../pkg/firewall/exec.js': {
      findExecutable: (name: string) => (name.endsWith('-restore') ? tools.restore : tools.save)?.replace(/iptables/, name.startsWith('ip6') ? 'ip6tables' : 'iptables'),
      execInNetns: async (_ns: unknown, file: string, args: readonly string[], opts: { input?: string } = {}) => {
        calls.push({ file, args, ...(opts.input !== undefined && { input: opts.input }) })
        return { status: 0, signal: null, stdout: '', stderr: '', ...result }
      },
    },
  })
  return { mod, calls }
}
type Tap = { mockImport<T>(m: string, mocks: Record<string, unknown>): Promise<T> }

t.test('iptablesRestore runs iptables-restore --noflush -w with the text on stdin', async (t) => {
  const { mod, calls } = await load(t, {})
  const b = new IptablesBatch(4).declareChain('nat', 'CNI-X').append('nat', 'CNI-X', ['-j', 'ACCEPT'], 'id: c1')
  await mod.iptablesRestore(undefined, b)
  t.same(calls, [{ file: '/sbin/iptables-restore', args: ['--noflush', '-w', '10'], input: b.toRestoreText() }])
  await mod.iptablesRestore(undefined, new IptablesBatch(6).append('filter', 'X', ['-j', 'DROP']), { waitSeconds: 3 })
  t.same(calls[1]?.file, '/sbin/ip6tables-restore')
  t.same(calls[1]?.args, ['--noflush', '-w', '3'])
  await mod.iptablesRestore(undefined, new IptablesBatch(4))
  t.equal(calls.length, 2, 'an empty batch runs nothing')
  await t.rejects(mod.iptablesRestore(undefined, new IptablesBatch(4).append('filter', 'X', ['-j', 'DROP']), { waitSeconds: -1 }), { code: CniCode.InvalidConfig })
})

t.test('a failing restore is CniError 102 with stderr and the input in details', async (t) => {
  const stderr = 'iptables-restore: line 2 failed: No chain/target/match by that name.\n'
  const { mod } = await load(t, { status: 1, stderr })
  const b = new IptablesBatch(4).append('filter', 'NOPE', ['-j', 'ACCEPT'])
  const err = await mod.iptablesRestore(undefined, b).then(() => undefined, (e: unknown) => e)
  t.match(err, { name: 'CniError', code: CniCode.FirewallFailed, message: 'failed to apply iptables rules: iptables-restore: line 2 failed: No chain/target/match by that name.' })
  t.match((err as { details: string }).details, /^iptables-restore: line 2 failed.*\ninput:\n\*filter\n-A NOPE -j ACCEPT\nCOMMIT/s)
})

t.test('a restore killed without output still says why', async (t) => {
  const { mod } = await load(t, { status: null, signal: 'SIGKILL', stderr: '' })
  await t.rejects(mod.iptablesRestore(undefined, new IptablesBatch(4).append('filter', 'X', ['-j', 'DROP'])), { message: 'failed to apply iptables rules: exit status null' })
})

t.test('missing tools are CniError 50', async (t) => {
  const { mod } = await load(t, {}, { restore: undefined as unknown as string, save: undefined as unknown as string })
  await t.rejects(mod.iptablesRestore(undefined, new IptablesBatch(4).append('filter', 'X', ['-j', 'DROP'])), { code: CniCode.NotAvailable, message: /iptables-restore not found/ })
  await t.rejects(mod.iptablesSave(undefined, 6), { code: CniCode.NotAvailable, message: /ip6tables-save not found/ })
})

t.test('iptablesListChain parses iptables-save -t TABLE', async (t) => {
  const stdout = '*nat\n:POSTROUTING ACCEPT [0:0]\n:CNI-X - [0:0]\n-A POSTROUTING -j CNI-X\n-A CNI-X -m comment --comment "id: c1" -j MASQUERADE\nCOMMIT\n'
  const { mod, calls } = await load(t, { stdout })
  t.same(await mod.iptablesListChain(undefined, 4, 'nat', 'CNI-X'), [{ chain: 'CNI-X', args: ['-j', 'MASQUERADE'], comment: 'id: c1' }])
  t.same(calls[0], { file: '/sbin/iptables-save', args: ['-t', 'nat'] })
  t.equal(await mod.iptablesListChain(undefined, 4, 'nat', 'CNI-Y'), undefined, 'missing chain')
  t.equal(await mod.iptablesListChain(undefined, 4, 'filter', 'CNI-X'), undefined, 'missing table')
  t.same((await mod.iptablesSave(undefined, 4)).length, 1)
  t.same(calls.at(-1)?.args, [], 'no -t lists every table')
})

t.test('a failing iptables-save is CniError 102', async (t) => {
  const { mod } = await load(t, { status: 1, stderr: 'iptables-save: boom\n' })
  await t.rejects(mod.iptablesSave(undefined, 4, 'filter'), { code: CniCode.FirewallFailed, message: 'failed to list iptables rules: iptables-save: boom' })
})
