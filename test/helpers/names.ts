// Unique, short names so tests can run in parallel and leftovers are recognisable (prefix "bt").
import { randomBytes } from 'node:crypto'

/** A name of at most 15 characters (IFNAMSIZ - 1): "bt" + tag (<= 5 chars) + 8 hex. */
export function uniqueName(tag = ''): string {
  return `bt${tag.slice(0, 5)}${randomBytes(4).toString('hex')}`
}

/** A container ID as runtimes make them (64 hex). */
export function containerId(): string {
  return randomBytes(32).toString('hex')
}
