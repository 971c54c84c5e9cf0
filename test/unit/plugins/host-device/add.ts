// cmdAdd's undo order, with every kernel- and process-facing module replaced by a recording fake
// (t.mockImport): a failure at each step after the state file leaves nothing behind, in reverse order.
import t, { type Test } from 'tap'
import type { CmdArgs } from '../../../../pkg/skel/skel.js'
import type { NetConf } from '../../../../pkg/cni/schema.js'

type Step = 'move' | 'alias' | 'up' | 'ipam' | 'configure'

async function load(t: Test, calls: string[], failAt?: Step) {
  const fail = (s: Step) => {
    if (s === failAt) throw new Error(`injected failure at ${s}`)
  }
  const handle = (path: string) => ({ path, fd: 3, close: () => calls.push(`close ${path}`) })
  const link = { index: 7, name: 'ens9', kind: undefined, mac: '02:00:00:00:00:09', mtu: 1500, up: true, flags: 1 }
  return t.mockImport<typeof import('../../../../plugins/host/host-device/add.js')>('../../../../plugins/host/host-device/add.js', {
    '../../../../pkg/ns/netns.js': { NetnsHandle: { open: (p: string) => handle(p), current: () => handle('host') } },
    '../../../../pkg/link/rtnl.js': { openRtnl: (ns: { path: string }) => ({ netns: ns.path, close: () => {} }) },
    '../../../../pkg/link/link.js': {
      linkByName: async () => undefined,
      getLink: async () => ({ ...link, name: 'eth0' }),
      setLinkDown: async () => void calls.push('down'),
      moveLinkToNetns: async () => (fail('move'), void calls.push('move')),
      setLinkAlias: async () => (fail('alias'), void calls.push('alias')),
      setLinkUp: async () => (fail('up'), void calls.push('up')),
    },
    '../../../../pkg/invoke/delegate.js': {
      delegateAdd: async () => (fail('ipam'), calls.push('ipam.add'), { cniVersion: '1.0.0', ips: [{ address: '10.0.0.2/24' }] }),
      delegateDel: async () => void calls.push('ipam.del'),
    },
    '../../../../plugins/host/host-device/device.js': {
      findHostDevice: async () => link,
      snapshotDevice: async () => ({ name: 'ens9', index: 7, kind: null, mac: link.mac, mtu: 1500, up: true, addresses: [] }),
      returnDevice: async () => (calls.push('return device'), 'moved'),
    },
    '../../../../pkg/ipam/configure.js': {
      ipsFor: (r: { ips: unknown[] }) => r.ips,
      configureIface: async () => (fail('configure'), void calls.push('configure')),
    },
    '../../../../plugins/host/host-device/state.js': {
      STATE_VERSION: 1,
      withStateLock: async (_d: string, fn: () => Promise<unknown>) => fn(),
      readState: () => undefined,
      writeState: () => void calls.push('write state'),
      removeState: () => void calls.push('remove state'),
    },
  })
}

const args = (conf: Partial<NetConf> = {}): CmdArgs => ({
  command: 'ADD',
  containerId: 'c1',
  netns: '/proc/1/ns/net',
  ifName: 'eth0',
  args: new Map(),
  path: ['/opt/cni/bin'],
  stdin: new Uint8Array(),
  conf: { cniVersion: '1.0.0', name: 'n', type: 'host-device', device: 'ens9', ipam: { type: 'host-local' }, ...conf },
  env: {},
})

t.test('success: state, move, alias, up, IPAM, configure; no undo', async (t) => {
  const calls: string[] = []
  const { cmdAdd } = await load(t, calls)
  const r = await cmdAdd(args())
  t.same(calls.filter((c) => !c.startsWith('close')), ['write state', 'down', 'move', 'alias', 'up', 'ipam.add', 'configure'])
  t.match(r, { interfaces: [{ name: 'eth0', sandbox: '/proc/1/ns/net' }], ips: [{ address: '10.0.0.2/24' }] })
})

const cases: [Step, string[]][] = [
  ['move', ['return device', 'remove state']],
  ['alias', ['return device', 'remove state']],
  ['up', ['return device', 'remove state']],
  ['ipam', ['ipam.del', 'return device', 'remove state']],
  ['configure', ['ipam.del', 'return device', 'remove state']],
]
for (const [step, undo] of cases) {
  t.test(`a failure at ${step} is undone in reverse order`, async (t) => {
    const calls: string[] = []
    const { cmdAdd } = await load(t, calls, step)
    await t.rejects(cmdAdd(args()), { message: `injected failure at ${step}` })
    const done = calls.filter((c) => !c.startsWith('close'))
    t.same(done.slice(-undo.length), undo)
    t.ok(calls.includes('close /proc/1/ns/net') && calls.includes('close host'), 'handles closed')
  })
}
