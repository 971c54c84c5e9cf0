// Throw-away network namespaces for integration tests, held by a `sleep` process (netavark's pattern):
// killing the process destroys the namespace and everything in it (links, nft tables, sysctls).
// Nothing is mounted under /run/netns, so a crashed test leaves no clutter there.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process'
import { existsSync, rmSync } from 'node:fs'
import { netnsFileKey } from '../../pkg/ns/netns.js'

export interface TestNetns {
  /** /proc/PID/ns/net */
  path: string
  pid: number
  /** Runs a command inside the namespace (via nsenter), returning stdout. Throws on non-zero exit. */
  exec(cmd: string, args: string[], opts?: { input?: string; timeout?: number }): string
  /** `ip -j ARGS` inside the namespace, parsed. */
  ipJson(args: string[]): unknown
  destroy(): void
}

interface Tap {
  teardown(fn: () => unknown): void
}

/** Creates a namespace that lives until the test ends (t.teardown kills it, also on failure). */
export async function createTestNetns(t: Tap, opts: { mount?: boolean } = {}): Promise<TestNetns> {
  const args = ['--net', ...(opts.mount ? ['--mount', '--propagation', 'private'] : []), '--kill-child', 'sleep', 'infinity']
  const child: ChildProcess = spawn('unshare', args, { stdio: 'ignore', detached: false })
  const unsharePid = child.pid
  if (unsharePid === undefined) throw new Error('failed to start unshare')
  // unshare forks the sleep; the namespace is the unshare process's own as soon as it has exec'd.
  const path = `/proc/${unsharePid}/ns/net`
  await waitFor(() => existsSync(path) && nsDiffers(path), 5000)
  const ns: TestNetns = {
    path,
    pid: unsharePid,
    exec(cmd, cargs, o = {}) {
      return execFileSync('nsenter', [`--net=${path}`, ...(opts.mount ? [`--mount=/proc/${unsharePid}/ns/mnt`] : []), '--', cmd, ...cargs], {
        encoding: 'utf8',
        input: o.input,
        timeout: o.timeout ?? 20000,
        stdio: ['pipe', 'pipe', 'pipe'],
      })
    },
    ipJson(iargs) {
      const out = ns.exec('ip', ['-j', ...iargs])
      return out.trim() === '' ? [] : JSON.parse(out)
    },
    destroy() {
      if (child.exitCode === null && child.signalCode === null) {
        dropHostRecords(path)
        child.kill('SIGKILL')
      }
    },
  }
  t.teardown(() => ns.destroy())
  return ns
}

// Per-host-namespace records of bridge and portmap (plugins/*/state dirs, named by the namespace's
// dev-inode) would outlive the namespace; a later namespace reusing the inode would then inherit them.
// Removed while the namespace still exists, so no other namespace can hold that inode yet.
const HOST_RECORD_ROOTS = ['/run/berth/bridge', '/run/berth/portmap']

function dropHostRecords(nsPath: string): void {
  let key: string
  try {
    key = netnsFileKey(nsPath)
  } catch {
    return
  }
  for (const root of HOST_RECORD_ROOTS) rmSync(`${root}/${key}`, { recursive: true, force: true })
}

function nsDiffers(path: string): boolean {
  try {
    return execFileSync('readlink', [path], { encoding: 'utf8' }) !== execFileSync('readlink', ['/proc/self/ns/net'], { encoding: 'utf8' })
  } catch {
    return false
  }
}

async function waitFor(cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting for test namespace')
    await new Promise((r) => setTimeout(r, 10))
  }
}
