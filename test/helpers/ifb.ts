// The reference bandwidth plugin's ifb name (utils.MustFormatHashWithPrefix(15, "bwp", network+containerID)),
// written out here so the tests hold berth's plugin to the reference's naming rather than to its own code.
import { createHash } from 'node:crypto'

export const referenceIfbName = (network: string, containerId: string): string => `bwp${createHash('sha512').update(network + containerId).digest('hex')}`.slice(0, 15)
