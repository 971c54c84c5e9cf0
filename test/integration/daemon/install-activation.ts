// berth install writes the systemd units, and the installed daemon takes its listening socket from
// systemd (socket activation, emulated here exactly as systemd does it: the socket as fd 3, LISTEN_PID
// and LISTEN_FDS set, then exec in the same process), serving the installed shims.
import t from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createTestNetns } from '../../helpers/netns.js'
import { BIN_DIR } from '../../helpers/paths.js'
import { needsBuiltBin, needsRoot } from '../../helpers/privileges.js'

const skip = needsRoot() || needsBuiltBin('berth', BIN_DIR)

// What systemd does for a socket unit with Accept=no: bind, listen, hand the socket over as fd 3.
const ACTIVATE = [
  'import os, socket, sys',
  's = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)',
  's.bind(sys.argv[1])',
  'os.chmod(sys.argv[1], 0o600)',
  's.listen(128)',
  'os.dup2(s.fileno(), 3)',
  'os.set_inheritable(3, True)',
  'os.environ["LISTEN_PID"] = str(os.getpid())',
  'os.environ["LISTEN_FDS"] = "1"',
  'os.execv(sys.argv[2], [sys.argv[2], "daemon"])',
].join('\n')

t.test('install writes the units and a daemon of the same build; socket activation serves the installed shims', { skip }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-test-install-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const cni = join(dir, 'cni')
  const units = join(dir, 'systemd')
  const r = spawnSync(join(BIN_DIR, 'berth'), ['install', '--dir', cni, '--systemd-dir', units], { encoding: 'utf8' })
  t.equal(r.status, 0, r.stderr)
  t.match(r.stdout, /wrote .*berth\.socket.*berth\.service.*systemctl enable --now berth\.socket/)
  const socketUnit = readFileSync(join(units, 'berth.socket'), 'utf8')
  const serviceUnit = readFileSync(join(units, 'berth.service'), 'utf8')
  t.match(socketUnit, /^ListenStream=\/run\/berth\/berthd\.sock$/m)
  t.match(socketUnit, /^SocketMode=0600$/m)
  t.match(socketUnit, /^DirectoryMode=0700$/m)
  t.match(serviceUnit, new RegExp(`^ExecStart=${join(cni, 'lib', 'berth')} daemon$`, 'm'))
  t.equal(readFileSync(join(cni, 'lib', 'build-id'), 'utf8').trim(), readFileSync(join(BIN_DIR, 'lib', 'build-id'), 'utf8').trim())
  const noUnits = spawnSync(join(BIN_DIR, 'berth'), ['install', '--dir', join(dir, 'cni2'), '--no-systemd'], { encoding: 'utf8' })
  t.equal(noUnits.status, 0)
  t.notMatch(noUnits.stdout, /wrote/, '--no-systemd writes no units')

  const sock = join(dir, 'berthd.sock')
  const daemon = spawn('python3', ['-c', ACTIVATE, sock, join(cni, 'lib', 'berth')], { stdio: ['ignore', 'ignore', 'pipe'] })
  let log = ''
  daemon.stderr?.on('data', (c: Buffer) => (log += c.toString()))
  const exited = new Promise<number | null>((res) => daemon.once('exit', (code) => res(code)))
  t.teardown(() => void daemon.kill('SIGKILL'))
  for (let i = 0; i < 500 && !/serving/.test(log); i++) await new Promise((res) => setTimeout(res, 20))
  t.match(log, /serving .* on an inherited socket/, 'the daemon took the inherited socket')

  const ns = await createTestNetns(t)
  const add = spawnSync(join(cni, 'loopback'), {
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', BERTH_SOCKET: sock, CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c-act', CNI_NETNS: ns.path, CNI_IFNAME: 'lo', CNI_PATH: cni },
    input: JSON.stringify({ cniVersion: '1.0.0', name: 'lo', type: 'loopback' }),
    encoding: 'utf8',
  })
  t.equal(add.status, 0, add.stdout + add.stderr)
  const st = JSON.parse(spawnSync(join(cni, 'lib', 'berth'), ['daemon', 'status', '--json', '--socket', sock], { encoding: 'utf8' }).stdout)
  t.match(st.requests, [{ type: 'loopback', verb: 'ADD', count: 1 }], 'served by the activated daemon')
  t.equal(st.socket, 'fd 3')
  daemon.kill('SIGTERM')
  t.equal(await exited, 0, 'clean exit on SIGTERM')
  t.ok(existsSync(sock), 'an inherited socket is systemd\'s to remove, not the daemon\'s')
})
