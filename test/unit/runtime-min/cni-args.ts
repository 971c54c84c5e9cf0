// `berth cni` options, by cnitool's rules: --args pairs, --cap NAME=JSON, and cnitool's container ID.
import t from 'tap'
import { createHash } from 'node:crypto'
import { CliError } from '../../../runtime-min/cli-error.js'
import { cnitoolContainerId, parseArgsOption, parseCapArgsEnv, parseCapOptions, resolveAttachOptions } from '../../../runtime-min/commands/cni-args.js'

t.test('--args', async (t) => {
  t.same(parseArgsOption(undefined), [])
  t.same(parseArgsOption(''), [])
  t.same(parseArgsOption('IgnoreUnknown=1;K8S_POD_NAME=web'), [['IgnoreUnknown', '1'], ['K8S_POD_NAME', 'web']], 'order kept')
  for (const bad of ['A', 'A=1;', '=1', 'A=', 'A=1=2', 'A=1;;B=2']) {
    t.throws(() => parseArgsOption(bad), CliError, bad)
  }
  t.throws(() => parseArgsOption('A=1;B'), { message: /invalid --args pair "B"; write KEY=VALUE pairs/ })
})

t.test('--cap', async (t) => {
  t.same(parseCapOptions([]), {})
  t.same(parseCapOptions(['portMappings=[{"hostPort":8080,"containerPort":80,"protocol":"tcp"}]', 'mac="02:00:00:00:00:01"']), {
    portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }],
    mac: '02:00:00:00:00:01',
  })
  t.same(parseCapOptions(['ips=["10.0.0.1/24"]', 'ips=["10.0.0.2/24"]']), { ips: ['10.0.0.2/24'] }, 'the later one wins')
  t.same(parseCapOptions(['x={"a":"b=c"}']), { x: { a: 'b=c' } }, 'split at the first =')
  t.throws(() => parseCapOptions(['ips']), { message: /invalid --cap "ips"; write NAME=JSON/ })
  t.throws(() => parseCapOptions(['=1']), CliError)
  t.throws(() => parseCapOptions(['ips=[10.0.0.1']), { message: /^invalid --cap ips: the value is not JSON/ })
  t.throws(() => parseCapOptions(['mac=02:00']), { message: /not JSON/ })
})

t.test("cnitool's container ID: cnitool- and the first 10 bytes of sha512 of the absolute path", async (t) => {
  const expect = `cnitool-${createHash('sha512').update('/run/netns/demo').digest('hex').slice(0, 20)}`
  t.equal(cnitoolContainerId('/run/netns/demo'), expect)
  t.equal(cnitoolContainerId('/run/netns/../netns/demo'), expect, 'the path is made absolute and clean first (filepath.Abs)')
  t.match(cnitoolContainerId('/proc/1/ns/net'), /^cnitool-[0-9a-f]{20}$/)
})

t.test("cnitool's environment variables as defaults: CNI_IFNAME, CNI_ARGS, CAP_ARGS", async (t) => {
  t.same(resolveAttachOptions({}, {}), { ifName: 'eth0', args: [], capabilityArgs: {} })
  t.same(resolveAttachOptions({}, { CNI_IFNAME: '', CNI_ARGS: '', CAP_ARGS: '' }), { ifName: 'eth0', args: [], capabilityArgs: {} }, 'empty is unset')
  const env = { CNI_IFNAME: 'net9', CNI_ARGS: 'A=1', CAP_ARGS: '{"ips":["10.0.0.1/24"],"mac":"02:00:00:00:00:09"}' }
  t.same(resolveAttachOptions({}, env), { ifName: 'net9', args: [['A', '1']], capabilityArgs: { ips: ['10.0.0.1/24'], mac: '02:00:00:00:00:09' } })
  t.same(resolveAttachOptions({ ifname: 'eth3', args: 'B=2', cap: ['ips=["10.0.0.2/24"]'] }, env), { ifName: 'eth3', args: [['B', '2']], capabilityArgs: { ips: ['10.0.0.2/24'], mac: '02:00:00:00:00:09' } }, 'options win; --cap replaces one key of CAP_ARGS')
  t.throws(() => parseCapArgsEnv('[1]'), { message: /^invalid CAP_ARGS: not a JSON object; set it to a JSON object/ })
  t.throws(() => parseCapArgsEnv('{'), { message: /^invalid CAP_ARGS: not JSON/ })
  t.throws(() => resolveAttachOptions({}, { CNI_ARGS: 'A' }), { message: /invalid --args pair "A"/ })
})
