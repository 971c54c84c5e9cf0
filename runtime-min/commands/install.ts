// `berth install`: copy berth's CNI plugins, with what they load at run time, into a CNI bin directory for
// other runtimes: each type's shim (bin/<type>) and bin/lib — the Node executables lib/<type> with their
// bundles and code caches, lib/build-id, the *.node addons, lib/package.json and lib/etcd-proto. Each file
// is copied to a temporary name and renamed into place: the data files first, then the Node executables,
// the shims last, so a plugin started during the install runs either the old copy or the new one, whole.
import { randomBytes } from 'node:crypto'
import { accessSync, constants, copyFileSync, existsSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { syncDirectory, writeFileAtomicSync } from '../../pkg/fsutil/atomic-write.js'
import { CliError } from '../cli-error.js'
import { mkdirAll } from '../mkdir-all.js'
import { berthBinDir } from '../paths.js'

export interface InstallArgs {
  dir: string
  /** where the plugins come from (default: the directory of the running berth) */
  from?: string
  /** where to write berth.socket and berth.service; undefined: no units */
  systemdDir?: string | undefined
}

export interface InstallPlan {
  /** plugin types: the shim `<type>`, copied last */
  plugins: string[]
  /** relative paths of the data files: lib/<type>.js(.jscache), lib/build-id, lib/*.node, lib/package.json, lib/etcd-proto/* */
  support: string[]
  /** relative paths of the Node executables `lib/<type>`, copied after the data files */
  launchers: string[]
  /** systemd units written, full paths */
  units: string[]
}

const isExecutableFile = (p: string): boolean => {
  try {
    accessSync(p, constants.X_OK)
    return statSync(p).isFile()
  } catch {
    return false
  }
}

/** What a bin/ directory holds: a plugin is an executable with a Node executable and a bundle in lib/; berth itself stays out. */
export function planInstall(from: string): InstallPlan {
  const lib = join(from, 'lib')
  const plugins = readdirSync(from)
    .filter((n) => n !== 'berth' && !n.includes('.') && existsSync(join(lib, `${n}.js`)))
    .filter((n) => isExecutableFile(join(from, n)) && isExecutableFile(join(lib, n)))
    .sort()
  const inLib = existsSync(lib) ? readdirSync(lib) : []
  const protos = inLib.includes('etcd-proto') ? readdirSync(join(lib, 'etcd-proto')).map((f) => `lib/etcd-proto/${f}`) : []
  const support = [
    ...inLib.filter((n) => n.endsWith('.node') || n === 'package.json' || n === 'build-id').map((n) => `lib/${n}`),
    ...protos,
    ...plugins.flatMap((p) => [`lib/${p}.js`, ...(inLib.includes(`${p}.jscache`) ? [`lib/${p}.jscache`] : [])]),
  ]
  // The daemon of the same build (lib/berth daemon): the shims talk only to a daemon of their own build.
  const daemon = inLib.includes('berth') && inLib.includes('berth.js') ? ['berth'] : []
  for (const d of daemon) support.push(`lib/${d}.js`, ...(inLib.includes(`${d}.jscache`) ? [`lib/${d}.jscache`] : []))
  return { plugins, support, launchers: [...plugins, ...daemon].map((p) => `lib/${p}`), units: [] }
}

// copyFileSync keeps the source's permission bits: shims and launchers stay executable, the rest 0644.
function copyAtomic(from: string, to: string): void {
  const tmp = `${to}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
  try {
    copyFileSync(from, tmp)
    renameSync(tmp, to)
  } catch (e) {
    rmSync(tmp, { force: true })
    throw new CliError(`cannot install ${to}: ${(e as Error).message}`, 'check that the directory is writable')
  }
}

export function install(args: InstallArgs): InstallPlan {
  const from = resolve(args.from ?? berthBinDir())
  const dir = resolve(args.dir)
  if (dir === from) throw new CliError(`${dir} is where berth's plugins already are`, 'give another --dir')
  const plan = planInstall(from)
  if (plan.plugins.length === 0) {
    throw new CliError(`no berth plugin executables found in ${from}`, "run 'npm run build' first or run the berth from a built bin/")
  }
  const dirs = [...new Set(plan.support.map((rel) => dirname(join(dir, rel))))]
  try {
    for (const d of dirs) mkdirAll(d)
  } catch (e) {
    throw new CliError(`cannot create ${dir}: ${(e as Error).message}`, 'choose a writable --dir')
  }
  for (const rel of [...plan.support, ...plan.launchers, ...plan.plugins]) copyAtomic(join(from, rel), join(dir, rel))
  for (const d of [...dirs, dir]) syncDirectory(d)
  if (args.systemdDir !== undefined) plan.units = writeUnits(resolve(args.systemdDir), dir, plan)
  return plan
}

/** Where units go by default: systemd's own directory, when systemd is the running init. */
export function defaultSystemdDir(): string | undefined {
  return existsSync('/run/systemd/system') ? '/etc/systemd/system' : undefined
}

/** berth.socket and berth.service: systemd holds the socket and starts the daemon on the first call. */
export function unitFiles(dir: string): Record<string, string> {
  return {
    'berth.socket': [
      '[Unit]',
      'Description=berth CNI daemon socket (the shims in ' + dir + ' connect here)',
      '',
      '[Socket]',
      'ListenStream=/run/berth/berthd.sock',
      'SocketMode=0600',
      'DirectoryMode=0700',
      'RemoveOnStop=true',
      '',
      '[Install]',
      'WantedBy=sockets.target',
      '',
    ].join('\n'),
    'berth.service': [
      '[Unit]',
      'Description=berth CNI daemon: serves the CNI plugins in ' + dir,
      'Requires=berth.socket',
      'After=berth.socket',
      '',
      '[Service]',
      `ExecStart=${join(dir, 'lib', 'berth')} daemon`,
      'Environment=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      // the daemon drains in-flight calls for at most 5 s after SIGTERM
      'TimeoutStopSec=10',
      'Restart=on-failure',
      '',
      '[Install]',
      'Also=berth.socket',
      '',
    ].join('\n'),
  }
}

function writeUnits(systemdDir: string, dir: string, plan: InstallPlan): string[] {
  if (!plan.launchers.includes('lib/berth')) throw new CliError(`no berth daemon (lib/berth) beside the plugins to write units for`, "run 'npm run build' first")
  try {
    mkdirAll(systemdDir)
  } catch (e) {
    throw new CliError(`cannot create ${systemdDir}: ${(e as Error).message}`, 'choose a writable --systemd-dir')
  }
  const written: string[] = []
  for (const [name, text] of Object.entries(unitFiles(dir))) {
    const path = join(systemdDir, name)
    try {
      writeFileAtomicSync(path, text)
    } catch (e) {
      throw new CliError(`cannot write ${path}: ${(e as Error).message}`, 'check that the directory is writable')
    }
    written.push(path)
  }
  return written
}
