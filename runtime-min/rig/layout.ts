// Where a rig lives: its names, namespaces and directories. Rigs are machine-wide (not under BERTH_ROOT):
// one rig's hosts each get their own BERTH_ROOT below the rig's directory.
//
//   /run/berth/rigs/.lock            serialises up/down of every rig (reservation of names and underlays)
//   /run/berth/rigs/R/rig.json       metadata (written atomically)
//   /run/berth/rigs/R/hostK/         hostK's BERTH_ROOT (etc/cni/net.d, var/lib/cni, run/berth, run/netns)
//   /run/berth/rigs/R/switch/        the switch's BERTH_ROOT (so a stray `berth` there never touches /)
//   /run/netns/R.switch, R.hostK     the namespaces, visible to `ip netns`
//
// Rig names cannot contain '.', so "R.hostK" never equals a namespace of another rig.
import { join } from 'node:path'
import { CliError } from '../cli-error.js'

export const RIGS_DIR = '/run/berth/rigs'
export const RIGS_LOCK = join(RIGS_DIR, '.lock')
export const RIG_NETNS_DIR = '/run/netns'
/** The switch's name for `rig exec`, and the name of its bridge inside the switch namespace. */
export const SWITCH = 'switch'
export const SWITCH_BRIDGE = 'br0'
/** Each host's underlay interface (the host end of its veth). */
export const HOST_IFACE = 'eth0'
export const MAX_HOSTS = 250

const RIG_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$/

/** Checks a rig name: it becomes a directory and a namespace-name prefix. */
export function validRigName(name: string): string {
  if (!RIG_NAME.test(name)) {
    throw new CliError(
      `invalid rig name ${JSON.stringify(name)}`,
      "use 1-32 letters, digits, '-' or '_', starting with a letter or digit",
    )
  }
  return name
}

export const hostName = (k: number): string => `host${k}`

/** "switch" or one of the rig's hosts; anything else is a clear error. */
export function validMember(rig: string, member: string, hosts: readonly string[]): string {
  if (member === SWITCH || hosts.includes(member)) return member
  throw new CliError(`rig ${rig} has no host ${JSON.stringify(member)}`, `use ${[SWITCH, ...hosts].join(', ')}`)
}

/** K of "hostK", or undefined for any other name. */
export function hostIndex(name: string): number | undefined {
  const m = /^host([1-9][0-9]*)$/.exec(name)
  return m === null ? undefined : Number(m[1])
}

export const rigDir = (rig: string): string => join(RIGS_DIR, rig)
export const rigFile = (rig: string): string => join(rigDir(rig), 'rig.json')
/** A host's (or the switch's) BERTH_ROOT. */
export const memberRoot = (rig: string, member: string): string => join(rigDir(rig), member)
export const memberNetnsName = (rig: string, member: string): string => `${rig}.${member}`
export const memberNetnsPath = (rig: string, member: string): string => join(RIG_NETNS_DIR, memberNetnsName(rig, member))

/** The directories berth expects under a BERTH_ROOT (runtime contract, "Paths"). */
export const ROOT_SUBDIRS = ['etc/cni/net.d', 'var/lib/cni/networks', 'var/lib/cni/results', 'run/berth/containers', 'run/netns'] as const
