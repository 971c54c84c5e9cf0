// The only loader of the addon. Order: BERTH_NATIVE (explicit override), next to the running bundle
// (bin/lib/berth_native.node, copied there by the build; a launcher passes its bundle's own path as
// import.meta.url), then native/build/{Release,Debug} for source runs.
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { CniCode, CniError } from '../pkg/errors/cni-error.js'
import { SysError } from '../pkg/errors/sys-error.js'
import type { NativeBinding } from './binding.js'

const ADDON = 'berth_native.node'
let binding: NativeBinding | undefined

function candidates(): string[] {
  const here = dirname(fileURLToPath(import.meta.url))
  const list = [join(here, ADDON), join(here, 'build', 'Release', ADDON), join(here, 'build', 'Debug', ADDON)]
  const override = process.env['BERTH_NATIVE']
  return override ? [override, ...list] : list
}

/** Loads the addon once. A missing addon is CNI code 50: the plugin cannot work on this host as built. */
export function native(): NativeBinding {
  if (binding) return binding
  const found = candidates().find((p) => existsSync(p))
  if (found === undefined) {
    throw new CniError(CniCode.NotAvailable, `berth native addon not found; run "npm run build" (looked in ${candidates().join(', ')})`)
  }
  const b = createRequire(import.meta.url)(found) as NativeBinding
  b.init(SysError)
  binding = b
  return b
}

/** Test seam: replace the addon with a fake implementing the same contract. */
export function setNativeForTests(b: NativeBinding | undefined): void {
  binding = b
}
