// OCI image archives made from a static busybox, for a containerd that can reach no registry: one layer
// (busybox and its applet links), one config and manifest per image name, all in one OCI layout tarball
// that `ctr images import` takes in a single call.
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { chmodSync, copyFileSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

export interface ImageSpec {
  /** the name containerd lists it under, e.g. "localhost/berth-pause:abc" */
  name: string
  entrypoint?: string[]
  cmd?: string[]
}

// The applets the tests and the sandbox use (httpd, wget under timeout, sh, ip, sleep, ...).
const APPLETS = ['sh', 'sleep', 'httpd', 'wget', 'timeout', 'ip', 'cat', 'echo', 'mkdir', 'hostname', 'ls', 'nc', 'ping', 'true']

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex')

/**
 * Writes `dir`/images.tar: an OCI image layout holding every image of `images`, all on one busybox layer.
 * Returns its path.
 */
export function buildBusyboxImages(dir: string, busybox: string, images: ImageSpec[]): string {
  const rootfs = join(dir, 'rootfs')
  const layout = join(dir, 'oci')
  const blobs = join(layout, 'blobs', 'sha256')
  for (const d of ['bin', 'etc', 'tmp', 'proc', 'sys', 'dev']) mkdirSync(join(rootfs, d), { recursive: true })
  mkdirSync(blobs, { recursive: true })
  copyFileSync(busybox, join(rootfs, 'bin', 'busybox'))
  chmodSync(join(rootfs, 'bin', 'busybox'), 0o755)
  for (const a of APPLETS) symlinkSync('busybox', join(rootfs, 'bin', a))
  chmodSync(join(rootfs, 'tmp'), 0o1777)

  const layerTar = join(dir, 'layer.tar')
  execFileSync('tar', ['-C', rootfs, '--numeric-owner', '--owner=0', '--group=0', '-cf', layerTar, '.'], { timeout: 30_000 })
  const layer = readFileSync(layerTar)
  const layerDigest = sha256(layer)
  writeFileSync(join(blobs, layerDigest), layer)

  const blob = (json: unknown): { digest: string; size: number } => {
    const text = JSON.stringify(json)
    const digest = sha256(text)
    writeFileSync(join(blobs, digest), text)
    return { digest: `sha256:${digest}`, size: Buffer.byteLength(text) }
  }
  const manifests = images.map((img) => {
    const config = blob({
      architecture: goArch(),
      os: 'linux',
      config: { Env: ['PATH=/bin'], ...(img.entrypoint ? { Entrypoint: img.entrypoint } : {}), ...(img.cmd ? { Cmd: img.cmd } : {}) },
      rootfs: { type: 'layers', diff_ids: [`sha256:${layerDigest}`] },
    })
    const manifest = blob({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: `sha256:${layerDigest}`, size: layer.length }],
    })
    // ctr import names an image after this annotation
    return { mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'io.containerd.image.name': img.name } }
  })
  writeFileSync(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }))
  writeFileSync(join(layout, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests }))
  const out = join(dir, 'images.tar')
  execFileSync('tar', ['-C', layout, '-cf', out, '.'], { timeout: 30_000 })
  return out
}

/** The OCI architecture name of this machine (containerd unpacks only images of its platform). */
function goArch(): string {
  const map: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' }
  return map[process.arch] ?? process.arch
}
