// Best-effort teardown (DEL, GC): run every step, remember failures, report them all at the end.
import { CniCode, CniError } from './cni-error.js'
import { describe } from './describe.js'

export class ErrorList {
  readonly #errors: { what: string; error: unknown }[] = []

  async attempt(what: string, fn: () => unknown): Promise<void> {
    try {
      await fn()
    } catch (error) {
      this.#errors.push({ what, error })
    }
  }

  get empty(): boolean {
    return this.#errors.length === 0
  }

  /** Throws one CniError listing every failure; the first failure's code wins when it is a CniError. */
  throwIfAny(context: string): void {
    const first = this.#errors[0]
    if (first === undefined) return
    const lines = this.#errors.map(({ what, error }) => `${what}: ${describe(error)}`)
    const code = first.error instanceof CniError ? first.error.code : CniCode.Internal
    throw new CniError(code, `${context}: ${lines.join('; ')}`, lines.join('\n'))
  }
}
