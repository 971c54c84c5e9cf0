// Pods the way a kubelet makes them through the CRI: RunPodSandbox with the sandbox config it builds from a
// pod spec (metadata, hostname, DNS, every container port with its hostPort or 0, its labels, a cgroup
// parent per pod, namespace options), PodSandboxStatus for the IP, then CreateContainer and
// StartContainer; and the reverse, StopContainer, StopPodSandbox, RemoveContainer, RemovePodSandbox.
import { randomUUID } from 'node:crypto'
import { join } from 'node:path'
import type { ContainerConfig, CriClient, PodSandboxConfig } from './client.js'

export interface PodSpec {
  name: string
  /** the pod's Kubernetes namespace */
  namespace: string
  hostNetwork?: boolean
  /** the port the pod's HTTP server listens on (the pod's only container port); default 80 */
  port?: number
  /** publish that port on this host port (hostPort in the pod spec) */
  hostPort?: number
  /** what the pod's server answers; without it the pod is a sandbox only (no container) */
  marker?: string
  /** extra labels, e.g. a test run's own, to find its pods again */
  labels?: Record<string, string>
  /** extra annotations, e.g. kubernetes.io/ingress-bandwidth */
  annotations?: Record<string, string>
}

export interface Pod {
  spec: PodSpec
  uid: string
  config: PodSandboxConfig
  id: string
  /** the pod IP containerd reports ("" for a hostNetwork pod) */
  ip: string
  containerId?: string
}

/** A sandbox the node made whose removal has not been seen to succeed: what a forced CNI DEL needs. */
export interface TrackedSandbox {
  /** what it was asked for; unknown for a sandbox found only in containerd's state */
  config?: PodSandboxConfig
  /** its network namespace, when known (a failed RunPodSandbox leaves no libcni cache to read it from) */
  netns?: string
}

export interface NodeContext {
  cri: CriClient
  /** every sandbox made and not yet removed, by ID (for the forced clean-up) */
  sandboxes: Map<string, TrackedSandbox>
  /** the image of the pods' container */
  image: string
  /** where pod log directories go (the kubelet's /var/log/pods) */
  logRoot: string
  /** the cgroup parent of every pod, as the kubelet's /kubepods */
  cgroupParent: string
}

/** The sandbox config a kubelet would send for `spec`. */
export function sandboxConfig(node: NodeContext, spec: PodSpec, uid: string): PodSandboxConfig {
  const port = spec.port ?? 80
  const ns = { network: spec.hostNetwork ? 'NODE' : 'POD', pid: 'CONTAINER', ipc: 'POD' } as const
  return {
    metadata: { name: spec.name, uid, namespace: spec.namespace, attempt: 0 },
    // the kubelet sends no hostname for a hostNetwork pod (runc refuses one in the host's UTS namespace)
    ...(spec.hostNetwork ? {} : { hostname: spec.name }),
    logDirectory: join(node.logRoot, `${spec.namespace}_${spec.name}_${uid}`),
    dnsConfig: { searches: [`${spec.namespace}.svc.cluster.local`, 'svc.cluster.local', 'cluster.local'], options: ['ndots:5'] },
    // every declared container port, hostPort 0 when none (containerd passes only those with a hostPort on)
    portMappings: [{ protocol: 'TCP', containerPort: port, hostPort: spec.hostNetwork ? port : (spec.hostPort ?? 0) }],
    labels: { 'io.kubernetes.pod.name': spec.name, 'io.kubernetes.pod.namespace': spec.namespace, 'io.kubernetes.pod.uid': uid, ...spec.labels },
    annotations: { 'kubernetes.io/config.source': 'api', ...spec.annotations },
    linux: { cgroupParent: `${node.cgroupParent}/pod${uid}`, securityContext: { namespaceOptions: ns } },
  }
}

function containerConfig(node: NodeContext, pod: { spec: PodSpec; uid: string }): ContainerConfig {
  const { spec } = pod
  const port = spec.port ?? 80
  return {
    metadata: { name: 'web', attempt: 0 },
    image: { image: node.image },
    // the server writes its own page, so each pod answers with its marker
    command: ['/bin/sh', '-c', `mkdir -p /tmp/www && echo "$MARKER" > /tmp/www/index.html && exec httpd -f -p ${port} -h /tmp/www`],
    envs: [{ key: 'MARKER', value: spec.marker ?? '' }],
    labels: { 'io.kubernetes.container.name': 'web', 'io.kubernetes.pod.name': spec.name, 'io.kubernetes.pod.namespace': spec.namespace, 'io.kubernetes.pod.uid': pod.uid },
    logPath: 'web/0.log',
    linux: { securityContext: { namespaceOptions: { network: spec.hostNetwork ? 'NODE' : 'POD', pid: 'CONTAINER', ipc: 'POD' } } },
  }
}

/** Runs a pod: its sandbox and, when it has a marker, its HTTP server container. */
export async function runPod(node: NodeContext, spec: PodSpec): Promise<Pod> {
  const uid = randomUUID()
  const config = sandboxConfig(node, spec, uid)
  let id: string
  try {
    id = await node.cri.runPodSandbox(config, 120_000)
  } catch (e) {
    throw new Error(`${(e as Error).message}${await removeFailedSandbox(node, uid, config)}`)
  }
  node.sandboxes.set(id, { config })
  const status = await node.cri.podSandboxStatus(id)
  const pod: Pod = { spec, uid, config, id, ip: status.status.network?.ip ?? '' }
  if (spec.marker !== undefined) {
    if ((await node.cri.imageStatus(node.image)) === null) throw new Error(`image ${node.image} is not in containerd`)
    pod.containerId = await node.cri.createContainer(id, containerConfig(node, pod), config)
    await node.cri.startContainer(pod.containerId)
  }
  return pod
}

/**
 * After a failed RunPodSandbox containerd keeps a NOTREADY sandbox; the kubelet finds it by the pod's UID
 * and stops and removes it (which runs the CNI DEL). What happened, for the error message.
 */
async function removeFailedSandbox(node: NodeContext, uid: string, config: PodSandboxConfig): Promise<string> {
  try {
    const left = await node.cri.listPodSandbox({ 'io.kubernetes.pod.uid': uid })
    for (const p of left) {
      node.sandboxes.set(p.id, { config, netns: await sandboxNetns(node, p.id) })
      await node.cri.stopPodSandbox(p.id, 120_000)
      await node.cri.removePodSandbox(p.id, 120_000)
      node.sandboxes.delete(p.id)
    }
    return left.length > 0 ? ` (its NOTREADY sandbox was stopped and removed)` : ''
  } catch (e) {
    return ` (and its NOTREADY sandbox could not be removed: ${(e as Error).message})`
  }
}

/** Tears a pod down in the kubelet's order (kill the containers, stop the sandbox, then remove both). */
export async function removePod(node: NodeContext, pod: Pod): Promise<void> {
  if (pod.containerId !== undefined) await node.cri.stopContainer(pod.containerId, 0)
  await node.cri.stopPodSandbox(pod.id, 120_000)
  if (pod.containerId !== undefined) await node.cri.removeContainer(pod.containerId)
  await node.cri.removePodSandbox(pod.id, 120_000)
  node.sandboxes.delete(pod.id)
}

/** A sandbox's network namespace path, from containerd's verbose status (its runtime spec). */
async function sandboxNetns(node: NodeContext, id: string): Promise<string | undefined> {
  try {
    const info = JSON.parse((await node.cri.podSandboxStatus(id, true)).info['info'] ?? '{}') as {
      runtimeSpec?: { linux?: { namespaces?: { type: string; path?: string }[] } }
    }
    return info.runtimeSpec?.linux?.namespaces?.find((n) => n.type === 'network')?.path
  } catch {
    return undefined
  }
}

/** GET `url` from inside the pod (busybox wget, bounded by timeout: its own -T crashes); body or "ERR ...". */
export async function podGet(node: NodeContext, pod: Pod, url: string, timeoutS = 4): Promise<string> {
  if (pod.containerId === undefined) throw new Error(`pod ${pod.spec.name} has no container to run wget in`)
  try {
    const r = await node.cri.execSync(pod.containerId, ['timeout', String(timeoutS), 'wget', '-q', '-O-', url], timeoutS + 5)
    return r.exitCode === 0 ? r.stdout : `ERR exit ${r.exitCode} ${r.stderr.trim()}`
  } catch (e) {
    return `ERR ${(e as Error).message}`
  }
}

/** Runs a command in the pod's container; stdout, throwing on a non-zero exit. */
export async function podExec(node: NodeContext, pod: Pod, cmd: string[]): Promise<string> {
  if (pod.containerId === undefined) throw new Error(`pod ${pod.spec.name} has no container`)
  const r = await node.cri.execSync(pod.containerId, cmd, 10)
  if (r.exitCode !== 0) throw new Error(`${cmd.join(' ')} in ${pod.spec.name}: exit ${r.exitCode} ${r.stderr}`)
  return r.stdout
}
