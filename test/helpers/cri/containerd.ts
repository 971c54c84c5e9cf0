// A private containerd for tests and benchmarks: its own root, state, gRPC socket, runc root, CNI conf dir
// and cgroup parent, all under one temporary directory, with the CRI plugin's CNI bin_dir pointed wherever
// the caller says (berth's bin/ or the reference plugins). Facts it relies on are in the project notes
// (containerd 1.6 on Debian 12, runc, busybox images imported with ctr).
//
// Cleaning up happens in two steps: shutdown() is the polite one (CRI stop/remove of every sandbox, then
// SIGTERM), destroy() the forced one, synchronous so it can run from an exit or signal handler: it kills
// containerd, deletes every runc container of our runc root (their processes and cgroups), kills our shims,
// unmounts whatever is mounted under the directory (netns, shm, rootfs) and removes it, our cgroup parent
// and the shim sockets containerd 1.6 always puts in /run/containerd/s.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { criClient, type CriClient } from './client.js'

/** false, or why no containerd test can run here (tap's skip reason). */
export function needsContainerd(): false | string {
  for (const [cmd, why] of [
    ['containerd', 'containerd not installed (scripts/setup installs containerd, runc and busybox-static)'],
    ['ctr', 'ctr (containerd package) not installed'],
    ['containerd-shim-runc-v2', 'containerd-shim-runc-v2 (containerd package) not installed'],
    ['runc', 'runc not installed (scripts/setup installs it; crun cannot run on this kernel)'],
  ] as const) {
    if (spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status !== 0) return why
  }
  return false
}

export interface ContainerdOptions {
  /** the CRI plugin's CNI bin_dir */
  cniBinDir: string
  /** the image every sandbox runs ("pause"); import it before the first RunPodSandbox */
  sandboxImage: string
  /** short and unique: names the temporary directory and the cgroup parent */
  tag: string
  /** where the temporary directory goes (default: the OS temp dir) */
  parentDir?: string
  /** more environment for containerd, which passes it to the plugins */
  env?: Record<string, string>
}

const NS = 'k8s.io'
// containerd 1.6 puts shim sockets here whatever its state dir is: /run/containerd/s/<sha256(address/ns/id)>.
const SHIM_SOCKET_DIR = '/run/containerd/s'
const toml = (s: string) => JSON.stringify(s)

export class Containerd {
  readonly dir: string
  readonly socket: string
  readonly confDir: string
  readonly logFile: string
  readonly runcRoot: string
  /** the cgroup every pod is put under (cgroupfs syntax), removed by destroy() */
  readonly cgroupParent: string
  readonly cri: CriClient
  readonly opts: ContainerdOptions
  #proc: ChildProcess | undefined
  #destroyed = false
  // which of /run/containerd and /run/containerd/s did not exist before we started (rmdir'd when empty)
  readonly #madeRunDirs: string[] = []

  constructor(opts: ContainerdOptions) {
    this.opts = opts
    this.dir = mkdtempSync(join(opts.parentDir ?? tmpdir(), `berth-cri-${opts.tag}-`))
    this.socket = join(this.dir, 'containerd.sock')
    this.confDir = join(this.dir, 'net.d')
    this.logFile = join(this.dir, 'containerd.log')
    this.runcRoot = join(this.dir, 'runc')
    this.cgroupParent = `/berth-cri-${opts.tag}`
    mkdirSync(this.confDir)
    for (const d of ['/run/containerd', SHIM_SOCKET_DIR]) if (!existsSync(d)) this.#madeRunDirs.unshift(d)
    this.cri = criClient(this.socket)
  }

  /** The configuration: everything private, only the plugins the CRI needs. */
  config(snapshotter: 'overlayfs' | 'native'): string {
    const cri = 'plugins."io.containerd.grpc.v1.cri"'
    return [
      'version = 2',
      `root = ${toml(join(this.dir, 'root'))}`,
      `state = ${toml(join(this.dir, 'state'))}`,
      // snapshotters and services a CRI node does not need here (and that probe the host when loaded)
      'disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]',
      '[grpc]',
      `  address = ${toml(this.socket)}`,
      '[plugins."io.containerd.internal.v1.opt"]',
      `  path = ${toml(join(this.dir, 'opt'))}`,
      `[${cri}]`,
      `  sandbox_image = ${toml(this.opts.sandboxImage)}`,
      // root here lacks CAP_SYS_RESOURCE: containerd may not lower the OOM score below its own
      '  restrict_oom_score_adj = true',
      '  netns_mounts_under_state_dir = true',
      '  disable_apparmor = true',
      `[${cri}.cni]`,
      `  bin_dir = ${toml(this.opts.cniBinDir)}`,
      `  conf_dir = ${toml(this.confDir)}`,
      '  max_conf_num = 1',
      `[${cri}.containerd]`,
      `  snapshotter = ${toml(snapshotter)}`,
      '  default_runtime_name = "runc"',
      `[${cri}.containerd.runtimes.runc]`,
      '  runtime_type = "io.containerd.runc.v2"',
      `[${cri}.containerd.runtimes.runc.options]`,
      '  SystemdCgroup = false',
      `  Root = ${toml(this.runcRoot)}`,
      '',
    ].join('\n')
  }

  /**
   * Starts containerd and waits until its CRI answers Version. The overlayfs snapshotter is used when this
   * kernel mounts overlay in the temporary directory, else `native` (copies, slower but works anywhere).
   */
  async start(): Promise<void> {
    const snapshotter = overlayWorks(this.dir) ? 'overlayfs' : 'native'
    const configFile = join(this.dir, 'config.toml')
    writeFileSync(configFile, this.config(snapshotter))
    // a plain fd: containerd writes straight to the file and needs no pipe of ours to keep running
    const log = openSync(this.logFile, 'a')
    // setpriv --pdeathsig: containerd dies with us even if we are SIGKILLed (its shims do not: destroy()).
    this.#proc = spawn('setpriv', ['--pdeathsig', 'KILL', '--', 'containerd', '--config', configFile], { stdio: ['ignore', log, log], env: serviceEnv(this.opts.env) })
    closeSync(log)
    const deadline = Date.now() + 30_000
    for (;;) {
      if (this.#proc.exitCode !== null || this.#proc.signalCode !== null) throw new Error(`containerd exited (${this.#proc.exitCode ?? this.#proc.signalCode}):\n${this.logTail()}`)
      if (existsSync(this.socket)) {
        try {
          await this.cri.version()
          return
        } catch {
          // the CRI service registers a little after the socket appears
        }
      }
      if (Date.now() > deadline) throw new Error(`containerd did not serve the CRI within 30 s:\n${this.logTail()}`)
      await sleep(50)
    }
  }

  get pid(): number | undefined {
    return this.#proc?.pid
  }

  /** `ctr images import` of an OCI archive into the k8s.io namespace (where the CRI looks). */
  importImages(archive: string): void {
    const r = spawnSync('ctr', ['--address', this.socket, '-n', NS, 'images', 'import', archive], { encoding: 'utf8', timeout: 120_000 })
    if (r.status !== 0) throw new Error(`ctr images import: ${r.error?.message ?? `exit ${String(r.status)}`}\n${r.stdout}${r.stderr}`)
  }

  /**
   * Makes `conflist` the only network configuration and waits until the CRI has loaded it (its verbose
   * status lists the network and NetworkReady is true). Written in place, not renamed in: containerd 1.6's
   * conf dir watcher ignores Create events (a rename is one) and reloads on Write, Remove and Rename.
   */
  async useNetwork(conflist: { name: string }, timeoutMs = 20_000): Promise<void> {
    for (const f of readdirSync(this.confDir)) rmSync(join(this.confDir, f), { force: true })
    writeFileSync(join(this.confDir, `10-${conflist.name}.conflist`), JSON.stringify(conflist, null, 2))
    const deadline = Date.now() + timeoutMs
    let last = ''
    for (;;) {
      const s = await this.cri.status(true)
      const ready = s.conditions.find((c) => c.type === 'NetworkReady')
      const loaded = (JSON.parse(s.info['cniconfig'] ?? '{}') as { Networks?: { Config?: { Name?: string } }[] }).Networks?.map((n) => n.Config?.Name) ?? []
      if (ready?.status === true && loaded.includes(conflist.name)) return
      last = `NetworkReady=${String(ready?.status)} (${ready?.message ?? ''}), loaded ${loaded.join(', ')}`
      if (Date.now() > deadline) throw new Error(`containerd did not load network ${conflist.name}: ${last}`)
      await sleep(100)
    }
  }

  /**
   * Stops and removes every sandbox (containers go with them) as a kubelet tearing down its pods would;
   * returns the errors (a sandbox whose CNI DEL fails cannot be removed).
   */
  async removeAllPods(): Promise<string[]> {
    const errors: string[] = []
    let pods: { id: string }[] = []
    try {
      pods = await this.cri.listPodSandbox()
    } catch (e) {
      return [`ListPodSandbox: ${(e as Error).message}`]
    }
    await Promise.all(
      pods.map(async (p) => {
        try {
          await this.cri.stopPodSandbox(p.id, 60_000)
          await this.cri.removePodSandbox(p.id, 60_000)
        } catch (e) {
          errors.push(`${p.id.slice(0, 12)}: ${(e as Error).message}`)
        }
      }),
    )
    return errors
  }

  /** The polite end: every pod removed through the CRI, then containerd stopped with SIGTERM. */
  async shutdown(): Promise<string[]> {
    const errors = this.#proc && this.#proc.exitCode === null ? await this.removeAllPods() : []
    this.cri.close()
    const p = this.#proc
    if (p && p.exitCode === null && p.signalCode === null) {
      const exited = new Promise<void>((r) => p.once('exit', () => r()))
      p.kill('SIGTERM')
      const t = setTimeout(() => p.kill('SIGKILL'), 10_000)
      await exited
      clearTimeout(t)
    }
    return errors
  }

  /**
   * The IDs of every sandbox the CRI has a directory for: it makes one before it sets the network up, so
   * this finds also a sandbox whose RunPodSandbox was cut short (its ID never reached the caller).
   */
  sandboxIds(): string[] {
    const ids = new Set<string>()
    for (const base of [join(this.dir, 'root'), join(this.dir, 'state')]) {
      const d = join(base, 'io.containerd.grpc.v1.cri', 'sandboxes')
      if (existsSync(d)) for (const id of readdirSync(d)) ids.add(id)
    }
    return [...ids]
  }

  /** The ids of the tasks (sandboxes and containers) containerd's runtime has state for. */
  taskIds(): string[] {
    const d = join(this.dir, 'state', 'io.containerd.runtime.v2.task', NS)
    return existsSync(d) ? readdirSync(d) : []
  }

  /**
   * The forced end, synchronous and idempotent: returns what it had to do beyond removing the directory
   * (leftover containers, shims, mounts), for the caller to report. `beforeUnmount` runs once no process
   * of ours is left but the pods' network namespaces are still mounted (a DEL can still enter them).
   */
  destroy(beforeUnmount?: () => string[]): string[] {
    if (this.#destroyed) return []
    this.#destroyed = true
    const notes: string[] = []
    try {
      this.cri.close()
    } catch {
      // already closed
    }
    const p = this.#proc
    if (p?.pid !== undefined && p.exitCode === null && p.signalCode === null) {
      // CNI plugins it is running survive it: let them finish, so the forced DEL below comes after them
      const inflight = childPids(p.pid)
      p.kill('SIGKILL')
      waitGone(p.pid, 5000)
      for (const c of inflight) if (waitGone(c, 30_000)) notes.push(`child ${c} of containerd (a CNI plugin) finished after containerd was killed`)
    }
    // Containers: runc kills their processes and removes their cgroups.
    const runcNs = join(this.runcRoot, NS)
    const containers = existsSync(runcNs) ? readdirSync(runcNs) : []
    for (const id of containers) {
      spawnSync('runc', ['--root', runcNs, 'delete', '--force', id], { stdio: 'ignore', timeout: 20_000 })
      notes.push(`runc container ${id.slice(0, 12)} deleted`)
    }
    // Shims: their command line names our socket.
    for (const pid of processesWithArgs(['-address', this.socket])) {
      try {
        process.kill(pid, 'SIGKILL')
        waitGone(pid, 5000)
        notes.push(`shim ${pid} killed`)
      } catch {
        // gone meanwhile
      }
    }
    for (const id of this.taskIds()) {
      const sock = join(SHIM_SOCKET_DIR, createHash('sha256').update(join(this.socket, NS, id)).digest('hex'))
      if (existsSync(sock)) {
        rmSync(sock, { force: true })
        notes.push(`shim socket ${sock} removed`)
      }
    }
    for (const d of this.#madeRunDirs) rmdirIfEmpty(d)
    // with every process gone but the pods' netns still mounted: the caller's network clean-up
    if (beforeUnmount) notes.push(...beforeUnmount())
    const mounts = mountsUnder(this.dir)
    for (const m of mounts) spawnSync('umount', ['-l', m], { stdio: 'ignore', timeout: 10_000 })
    if (mounts.length > 0) notes.push(`${mounts.length} mounts under ${this.dir} unmounted`)
    rmSync(this.dir, { recursive: true, force: true })
    for (const c of removeCgroupTree(this.cgroupParent)) notes.push(c)
    return notes
  }

  /** The last lines of containerd's log, for failure messages. */
  logTail(lines = 30): string {
    try {
      return readFileSync(this.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n')
    } catch {
      return '(no log)'
    }
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/**
 * containerd's environment, which it hands on to every CNI plugin: a service's (PATH), not ours, which
 * under tap carries NODE_OPTIONS that would load tap's hooks into each berth plugin; berth's own settings
 * (BERTH_*, e.g. BERTH_SOCKET, BERTH_LOG_LEVEL) pass, and `extra` on top. This Node's directory is on the
 * PATH so berth's `#!/usr/bin/env node` finds the same Node.
 */
function serviceEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const system = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
  const berth = Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('BERTH_')))
  return { ...berth, PATH: `${dirname(process.execPath)}:${system}`, ...extra }
}

/** Whether an overlay mount works in `dir` (it does not on every file system or kernel). */
function overlayWorks(dir: string): boolean {
  const base = join(dir, 'overlay-probe')
  for (const d of ['lower', 'upper', 'work', 'merged']) mkdirSync(join(base, d), { recursive: true })
  const merged = join(base, 'merged')
  const r = spawnSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${base}/lower,upperdir=${base}/upper,workdir=${base}/work`, merged], { stdio: 'ignore', timeout: 10_000 })
  if (r.status === 0) spawnSync('umount', [merged], { stdio: 'ignore', timeout: 10_000 })
  rmSync(base, { recursive: true, force: true })
  return r.status === 0
}

/** Mount points at or below `dir`, deepest (last mounted) first. */
export function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => (l.split(' ')[4] ?? '').replace(/\\040/g, ' '))
    .filter((m) => m === dir || m.startsWith(`${dir}/`))
    .reverse()
}

/** PIDs whose command line holds `args` as consecutive arguments. */
function processesWithArgs(args: string[]): number[] {
  const needle = `\0${args.join('\0')}\0`
  const out: number[] = []
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue
    try {
      if (`\0${readFileSync(`/proc/${e}/cmdline`, 'latin1')}`.includes(needle)) out.push(Number(e))
    } catch {
      // exited
    }
  }
  return out
}

/** Waits until process `pid` is gone (or a zombie, which holds nothing any more); whether it had to wait. */
function waitGone(pid: number, ms: number): boolean {
  const end = Date.now() + ms
  for (let waited = false; ; waited = true) {
    try {
      if (/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))) return waited
    } catch {
      return waited
    }
    if (Date.now() > end) return waited
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20)
  }
}

/** The PIDs whose parent is `pid`. */
function childPids(pid: number): number[] {
  const out: number[] = []
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue
    try {
      // the fourth field, after the parenthesised command (which may hold spaces)
      const ppid = Number(readFileSync(`/proc/${e}/stat`, 'utf8').split(') ')[1]?.split(' ')[1])
      if (ppid === pid) out.push(Number(e))
    } catch {
      // exited
    }
  }
  return out
}

function rmdirIfEmpty(d: string): void {
  try {
    if (readdirSync(d).length === 0) rmdirSync(d)
  } catch {
    // not there, or not empty
  }
}

/** Removes a cgroup (cgroupfs path) and its children in every mounted hierarchy; what it removed. */
export function removeCgroupTree(cgroup: string): string[] {
  const out: string[] = []
  const roots = existsSync('/sys/fs/cgroup') ? readdirSync('/sys/fs/cgroup').map((h) => join('/sys/fs/cgroup', h)) : []
  // cgroup v2 alone mounts /sys/fs/cgroup itself
  for (const root of ['/sys/fs/cgroup', ...roots]) {
    const path = join(root, cgroup)
    if (!existsSync(path)) continue
    const rm = (p: string): void => {
      for (const e of readdirSync(p)) {
        const c = join(p, e)
        try {
          if (statSync(c).isDirectory()) rm(c)
        } catch {
          // gone meanwhile
        }
      }
      try {
        rmdirSync(p)
      } catch {
        // busy: a process is still in it
      }
    }
    rm(path)
    out.push(`cgroup ${path} ${existsSync(path) ? 'NOT removed (busy)' : 'removed'}`)
  }
  return out
}
