// The container state store: ${BERTH_ROOT}/run/berth/containers/<name>/{state.json,lock,container.log}.
// Creating the directory (mkdir, which fails when it exists) is what reserves a name, so two `berth run
// --name x` cannot both win. state.json is replaced atomically; changes that must not interleave
// (teardown against teardown, teardown against rm) happen under the container's flock.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { errorCode } from '../../pkg/errors/sys-error.js'
import { writeFileAtomicSync } from '../../pkg/fsutil/atomic-write.js'
import { FileLock } from '../../pkg/lock/lock.js'
import { CliError } from '../cli-error.js'
import type { PortMapping } from './host-ports.js'
import { validateContainerName } from './names.js'

export type ContainerStatus = 'created' | 'running' | 'exited'

/** One network attached through CNI. */
export interface Attachment {
  network: string
  ifName: string
  /** the conflist the attachment was made with (base64 of its bytes), so DEL works after `net rm` */
  config: string
  /** capability args given at ADD (portMappings on the publishing network) */
  capabilityArgs: Record<string, unknown>
  /** the CNI result, once ADD succeeded */
  result?: Record<string, unknown>
}

/** A process we started, with its start time so a reused PID is not mistaken for it. */
export interface ProcessRef {
  pid: number
  /** /proc/PID/stat field 22 (clock ticks since boot) */
  start: number
}

export interface ContainerState {
  version: 1
  id: string
  name: string
  createdAt: string
  command: string[]
  /** the command's environment, K=V */
  env: string[]
  hostname: string
  rootfs?: string
  /** the --net values as given (after defaulting): network names, or "host" / "none" */
  networks: string[]
  ports: PortMapping[]
  detached: boolean
  /** persisted network namespace (absent with --net host) */
  netns?: string
  /** persisted UTS namespace (bind mount of the namespace file) */
  uts: string
  attachments: Attachment[]
  status: ContainerStatus
  /** the container's init (PID 1 inside) */
  init?: ProcessRef
  /** the `unshare` holding the init: killing it kills the init (--kill-child) with a true exit status */
  launcher?: ProcessRef
  /** the process waiting for the container: the foreground `berth run`, or the detached supervisor */
  supervisor?: ProcessRef
  startedAt?: string
  finishedAt?: string
  /** the command's exit code (128+N when a signal N ended it); absent when unknown */
  exitCode?: number
  /** where a detached container's output goes */
  logPath?: string
}

export class ContainerStore {
  readonly dir: string
  constructor(dir: string) {
    this.dir = dir
  }

  path(name: string, file?: string): string {
    validateContainerName(name)
    return file === undefined ? join(this.dir, name) : join(this.dir, name, file)
  }

  exists(name: string): boolean {
    return existsSync(this.path(name, 'state.json')) || existsSync(this.path(name))
  }

  /** Reserves `name`; CliError when a container of that name exists. */
  reserve(name: string): string {
    mkdirSync(this.dir, { recursive: true, mode: 0o755 })
    const dir = this.path(name)
    try {
      mkdirSync(dir, { mode: 0o700 })
    } catch (e) {
      if (errorCode(e) === 'EEXIST') throw new CliError(`a container named "${name}" already exists`, `choose another --name, or remove it with 'berth rm -f ${name}'`)
      throw e
    }
    return dir
  }

  write(state: ContainerState): void {
    writeFileAtomicSync(this.path(state.name, 'state.json'), `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 })
  }

  /** The state, or undefined when there is no such container (or its directory holds no state yet). */
  tryRead(name: string): ContainerState | undefined {
    let text: string
    try {
      text = readFileSync(this.path(name, 'state.json'), 'utf8')
    } catch (e) {
      if (errorCode(e) === 'ENOENT' || errorCode(e) === 'ENOTDIR') return undefined
      throw e
    }
    try {
      return JSON.parse(text) as ContainerState
    } catch {
      throw new CliError(`the state of container "${name}" (${this.path(name, 'state.json')}) is corrupt`, `remove it with 'berth rm -f ${name}'`)
    }
  }

  read(name: string): ContainerState {
    const s = this.tryRead(name)
    if (s === undefined) throw new CliError(`no container named "${name}"`, "see 'berth ps -a'")
    return s
  }

  /** Every container name with a directory (a half-created one included). */
  names(): string[] {
    try {
      return readdirSync(this.dir, { withFileTypes: true })
        .filter((d) => d.isDirectory())
        .map((d) => d.name)
        .sort()
    } catch (e) {
      if (errorCode(e) === 'ENOENT') return []
      throw e
    }
  }

  list(): ContainerState[] {
    const out: ContainerState[] = []
    for (const n of this.names()) {
      try {
        const s = this.tryRead(n)
        if (s !== undefined) out.push(s)
      } catch {
        // a corrupt one is reported by inspect/rm, not by listing
      }
    }
    return out
  }

  /** Removes the container's directory (state, lock, log). */
  remove(name: string): void {
    rmSync(this.path(name), { recursive: true, force: true })
  }

  /**
   * Runs `fn` holding the container's lock. `fn` gets the state read under the lock (undefined when the
   * container went away while we waited, e.g. removed by `rm`).
   */
  async locked<T>(name: string, fn: (s: ContainerState | undefined) => Promise<T> | T): Promise<T> {
    let lock: FileLock
    try {
      lock = await FileLock.acquire(this.path(name, 'lock'), { timeoutMs: 60_000 })
    } catch (e) {
      if (!existsSync(this.path(name))) return fn(undefined)
      throw e
    }
    try {
      return await fn(this.tryRead(name))
    } finally {
      lock.release()
    }
  }
}
