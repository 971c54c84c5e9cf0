// The statically linked busybox that the real-client tests (podman, containerd) build their images from:
// a dynamically linked one would need its libraries in the image.
import { existsSync } from 'node:fs'
import { spawnSync } from 'node:child_process'

/** The path of a static busybox (no PT_INTERP program header), or undefined. */
export function staticBusybox(): string | undefined {
  for (const p of ['/bin/busybox', '/usr/bin/busybox']) {
    if (!existsSync(p)) continue
    const r = spawnSync('readelf', ['-l', p], { encoding: 'utf8', timeout: 5000 })
    if (r.status === 0 && !r.stdout.includes('INTERP')) return p
    // no readelf (binutils): trust the package that ships the static build
    if (r.status !== 0 && spawnSync('dpkg-query', ['-W', '-f=${Status}', 'busybox-static'], { encoding: 'utf8', timeout: 5000 }).stdout.includes('install ok installed')) return p
  }
  return undefined
}
