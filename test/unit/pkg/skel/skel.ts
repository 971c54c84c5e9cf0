import t from 'tap'
import { dispatch, type CmdArgs, type PluginFuncs, type SkelIo } from '../../../../pkg/skel/skel.js'
import { CniCode, CniError } from '../../../../pkg/errors/cni-error.js'

const conf = (v = '1.1.0', extra: Record<string, unknown> = {}) => JSON.stringify({ cniVersion: v, name: 'net1', type: 'fake', ...extra })

const baseEnv = {
  CNI_COMMAND: 'ADD',
  CNI_CONTAINERID: 'c1',
  CNI_NETNS: '/var/run/netns/x',
  CNI_IFNAME: 'eth0',
  CNI_PATH: '/opt/cni/bin:/usr/lib/cni',
}

function harness(funcs: Partial<PluginFuncs> = {}) {
  const calls: { verb: string; args: CmdArgs }[] = []
  const full: PluginFuncs = {
    add: async (a) => {
      calls.push({ verb: 'add', args: a })
      return { cniVersion: '1.1.0', interfaces: [{ name: 'eth0', sandbox: a.netns }], ips: [{ address: '10.0.0.2/24', gateway: '10.0.0.1', interface: 0 }] }
    },
    del: async (a) => void calls.push({ verb: 'del', args: a }),
    check: async (a) => void calls.push({ verb: 'check', args: a }),
    status: async (a) => void calls.push({ verb: 'status', args: a }),
    gc: async (a) => void calls.push({ verb: 'gc', args: a }),
    ...funcs,
  }
  return {
    calls,
    async run(env: Record<string, string | undefined>, stdin = conf()) {
      let out = ''
      let err = ''
      const io: SkelIo = {
        env,
        readStdin: async () => Buffer.from(stdin),
        stdout: (s) => void (out += s),
        stderr: (s) => void (err += s),
      }
      const code = await dispatch(full, { name: 'fake' }, io)
      return { code, out, err, json: out === '' ? undefined : (JSON.parse(out) as Record<string, unknown>) }
    },
  }
}

t.test('VERSION prints the supported versions without reading config', async (t) => {
  const h = harness()
  const r = await h.run({ CNI_COMMAND: 'VERSION' }, 'not json at all')
  t.equal(r.code, 0)
  t.same(r.json, { cniVersion: '1.1.0', supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] })
})

t.test('missing CNI_COMMAND is code 4 naming it', async (t) => {
  const r = await harness().run({})
  t.equal(r.code, 1)
  t.match(r.json, { code: 4, msg: /CNI_COMMAND/ })
})

t.test('unknown command is code 4', async (t) => {
  const r = await harness().run({ ...baseEnv, CNI_COMMAND: 'FROB' })
  t.match(r.json, { code: 4, msg: /unknown CNI_COMMAND "FROB"/ })
})

t.test('all missing variables are listed together', async (t) => {
  const r = await harness().run({ CNI_COMMAND: 'ADD' })
  t.match(r.json, { code: 4, msg: 'required env variables [CNI_CONTAINERID,CNI_NETNS,CNI_IFNAME,CNI_PATH] missing' })
})

t.test('DEL does not need CNI_NETNS; STATUS and GC need only CNI_PATH', async (t) => {
  const h = harness()
  const { CNI_NETNS: _n, ...noNetns } = baseEnv
  t.equal((await h.run({ ...noNetns, CNI_COMMAND: 'DEL' })).code, 0)
  t.equal((await h.run({ CNI_COMMAND: 'STATUS', CNI_PATH: '/x' })).code, 0)
  t.equal((await h.run({ CNI_COMMAND: 'GC', CNI_PATH: '/x' })).code, 0)
  t.match((await h.run({ CNI_COMMAND: 'GC' })).json, { code: 4, msg: /CNI_PATH/ })
  t.same(h.calls.map((c) => c.verb), ['del', 'status', 'gc'])
  t.equal(h.calls[0]?.args.netns, '')
})

t.test('invalid container ID and interface names are code 4', async (t) => {
  const h = harness()
  t.match((await h.run({ ...baseEnv, CNI_CONTAINERID: '../etc' })).json, { code: 4, msg: /CNI_CONTAINERID|containerID/i })
  t.match((await h.run({ ...baseEnv, CNI_IFNAME: 'a/b' })).json, { code: 4, msg: /CNI_IFNAME|interface name/i })
  t.match((await h.run({ ...baseEnv, CNI_IFNAME: 'x'.repeat(16) })).json, { code: 4 })
  t.equal(h.calls.length, 0, 'nothing ran')
})

t.test('malformed JSON is 6, missing key 7, unknown version 1', async (t) => {
  const h = harness()
  t.match((await h.run(baseEnv, '{nope')).json, { code: 6 })
  t.match((await h.run(baseEnv, JSON.stringify({ cniVersion: '1.0.0', type: 'fake' }))).json, { code: 7, msg: /name/ })
  t.match((await h.run(baseEnv, conf('9.9.9'))).json, { code: 1, msg: /9\.9\.9/ })
  t.equal(h.calls.length, 0)
})

t.test('ADD result is converted to the config version', async (t) => {
  const h = harness()
  const r = await h.run(baseEnv, conf('0.4.0'))
  t.equal(r.code, 0)
  t.match(r.json, { cniVersion: '0.4.0', ips: [{ version: '4', address: '10.0.0.2/24', interface: 0 }] })
  const r1 = await h.run(baseEnv, conf('1.0.0'))
  t.match(r1.json, { cniVersion: '1.0.0' })
  t.notOk((r1.json?.['ips'] as Record<string, unknown>[])[0]?.['version'])
})

t.test('CHECK needs 0.4.0+, STATUS and GC need 1.1.0', async (t) => {
  const h = harness()
  t.match((await h.run({ ...baseEnv, CNI_COMMAND: 'CHECK' }, conf('0.3.1'))).json, { code: 1, msg: /CHECK/ })
  t.match((await h.run({ CNI_COMMAND: 'STATUS', CNI_PATH: '/x' }, conf('1.0.0'))).json, { code: 1, msg: /STATUS/ })
  t.equal((await h.run({ ...baseEnv, CNI_COMMAND: 'CHECK' }, conf('0.4.0'))).code, 0)
})

t.test('plugin errors keep their code; other throws become 999 with nothing else on stdout', async (t) => {
  const h1 = harness({ add: async () => { throw new CniError(CniCode.AddressesExhausted, 'no addresses left in 10.0.0.0/30') } })
  const r1 = await h1.run(baseEnv)
  t.same(r1.json, { cniVersion: '1.1.0', code: 100, msg: 'no addresses left in 10.0.0.0/30' })
  const h2 = harness({ del: async () => { throw new TypeError('boom') } })
  const r2 = await h2.run({ ...baseEnv, CNI_COMMAND: 'DEL' })
  t.equal(r2.code, 1)
  t.match(r2.json, { code: 999, msg: 'boom' })
  t.notMatch(r2.out, /at .*\.ts:\d+/, 'no stack trace on stdout')
  t.match(r2.err, /boom/)
})

t.test('CNI_ARGS and CNI_PATH are parsed', async (t) => {
  const h = harness()
  await h.run({ ...baseEnv, CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAME=web' })
  const a = h.calls[0]?.args
  t.equal(a?.args.get('K8S_POD_NAME'), 'web')
  t.same(a?.path, ['/opt/cni/bin', '/usr/lib/cni'])
  t.match((await h.run({ ...baseEnv, CNI_ARGS: 'novalue' })).json, { code: 4, msg: /CNI_ARGS/ })
})
