// Device names behind the sysfs selectors (kernelpath, pciBusID / deviceID), as the reference reads them:
// <kernelpath>/net/*, /sys/bus/pci/devices/<addr>/net/* (or .../virtio*/net/* for virtio-net), and for a
// deviceID that is not a PCI address /sys/bus/auxiliary/devices/<id>/net/*. sysfs shows the devices of the
// network namespace that mounted it, so these selectors need the plugin to run with the host's own /sys.
import { readdirSync, readlinkSync } from 'node:fs'
import { basename, join } from 'node:path'
import { CniCode, CniError } from '../../../pkg/errors/cni-error.js'
import { errorCode } from '../../../pkg/errors/sys-error.js'
import { describeSelector, type Selector } from './config.js'

export const SYS_ROOT = '/sys'
/** Drivers that take a PCI function away from the kernel's network stack (DPDK): there is no link to move. */
export const USERSPACE_DRIVERS = ['vfio-pci', 'uio_pci_generic', 'igb_uio'] as const

/** The /sys path the config names, moved under `sysRoot` (for tests with a fake tree). */
function underRoot(sysRoot: string, sysPath: string): string {
  return join(sysRoot, sysPath.replace(/^\/sys\//, ''))
}

function list(dir: string): string[] | undefined {
  try {
    return readdirSync(dir).sort()
  } catch (e) {
    if (errorCode(e) === 'ENOENT' || errorCode(e) === 'ENOTDIR') return undefined
    throw new CniError(CniCode.IoFailure, `failed to read ${dir}: ${errorCode(e) ?? String(e)}`, undefined, { cause: e })
  }
}

const notFound = (s: Selector, why: string) => new CniError(CniCode.InvalidConfig, `host device ${describeSelector(s)} not found: ${why}`)

/**
 * Candidate interface names for a kernelpath or pciBusID selector, in directory order; the caller takes
 * the first one that exists as a link. CniError 7 when sysfs has no net directory for it.
 */
export function sysfsNetNames(s: Selector & { by: 'kernelpath' | 'pciBusID' }, sysRoot = SYS_ROOT): string[] {
  const dirs: string[] = []
  if (s.by === 'kernelpath') {
    dirs.push(join(underRoot(sysRoot, s.value), 'net'))
  } else {
    const pci = join(sysRoot, 'bus/pci/devices', s.value)
    dirs.push(join(pci, 'net'))
    for (const sub of list(pci) ?? []) if (sub.startsWith('virtio')) dirs.push(join(pci, sub, 'net'))
    dirs.push(join(sysRoot, 'bus/auxiliary/devices', s.value, 'net'))
  }
  for (const d of dirs) {
    const names = list(d)
    if (names !== undefined && names.length > 0) return names
  }
  throw notFound(s, `no network device under ${dirs[0]}`)
}

/** The driver bound to a PCI function, or undefined when none is (or sysfs has no such device). */
export function pciDriver(pciAddr: string, sysRoot = SYS_ROOT): string | undefined {
  try {
    return basename(readlinkSync(join(sysRoot, 'bus/pci/devices', pciAddr, 'driver')))
  } catch {
    return undefined
  }
}

/** Whether the PCI function is bound to a userspace (DPDK) driver, which the reference then leaves alone. */
export function isDpdkDevice(pciAddr: string, sysRoot = SYS_ROOT): boolean {
  const d = pciDriver(pciAddr, sysRoot)
  return d !== undefined && (USERSPACE_DRIVERS as readonly string[]).includes(d)
}
