// A Kubernetes node for tests and benchmarks, without the kubelet: a private containerd (containerd.ts)
// with the busybox pause and web images imported, the pod networks it was given (network.ts), and the
// clean-up of all of it, also from an exit or signal handler (tap's timeout sends SIGALRM, Ctrl-C SIGINT).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Containerd } from './containerd.js'
import { buildBusyboxImages } from './image.js'
import { conflist, forceRemoveNetwork, nftTables, removeEmptyCniState, removeReferenceScaffolding, type PodNetworkSpec } from './network.js'
import type { NodeContext, TrackedSandbox } from './pods.js'

export interface CriNodeOptions {
  /** the CNI plugin directory containerd is given (berth's bin/ or the reference's /usr/lib/cni) */
  cniBinDir: string
  /** short and unique to the run */
  tag: string
  /** a static busybox for the images */
  busybox: string
  /** more environment for containerd and so for the plugins (e.g. BERTH_SOCKET) */
  env?: Record<string, string>
}

// The bridge plugin turns forwarding on in the host namespace (as the reference does): put it back.
const FORWARDING = ['/proc/sys/net/ipv4/ip_forward', '/proc/sys/net/ipv6/conf/all/forwarding']

/** Whether a plugin directory holds berth (bin/ or a copy of it: its bundles sit in lib/). */
export const isBerthDir = (dir: string): boolean => existsSync(join(dir, 'lib', 'bridge.js'))

const live = new Set<CriNode>()
let hooked = false

/** Forced clean-up of every live node when the process exits or is signalled, once per process. */
function hookExit(): void {
  if (hooked) return
  hooked = true
  const destroyAll = () => {
    for (const n of live) {
      const notes = n.destroySync()
      if (notes.length > 0) process.stderr.write(`berth CRI node ${n.opts.tag}: forced clean-up at exit:\n  ${notes.join('\n  ')}\n`)
    }
  }
  process.on('exit', destroyAll)
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGALRM'] as const) {
    const h = () => {
      destroyAll()
      // then the signal's usual effect (or tap's own handler for it)
      process.removeListener(sig, h)
      process.kill(process.pid, sig)
    }
    process.on(sig, h)
  }
}

export class CriNode implements NodeContext {
  readonly containerd: Containerd
  readonly image: string
  readonly sandboxImage: string
  readonly logRoot: string
  readonly networks: PodNetworkSpec[] = []
  readonly sandboxes = new Map<string, TrackedSandbox>()
  readonly opts: CriNodeOptions
  readonly #forwardingBefore: (string | undefined)[]
  readonly #cniStateExisted: boolean
  readonly #tablesBefore: string[]
  #destroyed = false

  private constructor(opts: CriNodeOptions) {
    this.opts = opts
    this.sandboxImage = `localhost/berth-pause:${opts.tag}`
    this.image = `localhost/berth-web:${opts.tag}`
    this.#forwardingBefore = FORWARDING.map((f) => (existsSync(f) ? readFileSync(f, 'utf8').trim() : undefined))
    this.#cniStateExisted = existsSync('/var/lib/cni')
    this.#tablesBefore = nftTables()
    hookExit()
    this.containerd = new Containerd({ cniBinDir: opts.cniBinDir, sandboxImage: this.sandboxImage, tag: opts.tag, ...(opts.env ? { env: opts.env } : {}) })
    live.add(this)
    this.logRoot = join(this.containerd.dir, 'pod-logs')
    mkdirSync(this.logRoot)
  }

  /** A running node with both images imported. Cleaned up by close(), or at exit whatever happens. */
  static async start(opts: CriNodeOptions): Promise<CriNode> {
    const node = new CriNode(opts)
    const imgDir = join(node.containerd.dir, 'images')
    mkdirSync(imgDir)
    const archive = buildBusyboxImages(imgDir, opts.busybox, [
      // pause: sleeps until killed (StopPodSandbox kills the sandbox with SIGKILL)
      { name: node.sandboxImage, entrypoint: ['/bin/sleep', 'infinity'] },
      { name: node.image, cmd: ['/bin/sh'] },
    ])
    await node.containerd.start()
    node.containerd.importImages(archive)
    return node
  }

  get cri() {
    return this.containerd.cri
  }

  get cgroupParent(): string {
    return this.containerd.cgroupParent
  }

  /** Makes `spec` the node's pod network (containerd reloads its CNI configuration). */
  async useNetwork(spec: PodNetworkSpec): Promise<void> {
    if (!this.networks.some((n) => n.name === spec.name)) this.networks.push(spec)
    await this.containerd.useNetwork(conflist(spec))
  }

  /**
   * The end of the node: every pod removed through the CRI, containerd stopped, then the forced clean-up
   * for whatever that left. Returns the CRI errors and what had to be forced (empty when all went well).
   */
  async close(): Promise<string[]> {
    if (this.#destroyed) return []
    const notes = (await this.containerd.shutdown()).map((e) => `CRI teardown: ${e}`)
    return [...notes, ...this.destroySync()]
  }

  /** The forced clean-up (synchronous, idempotent); what it did beyond the expected. */
  destroySync(): string[] {
    if (this.#destroyed) return []
    this.#destroyed = true
    live.delete(this)
    const notes = this.containerd.destroy(() => {
      // ours, and any the CRI began but whose ID we never got (RunPodSandbox cut short)
      const all = new Map(this.sandboxes)
      for (const id of this.containerd.sandboxIds()) if (!all.has(id)) all.set(id, {})
      return this.networks.flatMap((n) => forceRemoveNetwork(n, this.opts.cniBinDir, all))
    })
    FORWARDING.forEach((f, i) => {
      const v = this.#forwardingBefore[i]
      if (v !== undefined && readFileSync(f, 'utf8').trim() !== v) writeFileSync(f, v)
    })
    if (!this.#cniStateExisted) removeEmptyCniState()
    // berth keeps its tables (they hold no pod state once the pods are gone); the reference plugins' shared
    // iptables chains go when this node's run is what made their tables
    if (!isBerthDir(this.opts.cniBinDir)) removeReferenceScaffolding(this.#tablesBefore)
    return notes.filter((n) => !n.startsWith('cgroup ') || n.includes('NOT'))
  }
}
