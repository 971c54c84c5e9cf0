// Bad input and failed starts: one clear line on stderr, a non-zero exit, and nothing left behind —
// neither for refusals before anything is made (malformed or out-of-range -p, duplicate name, unknown
// network, missing rootfs, command not found) nor for starts that fail halfway (a published port
// another container holds, a plugin missing from the chain), which roll back what they made.
import t, { type Test } from 'tap'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { containerIPs, createBerthHost, type BerthRun } from '../../helpers/berth-host.js'
import { BIN_DIR } from '../../helpers/paths.js'
import { needsBuiltBin, needsRoot } from '../../helpers/privileges.js'

const skip = needsRoot() || needsBuiltBin('berth', BIN_DIR) || needsBuiltBin('portmap', BIN_DIR)

function oneLine(t: Test, r: BerthRun, msg: RegExp, code = 1): void {
  t.equal(r.status, code, `exit ${code}`)
  t.equal(r.stdout, '', 'nothing on stdout')
  const lines = r.stderr.split('\n').filter((l) => l !== '')
  t.equal(lines.length, 1, `one line: ${r.stderr}`)
  t.match(lines[0] ?? '', /^berth: .+; .+/, 'says what went wrong and what to do')
  t.match(lines[0] ?? '', msg)
}

t.test('refusals before anything is created', { skip }, async (t) => {
  const b = await createBerthHost(t)
  const cases: [string, string[], RegExp, number?][] = [
    ['malformed -p', ['-p', '80:80/icmp'], /invalid port mapping "80:80\/icmp": unknown protocol/],
    ['-p without a container port', ['-p', '8080:'], /no container port given/],
    ['-p host port out of range', ['-p', '70000:80'], /"70000" is not a port number \(0-65535\)/],
    ['-p container port out of range', ['-p', '8080:65536'], /"65536" is not a port number/],
    ['-p ranges of different length', ['-p', '8000-8001:80-82'], /differ in length/],
    ['-p with a host name', ['-p', 'localhost:8080:80'], /host IP "localhost" is not an IPv4 or IPv6 address/],
    ['-p with --net host', ['--net', 'host', '-p', '8080:80'], /-p has no effect with --net host/],
    ['unknown network', ['--net', 'nosuchnet'], /no network named "nosuchnet"/],
    ['host mixed with a network', ['--net', 'host', '--net', 'berth'], /--net host cannot be combined/],
    ['invalid name', ['--name', '../evil'], /invalid container name/],
    ['invalid hostname', ['--hostname', 'bad_host!'], /invalid hostname/],
    ['missing rootfs', ['--rootfs', join(b.root, 'nope')], /rootfs .* is not a directory/],
    ['bad -e', ['-e', '=x'], /invalid -e "=x"/],
  ]
  for (const [what, args, msg, code] of cases) {
    t.test(what, async (t) => oneLine(t, b.berth(['run', ...args, '--', 'true']), msg, code))
  }
  t.test('command not found (127, as Docker)', async (t) => oneLine(t, b.berth(['run', '--', 'no-such-command-x']), /command "no-such-command-x" not found in PATH=/, 127))
  t.test('command not found inside the rootfs', async (t) => {
    const rootfs = join(b.root, 'rootfs')
    mkdirSync(join(rootfs, 'bin'), { recursive: true })
    oneLine(t, b.berth(['run', '--net', 'none', '--rootfs', rootfs, '--', 'sh']), /command "sh" not found in PATH=.* in .*rootfs/, 127)
  })
  t.test('no command', async (t) => oneLine(t, b.berth(['run', '--net', 'none']), /no command given/))
  t.same(b.leftovers(), [], 'none of them left anything')
  t.equal(b.berth(['ps', '-a', '--json']).stdout.trim(), '[]')
})

t.test('a duplicate name is refused and the first container is untouched', { skip }, async (t) => {
  const b = await createBerthHost(t)
  t.equal(b.berth(['run', '-d', '--name', 'dup', '--net', 'none', '--', 'sleep', '1000']).status, 0)
  oneLine(t, b.berth(['run', '--name', 'dup', '--net', 'none', '--', 'true']), /a container named "dup" already exists/)
  t.match(JSON.parse(b.berth(['ps', '--json']).stdout), [{ name: 'dup', status: 'running' }], 'still running')
  t.equal(b.berth(['rm', '-f', 'dup']).status, 0)
  t.same(b.leftovers(), [])
})

t.test('a start that fails halfway (port held by another container) rolls back', { skip }, async (t) => {
  const b = await createBerthHost(t)
  const first = b.berth(['run', '-d', '--name', 'holder', '-p', '18081:80', '--', 'sleep', '1000'])
  t.equal(first.status, 0, first.stderr)
  const second = b.berth(['run', '-d', '--name', 'loser', '-p', '18081:80', '--', 'sleep', '1000'])
  oneLine(t, second, /^berth: cannot attach network berth \(eth0\): plugin type="portmap" failed \(add\): host port \*:18081\/tcp is already mapped/)
  t.same((JSON.parse(b.berth(['ps', '-a', '--json']).stdout) as { name: string }[]).map((c) => c.name), ['holder'], 'no trace of the loser in ps')
  const holder = JSON.parse(b.berth(['inspect', 'holder']).stdout) as Parameters<typeof containerIPs>[0] & { id: string }
  t.equal(b.berth(['rm', '-f', 'holder']).status, 0)
  t.same(b.leftovers({ ips: containerIPs(holder), ids: [holder.id], ports: [18081] }), [], 'after removing the holder nothing is left: the loser left nothing')
})

t.test('a plugin missing from the chain: ADD rolled back, nothing left', { skip }, async (t) => {
  const b = await createBerthHost(t)
  const confDir = join(b.root, 'etc/cni/net.d')
  mkdirSync(confDir, { recursive: true })
  const conf = {
    cniVersion: '1.0.0',
    name: 'broken',
    plugins: [
      { type: 'bridge', bridge: 'brk0', isGateway: true, ipam: { type: 'host-local', ranges: [[{ subnet: '10.123.10.0/24' }]], dataDir: b.dataDir } },
      { type: 'no-such-plugin' },
    ],
  }
  writeFileSync(join(confDir, 'broken.conflist'), JSON.stringify(conf))
  const r = b.berth(['run', '--name', 'half', '--net', 'broken', '--', 'true'])
  oneLine(t, r, /cannot attach network broken \(eth0\): plugin type="no-such-plugin" failed \(add\): failed to find plugin "no-such-plugin"/)
  t.equal(r.stderr.split('no-such-plugin" in path').length, 2, 'the reason is not repeated')
  t.same(b.leftovers({ ips: ['10.123.10.2'] }), [])
})
