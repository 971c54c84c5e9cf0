// How the daemon orders calls: at most N at once (the rest wait, each with a deadline), and calls on the
// same attachment one after another, in arrival order, as a runtime that calls the executables expects.

/** A counting semaphore whose waiters give up after a deadline. */
export class Slots {
  #inUse = 0
  readonly #waiters: { grant: () => void; timer: NodeJS.Timeout }[] = []

  constructor(readonly max: number) {}

  get inUse(): number {
    return this.#inUse
  }

  get waiting(): number {
    return this.#waiters.length
  }

  /** A release function once a slot is ours, or undefined when none freed up within `deadlineMs`. */
  acquire(deadlineMs: number): Promise<(() => void) | undefined> {
    if (this.#inUse < this.max) {
      this.#inUse++
      return Promise.resolve(this.#releaser())
    }
    return new Promise((resolve) => {
      const w = {
        grant: () => {
          clearTimeout(w.timer)
          resolve(this.#releaser())
        },
        timer: setTimeout(() => {
          this.#waiters.splice(this.#waiters.indexOf(w), 1)
          resolve(undefined)
        }, deadlineMs),
      }
      this.#waiters.push(w)
    })
  }

  #releaser(): () => void {
    let released = false
    return () => {
      if (released) return
      released = true
      const next = this.#waiters.shift()
      // The slot passes straight to the next waiter, so inUse never dips and lets a newcomer jump the queue.
      if (next !== undefined) next.grant()
      else this.#inUse--
    }
  }
}

/** Runs the functions given for one key one after another; different keys run concurrently. */
export class KeyedSerializer {
  readonly #tails = new Map<string, Promise<unknown>>()

  get keys(): number {
    return this.#tails.size
  }

  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#tails.get(key) ?? Promise.resolve()
    const result = prev.then(fn, fn)
    const tail = result.then(
      () => undefined,
      () => undefined,
    )
    this.#tails.set(key, tail)
    // Forget the key once nothing more is queued behind this call, so the map stays as small as the load.
    void tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key)
    })
    return result
  }
}
