// Container names and IDs. A name is a directory under the state dir and a file under run/netns, so it
// is checked like Docker checks names ([a-zA-Z0-9][a-zA-Z0-9_.-]+) and kept short; the ID is 64 hex
// (CNI_CONTAINERID), as Docker's.
import { randomBytes, randomInt } from 'node:crypto'
import { CliError } from '../cli-error.js'

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/

/** Throws CliError unless `name` is a valid container name. */
export function validateContainerName(name: string): string {
  if (!NAME_RE.test(name)) {
    throw new CliError(`invalid container name "${name}"`, "use 1-63 letters, digits, '_', '.' or '-', starting with a letter or digit")
  }
  return name
}

/** 64 hex characters, as CNI_CONTAINERID. */
export function newContainerId(): string {
  return randomBytes(32).toString('hex')
}

const ADJECTIVES = ['amber', 'brave', 'calm', 'deft', 'eager', 'fond', 'gentle', 'hardy', 'keen', 'lucid', 'merry', 'nimble', 'proud', 'quiet', 'swift', 'tidy']
const NOUNS = ['anchor', 'buoy', 'cutter', 'dinghy', 'ferry', 'galley', 'harbor', 'jetty', 'keel', 'lagoon', 'mooring', 'pier', 'quay', 'rudder', 'skiff', 'wharf']

/** A friendly name such as "calm_jetty"; `taken` says which names exist (a random suffix breaks ties). */
export function generateName(taken: (name: string) => boolean): string {
  for (let i = 0; i < 32; i++) {
    const base = `${ADJECTIVES[randomInt(ADJECTIVES.length)]}_${NOUNS[randomInt(NOUNS.length)]}`
    const name = i < 8 ? base : `${base}_${randomBytes(2).toString('hex')}`
    if (!taken(name)) return name
  }
  return `berth_${randomBytes(6).toString('hex')}`
}
