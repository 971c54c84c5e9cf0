// route_localnet: a connection from the host to 127.0.0.1:<hostPort> is DNATed to the container, but the
// kernel drops packets with a 127.0.0.0/8 source leaving a non-loopback interface unless
// net.ipv4.conf.<if>.route_localnet is 1 on that interface (the postrouting masquerade then rewrites the
// source). The interface is the one whose subnet holds the container's IPv4 address (the bridge), else
// the host-side interfaces of prevResult. IPv6 has no equivalent: ::1 cannot be DNATed.
import type { CniResult } from '../../pkg/cni/result.js'
import { parseCidr, parseIp, netContains } from '../../pkg/ip/cidr.js'
import { listAddresses } from '../../pkg/link/addr.js'
import { getLink } from '../../pkg/link/link.js'
import { openRtnl } from '../../pkg/link/rtnl.js'
import type { Log } from '../../pkg/log/log.js'
import { readSysctl, writeSysctl } from '../../pkg/sysctl/sysctl.js'

export async function enableRouteLocalnet(containerIP: string, prev: CniResult, log: Log): Promise<void> {
  const rt = openRtnl()
  const names = new Set<string>()
  try {
    const ip = parseIp(containerIP)
    for (const a of await listAddresses(rt, { family: 4 })) {
      if (a.ip !== containerIP && netContains(parseCidr(a.cidr), ip)) names.add((await getLink(rt, a.index)).name)
    }
  } finally {
    rt.close()
  }
  if (names.size === 0) for (const i of prev.interfaces ?? []) if ((i.sandbox ?? '') === '') names.add(i.name)
  for (const name of names) {
    const key = `net/ipv4/conf/${name}/route_localnet`
    try {
      if (readSysctl(key) !== '1') writeSysctl(key, '1')
    } catch (e) {
      log.warn(`cannot set ${key}: ${e instanceof Error ? e.message : String(e)}`)
    }
  }
}
