// The one door to the etcd client (npm etcd3 and its fault-handling library cockatiel): connection settings,
// the lazy import (plugins that never use etcd never load gRPC), and the mapping of client failures to code 11.
import type { Etcd3, IKeyValue, Namespace } from 'etcd3'
import { CniCode, CniError } from '../errors/cni-error.js'
import { describe } from '../errors/describe.js'

export type { IKeyValue, Namespace }

export interface EtcdClientOptions {
  endpoints: string[]
  prefix: string
  dialTimeoutMs: number
}

export class EtcdClient {
  readonly #opts: EtcdClientOptions
  #client: Promise<{ root: Etcd3; ns: Namespace }> | undefined

  /** Validates the options (code 7); connects on first use. */
  constructor(opts: EtcdClientOptions) {
    if (opts.endpoints.length === 0) throw new CniError(CniCode.InvalidConfig, 'etcd store: "endpoints" is empty; list at least one URL such as "http://10.0.0.1:2379"')
    for (const e of opts.endpoints) {
      if (!/^https?:\/\/[^/\s]+$/.test(e)) throw new CniError(CniCode.InvalidConfig, `etcd store: endpoint ${JSON.stringify(e)} is not a URL such as "http://10.0.0.1:2379"`)
    }
    if (!/^\/[\x21-\x7e]*$/.test(opts.prefix)) throw new CniError(CniCode.InvalidConfig, `etcd store: prefix ${JSON.stringify(opts.prefix)} must start with "/" and hold printable characters only`)
    if (!Number.isInteger(opts.dialTimeoutMs) || opts.dialTimeoutMs < 100) throw new CniError(CniCode.InvalidConfig, `etcd store: dial timeout ${opts.dialTimeoutMs} ms is too short; use at least 100`)
    this.#opts = opts
  }

  /** The client scoped to the prefix (keys are relative to it). */
  ns(): Promise<Namespace> {
    this.#client ??= this.#connect()
    return this.#client.then((c) => c.ns)
  }

  /** Runs one etcd call; any failure of the client becomes code 11 naming the endpoints and what was tried. */
  async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn()
    } catch (e) {
      throw this.unreachable(what, e)
    }
  }

  unreachable(what: string, e: unknown): CniError {
    if (e instanceof CniError) return e
    return new CniError(CniCode.TryAgainLater, `etcd store at ${this.where()} cannot be reached or failed (${what}: ${describe(e)}); check that etcd is running and reachable, then try again later`, undefined, { cause: e })
  }

  /** "ENDPOINTS (prefix P)", for messages. */
  where(): string {
    return `${this.#opts.endpoints.join(', ')} (prefix ${this.#opts.prefix})`
  }

  async close(): Promise<void> {
    const c = this.#client
    this.#client = undefined
    if (c !== undefined) (await c.catch(() => undefined))?.root.close()
  }

  async #connect(): Promise<{ root: Etcd3; ns: Namespace }> {
    let mods: [typeof import('etcd3'), typeof import('cockatiel')]
    try {
      mods = await Promise.all([import('etcd3'), import('cockatiel')])
    } catch (e) {
      // Not transient: a broken installation (etcd3 missing, or its .proto files not beside a bundle).
      throw new CniError(CniCode.Internal, `cannot load the etcd client (npm etcd3): ${describe(e)}; reinstall berth`, undefined, { cause: e })
    }
    const [{ Etcd3, isRecoverableError }, { noop, retry, handleWhen, ConstantBackoff }] = mods
    const timeout = this.#opts.dialTimeoutMs
    const hosts = this.#opts.endpoints
    // Reconnect watches quickly (etcd restarts are routine); the default backoff grows to 30 s.
    const watchBackoff = { duration: 500, next: () => watchBackoff }
    // With several endpoints a call that finds one down goes on to the next (etcd3 picks another host per
    // retry), once through the list; with one endpoint the failure surfaces at once.
    const global = hosts.length > 1 ? retry(handleWhen(isRecoverableError), { maxAttempts: hosts.length - 1, backoff: new ConstantBackoff(0) }) : noop
    const root = new Etcd3({
      hosts,
      dialTimeout: timeout,
      // Every unary call attempt ends within the timeout; errors surface as code 11 (no retry storms, and no
      // circuit breaker that would refuse calls for seconds after etcd is back).
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + timeout }),
      faultHandling: { host: () => noop, global, watchBackoff },
    })
    return { root, ns: root.namespace(this.#opts.prefix.replace(/\/*$/, '/')) }
  }
}
