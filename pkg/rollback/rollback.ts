// Undo stack for ADD: each created resource registers its undo; commit() on success, settle() in finally.
// Replaces Go's "defer if err != nil" idiom, which breaks silently when err is shadowed.
import { describe } from '../errors/describe.js'
import type { Log } from '../log/log.js'

export class Rollback {
  readonly #steps: { what: string; undo: () => unknown }[] = []
  #committed = false

  defer(what: string, undo: () => unknown): void {
    this.#steps.push({ what, undo })
  }

  commit(): void {
    this.#committed = true
  }

  /** Never throws: the original error is what the caller reports. */
  async settle(log: Log): Promise<void> {
    if (this.#committed) return
    for (const { what, undo } of [...this.#steps].reverse()) {
      try {
        await undo()
      } catch (e) {
        log.warn(`rollback: ${what} failed: ${describe(e)}`)
      }
    }
    this.#steps.length = 0
  }
}
