// podman with a private configuration, shared by the podman integration test and bench/podman.ts: the
// static busybox for an image made by `podman import`, containers.conf / storage.conf / registries.conf
// in a directory of the caller's, and the mounts podman leaves under that directory. The facts behind
// each setting (runc, pinned ulimits, no registry) are in the project notes on podman.
// No import.meta here: bench/podman.ts bundles this file into dist/bench.
import { execFileSync, spawnSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
export { staticBusybox } from './busybox.js'

/** A statically linked busybox (an image holds no libraries), or undefined. */
/** Whether `cmd` is on PATH. */
export function onPath(cmd: string): boolean {
  return (process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':').some((d) => d !== '' && existsSync(join(d, cmd)))
}

/** podman's default_ulimits pinned to this process's own limits: root here cannot raise them (no CAP_SYS_RESOURCE). */
export function hostUlimits(): string[] {
  const text = readFileSync('/proc/self/limits', 'utf8')
  const lim = (label: string, cap: number): string => {
    const m = new RegExp(`^${label}\\s+(\\S+)\\s+(\\S+)`, 'm').exec(text)
    const n = (v: string | undefined): number => (v === undefined || v === 'unlimited' ? cap : Math.min(Number(v), cap))
    const hard = n(m?.[2])
    return `${Math.min(n(m?.[1]), hard)}:${hard}`
  }
  return [`nofile=${lim('Max open files', 1 << 20)}`, `nproc=${lim('Max processes', 32768)}`]
}

export const toml = (s: string): string => JSON.stringify(s)

export interface PrivatePodmanOptions {
  backend: 'cni' | 'netavark'
  /** cni_plugin_dirs (CNI backend) */
  pluginDirs?: string[]
  /** a pool for networks created without --subnet, "A.B.C.0/24" */
  subnetPool: string
  defaultNetwork?: string
  /**
   * [engine] env: podman sets these in its own environment, and so does the `podman container cleanup`
   * that conmon runs when a container exits (conmon passes CONTAINERS_CONF on, not the rest of podman's
   * environment); that cleanup is what runs the CNI DELs of `podman run --rm`.
   */
  engineEnv?: string[]
}

/**
 * Writes containers.conf, storage.conf (vfs, graph and run roots) and registries.conf into `dir`, with
 * the network configuration in dir/net.d and podman's temporary files in dir too; returns the environment
 * variables that point podman at them.
 */
export function privatePodman(dir: string, o: PrivatePodmanOptions): { CONTAINERS_CONF: string; CONTAINERS_STORAGE_CONF: string; CONTAINERS_REGISTRIES_CONF: string; netDir: string } {
  const netDir = join(dir, 'net.d')
  mkdirSync(netDir, { recursive: true })
  const out = {
    CONTAINERS_CONF: join(dir, 'containers.conf'),
    CONTAINERS_STORAGE_CONF: join(dir, 'storage.conf'),
    CONTAINERS_REGISTRIES_CONF: join(dir, 'registries.conf'),
    netDir,
  }
  writeFileSync(out.CONTAINERS_STORAGE_CONF, `[storage]\ndriver = "vfs"\ngraphroot = ${toml(join(dir, 'graph'))}\nrunroot = ${toml(join(dir, 'run'))}\n`)
  writeFileSync(out.CONTAINERS_REGISTRIES_CONF, 'unqualified-search-registries = []\n')
  writeFileSync(
    out.CONTAINERS_CONF,
    [
      '[containers]',
      `default_ulimits = ${JSON.stringify(hostUlimits())}`,
      'log_driver = "k8s-file"',
      '[network]',
      `network_backend = ${toml(o.backend)}`,
      ...(o.pluginDirs !== undefined ? [`cni_plugin_dirs = [${o.pluginDirs.map(toml).join(', ')}]`] : []),
      `network_config_dir = ${toml(netDir)}`,
      ...(o.defaultNetwork !== undefined ? [`default_network = ${toml(o.defaultNetwork)}`] : []),
      `default_subnet = ${toml(o.subnetPool)}`,
      `default_subnet_pools = [{ base = ${toml(o.subnetPool)}, size = 24 }]`,
      '[engine]',
      'runtime = "runc"',
      'cgroup_manager = "cgroupfs"',
      'events_logger = "file"',
      `events_logfile_path = ${toml(join(dir, 'events.log'))}`,
      `tmp_dir = ${toml(join(dir, 'libpod-tmp'))}`,
      ...(o.engineEnv !== undefined ? [`env = [${o.engineEnv.map(toml).join(', ')}]`] : []),
      '',
    ].join('\n'),
  )
  return out
}

/**
 * A tarball for `podman import`: busybox with these applets linked to it, plus `files` (path -> text);
 * no registry needed. Returns the tarball's path (in `dir`).
 */
export function busyboxTarball(dir: string, busybox: string, applets: string[], files: Record<string, string> = {}): string {
  const rootfs = join(dir, 'rootfs')
  for (const d of ['bin', 'tmp', 'etc']) mkdirSync(join(rootfs, d), { recursive: true })
  copyFileSync(busybox, join(rootfs, 'bin', 'busybox'))
  for (const a of applets) symlinkSync('busybox', join(rootfs, 'bin', a))
  for (const [p, text] of Object.entries(files)) {
    mkdirSync(join(rootfs, p, '..'), { recursive: true })
    writeFileSync(join(rootfs, p), text)
  }
  execFileSync('chmod', ['0755', join(rootfs, 'bin', 'busybox')])
  const tar = join(dir, 'rootfs.tar')
  execFileSync('tar', ['-C', rootfs, '-cf', tar, '.'], { timeout: 30_000 })
  return tar
}

/** Every file under dir (recursively), with its content: what host-local and libcni left of a network. */
export function filesUnder(dir: string): { path: string; text: string }[] {
  if (!existsSync(dir)) return []
  const out: { path: string; text: string }[] = []
  for (const e of readdirSync(dir)) {
    const p = join(dir, e)
    if (statSync(p).isDirectory()) out.push(...filesUnder(p))
    else out.push({ path: p, text: readFileSync(p, 'utf8') })
  }
  return out
}

/** Lazily unmounts everything mounted under `dir`, deepest first (vfs has no mounts, but each container's /dev/shm is one). */
export function unmountUnder(dir: string): void {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m === dir || m.startsWith(`${dir}/`))
    .reverse()
  for (const m of mounts) spawnSync('umount', ['-l', m], { stdio: 'ignore', timeout: 10_000 })
}
