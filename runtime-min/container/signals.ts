// Signals a supervising berth receives (the foreground `berth run`, `berth exec`, the detached
// supervisor), by phase:
// - setup: INT/TERM/HUP abort the setup, which then rolls back (nothing is left behind on Ctrl-C);
// - running: they are forwarded to the container's process. The init of a PID namespace ignores signals
//   it has no handler for (as in Docker), so a second INT or TERM sends KILL: Ctrl-C twice always ends
//   the run. A signal that comes before the process is known is delivered once it is;
// - teardown: ignored, so a teardown is never cut short (netavark ignores them during teardown too).
import { killContainer, signalProcess } from './proc.js'
import type { ProcessRef } from './state.js'

const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP']

export class SignalRelay {
  #phase: 'setup' | 'running' | 'teardown' = 'setup'
  #target: ProcessRef | undefined
  #launcher: ProcessRef | undefined
  #pending: NodeJS.Signals[] = []
  #seen = new Set<NodeJS.Signals>()
  #aborted: NodeJS.Signals | undefined
  readonly #handler = (sig: NodeJS.Signals) => this.#on(sig)

  constructor() {
    for (const s of SIGNALS) process.on(s, this.#handler)
  }

  /** The signal that aborted the setup, if one came. */
  get aborted(): NodeJS.Signals | undefined {
    return this.#aborted
  }

  /** Throws when a signal came during setup (the caller's rollback then runs). */
  check(): void {
    if (this.#aborted !== undefined) throw new SetupAborted(this.#aborted)
  }

  /** From now on signals are forwarded; one that came after the last check() is forwarded too. */
  running(): void {
    this.#phase = 'running'
    if (this.#aborted !== undefined) {
      this.#seen.add(this.#aborted)
      this.#pending.push(this.#aborted)
    }
  }

  /** The process to forward to, once known (and its launcher, for KILL); pending signals are delivered now. */
  target(ref: ProcessRef | undefined, launcher?: ProcessRef): void {
    this.#target = ref
    this.#launcher = launcher
    if (ref === undefined && launcher === undefined) return
    for (const s of this.#pending.splice(0)) this.#send(s)
  }

  #send(sig: NodeJS.Signals): void {
    if (sig === 'SIGKILL') killContainer({ init: this.#target, launcher: this.#launcher })
    else signalProcess(this.#target, sig)
  }

  teardown(): void {
    this.#phase = 'teardown'
  }

  dispose(): void {
    for (const s of SIGNALS) process.off(s, this.#handler)
  }

  #on(sig: NodeJS.Signals): void {
    if (this.#phase === 'teardown') return
    if (this.#phase === 'setup') {
      this.#aborted ??= sig
      return
    }
    const again = sig !== 'SIGHUP' && (this.#seen.has('SIGINT') || this.#seen.has('SIGTERM'))
    this.#seen.add(sig)
    const send: NodeJS.Signals = again ? 'SIGKILL' : sig
    if (this.#target === undefined && this.#launcher === undefined) this.#pending.push(send)
    else this.#send(send)
  }
}

export class SetupAborted extends Error {
  override readonly name = 'SetupAborted'
  readonly signal: NodeJS.Signals
  constructor(signal: NodeJS.Signals) {
    super(`interrupted by ${signal}; everything set up so far was removed`)
    this.signal = signal
  }
}
