// `berth install`: copy berth's CNI plugin executables, with what they load at run time (bin/lib
// bundles and code caches, the *.node addons, bin/package.json), into a CNI bin directory for other
// runtimes. Each file is copied to a temporary name and renamed into place, the launchers last, so a
// plugin started during the install runs either the old copy or the new one, whole.
import { randomBytes } from 'node:crypto'
import { accessSync, constants, copyFileSync, existsSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { syncDirectory } from '../../pkg/fsutil/atomic-write.js'
import { CliError } from '../cli-error.js'
import { mkdirAll } from '../mkdir-all.js'
import { berthBinDir } from '../paths.js'

export interface InstallArgs {
  dir: string
  /** where the plugins come from (default: the directory of the running berth) */
  from?: string
}

export interface InstallPlan {
  /** plugin types (launcher names) */
  plugins: string[]
  /** relative paths of support files: lib/<type>.js(.jscache), *.node, package.json */
  support: string[]
}

/** What a bin/ directory holds: launchers are executables with a bundle in lib/; berth itself stays out. */
export function planInstall(from: string): InstallPlan {
  const names = readdirSync(from)
  const plugins = names
    .filter((n) => n !== 'berth' && !n.includes('.') && existsSync(join(from, 'lib', `${n}.js`)))
    .filter((n) => {
      try {
        accessSync(join(from, n), constants.X_OK)
        return statSync(join(from, n)).isFile()
      } catch {
        return false
      }
    })
    .sort()
  const support = [
    ...names.filter((n) => n.endsWith('.node')),
    ...(names.includes('package.json') ? ['package.json'] : []),
    ...plugins.flatMap((p) => [`lib/${p}.js`, ...(existsSync(join(from, 'lib', `${p}.jscache`)) ? [`lib/${p}.jscache`] : [])]),
  ]
  return { plugins, support }
}

// copyFileSync keeps the source's permission bits: launchers stay executable, the rest stays 0644.
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
  try {
    mkdirAll(join(dir, 'lib'))
  } catch (e) {
    throw new CliError(`cannot create ${dir}: ${(e as Error).message}`, 'choose a writable --dir')
  }
  for (const rel of plan.support) copyAtomic(join(from, rel), join(dir, rel))
  for (const p of plan.plugins) copyAtomic(join(from, p), join(dir, p))
  syncDirectory(join(dir, 'lib'))
  syncDirectory(dir)
  return plan
}
