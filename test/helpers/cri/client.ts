// A CRI v1 client over containerd's gRPC socket, from berth's own subset of the API (cri-v1.proto beside
// this file): the calls a kubelet makes to run pods, promisified, each with a deadline.
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as grpc from '@grpc/grpc-js'
import * as protoLoader from '@grpc/proto-loader'

/**
 * Where cri-v1.proto is: beside this module when it runs from test/helpers/cri, or under the working
 * directory's test/helpers/cri when it runs bundled (dist/bench/containerd.mjs, started from the repository).
 */
export function criProtoPath(): string {
  const candidates = [join(dirname(fileURLToPath(import.meta.url)), 'cri-v1.proto'), join(process.cwd(), 'test', 'helpers', 'cri', 'cri-v1.proto')]
  const found = candidates.find((p) => existsSync(p))
  if (found === undefined) throw new Error(`cri-v1.proto not found (looked at ${candidates.join(', ')})`)
  return found
}

export type NamespaceMode = 'POD' | 'CONTAINER' | 'NODE' | 'TARGET'
export interface NamespaceOption {
  network?: NamespaceMode
  pid?: NamespaceMode
  ipc?: NamespaceMode
}
export interface PortMapping {
  protocol?: 'TCP' | 'UDP' | 'SCTP'
  containerPort: number
  hostPort?: number
  hostIp?: string
}
export interface PodSandboxMetadata {
  name: string
  uid: string
  namespace: string
  attempt?: number
}
export interface PodSandboxConfig {
  metadata: PodSandboxMetadata
  hostname?: string
  logDirectory?: string
  dnsConfig?: { servers?: string[]; searches?: string[]; options?: string[] }
  portMappings?: PortMapping[]
  labels?: Record<string, string>
  annotations?: Record<string, string>
  linux?: {
    cgroupParent?: string
    securityContext?: { namespaceOptions?: NamespaceOption; privileged?: boolean }
    sysctls?: Record<string, string>
  }
}
export interface ContainerConfig {
  metadata: { name: string; attempt?: number }
  image: { image: string }
  command?: string[]
  args?: string[]
  workingDir?: string
  envs?: { key: string; value: string }[]
  labels?: Record<string, string>
  annotations?: Record<string, string>
  logPath?: string
  linux?: { securityContext?: { privileged?: boolean; namespaceOptions?: NamespaceOption } }
}
export interface PodSandboxStatus {
  id: string
  metadata: PodSandboxMetadata
  state: 'SANDBOX_READY' | 'SANDBOX_NOTREADY'
  createdAt: number
  network: { ip: string; additionalIps: { ip: string }[] } | null
  labels: Record<string, string>
}
export interface PodSandbox {
  id: string
  metadata: PodSandboxMetadata
  state: 'SANDBOX_READY' | 'SANDBOX_NOTREADY'
  labels: Record<string, string>
}
export interface ContainerStatus {
  id: string
  state: 'CONTAINER_CREATED' | 'CONTAINER_RUNNING' | 'CONTAINER_EXITED' | 'CONTAINER_UNKNOWN'
  exitCode: number
  reason: string
  message: string
  logPath: string
}
export interface Container {
  id: string
  podSandboxId: string
  metadata: { name: string }
  state: ContainerStatus['state']
}
export interface RuntimeCondition {
  type: string
  status: boolean
  reason: string
  message: string
}

/** A failed call: the method, gRPC status code and containerd's message. */
export class CriError extends Error {
  constructor(
    readonly method: string,
    readonly code: number,
    readonly details: string,
  ) {
    super(`CRI ${method}: ${grpc.status[code] ?? code}: ${details}`)
  }
}

type Callback = (err: grpc.ServiceError | null, res: unknown) => void
type Stub = grpc.Client & Record<string, (req: unknown, opts: grpc.CallOptions, cb: Callback) => void>

export interface CriClient {
  version(): Promise<{ version: string; runtimeName: string; runtimeVersion: string; runtimeApiVersion: string }>
  status(verbose?: boolean): Promise<{ conditions: RuntimeCondition[]; info: Record<string, string> }>
  runPodSandbox(config: PodSandboxConfig, timeoutMs?: number): Promise<string>
  stopPodSandbox(id: string, timeoutMs?: number): Promise<void>
  removePodSandbox(id: string, timeoutMs?: number): Promise<void>
  podSandboxStatus(id: string, verbose?: boolean): Promise<{ status: PodSandboxStatus; info: Record<string, string> }>
  listPodSandbox(labelSelector?: Record<string, string>): Promise<PodSandbox[]>
  createContainer(podId: string, config: ContainerConfig, sandboxConfig: PodSandboxConfig): Promise<string>
  startContainer(id: string): Promise<void>
  stopContainer(id: string, timeoutS?: number): Promise<void>
  removeContainer(id: string): Promise<void>
  containerStatus(id: string): Promise<ContainerStatus>
  listContainers(filter?: { podSandboxId?: string; labelSelector?: Record<string, string> }): Promise<Container[]>
  /** Runs cmd in the container (containerd's exec, no streaming server), bounded by timeoutS. */
  execSync(id: string, cmd: string[], timeoutS: number): Promise<{ stdout: string; stderr: string; exitCode: number }>
  imageStatus(image: string): Promise<{ id: string; repoTags: string[] } | null>
  close(): void
}

/** A client of the CRI on `socket` (a unix socket path). Calls time out after `defaultTimeoutMs` unless told. */
export function criClient(socket: string, defaultTimeoutMs = 60_000, protoPath = criProtoPath()): CriClient {
  const def = protoLoader.loadSync(protoPath, { keepCase: false, longs: Number, enums: String, defaults: true, oneofs: true })
  const pkg = grpc.loadPackageDefinition(def) as unknown as { runtime: { v1: Record<string, grpc.ServiceClientConstructor> } }
  const svc = pkg.runtime.v1
  const target = `unix://${socket}`
  // containerd serves without TLS on its local socket, as for the kubelet.
  const creds = grpc.credentials.createInsecure()
  const opts = { 'grpc.max_receive_message_length': 16 << 20 }
  const runtime = new (svc['RuntimeService'] as grpc.ServiceClientConstructor)(target, creds, opts) as unknown as Stub
  const images = new (svc['ImageService'] as grpc.ServiceClientConstructor)(target, creds, opts) as unknown as Stub

  const call = <R>(stub: Stub, method: string, req: unknown, timeoutMs = defaultTimeoutMs): Promise<R> =>
    new Promise((resolve, reject) => {
      const fn = stub[method]
      if (typeof fn !== 'function') return reject(new Error(`no CRI method ${method}`))
      fn.call(stub, req, { deadline: Date.now() + timeoutMs }, (err, res) => {
        if (err) reject(new CriError(method, err.code, err.details))
        else resolve(res as R)
      })
    })

  return {
    version: () => call(runtime, 'Version', { version: 'v1' }),
    status: async (verbose = false) => {
      const r = await call<{ status: { conditions: RuntimeCondition[] } | null; info: Record<string, string> }>(runtime, 'Status', { verbose })
      return { conditions: r.status?.conditions ?? [], info: r.info }
    },
    runPodSandbox: async (config, timeoutMs) => (await call<{ podSandboxId: string }>(runtime, 'RunPodSandbox', { config }, timeoutMs)).podSandboxId,
    stopPodSandbox: async (id, timeoutMs) => void (await call(runtime, 'StopPodSandbox', { podSandboxId: id }, timeoutMs)),
    removePodSandbox: async (id, timeoutMs) => void (await call(runtime, 'RemovePodSandbox', { podSandboxId: id }, timeoutMs)),
    podSandboxStatus: (id, verbose = false) => call(runtime, 'PodSandboxStatus', { podSandboxId: id, verbose }),
    listPodSandbox: async (labelSelector) =>
      (await call<{ items: PodSandbox[] }>(runtime, 'ListPodSandbox', { filter: labelSelector ? { labelSelector } : undefined })).items,
    createContainer: async (podId, config, sandboxConfig) =>
      (await call<{ containerId: string }>(runtime, 'CreateContainer', { podSandboxId: podId, config, sandboxConfig })).containerId,
    startContainer: async (id) => void (await call(runtime, 'StartContainer', { containerId: id })),
    stopContainer: async (id, timeoutS = 0) => void (await call(runtime, 'StopContainer', { containerId: id, timeout: timeoutS })),
    removeContainer: async (id) => void (await call(runtime, 'RemoveContainer', { containerId: id })),
    containerStatus: async (id) => (await call<{ status: ContainerStatus }>(runtime, 'ContainerStatus', { containerId: id })).status,
    listContainers: async (filter = {}) => (await call<{ containers: Container[] }>(runtime, 'ListContainers', { filter })).containers,
    execSync: async (id, cmd, timeoutS) => {
      const r = await call<{ stdout: Buffer; stderr: Buffer; exitCode: number }>(runtime, 'ExecSync', { containerId: id, cmd, timeout: timeoutS }, (timeoutS + 30) * 1000)
      return { stdout: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8'), exitCode: r.exitCode }
    },
    imageStatus: async (image) => (await call<{ image: { id: string; repoTags: string[] } | null }>(images, 'ImageStatus', { image: { image } })).image,
    close: () => {
      runtime.close()
      images.close()
    },
  }
}
