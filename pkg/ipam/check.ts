// CHECK's side of configure.ts (the reference's ip.ValidateExpectedInterfaceIPs and ValidateExpectedRoute):
// the addresses prevResult gives an interface are on its link, and prevResult's routes are in the
// namespace. A difference is CniError 103 saying what is missing.
import type { CniResult } from '../cni/result.js'
import { CniCode, CniError } from '../errors/cni-error.js'
import { formatCidr, formatIp, parseCidr, parseIp } from '../ip/cidr.js'
import { listAddresses } from '../link/addr.js'
import type { Link } from '../link/link.js'
import { listRoutes } from '../link/route.js'
import type { Rtnl } from '../link/rtnl.js'

const mismatch = (msg: string) => new CniError(CniCode.KernelFailure, msg)
/** One spelling per prefix ("FD00:0::/64" and "fd00::/64" are the same route). */
const canonical = (cidr: string) => formatCidr(parseCidr(cidr))
const sameIp = (a: string | undefined, b: string) => a !== undefined && formatIp(parseIp(a).bytes) === formatIp(parseIp(b).bytes)

/** Every prevResult address of interface `index` (or of no interface) is on `link`. */
export async function checkIfaceAddresses(rt: Rtnl, link: Link, prev: CniResult, index: number): Promise<void> {
  const have = new Set((await listAddresses(rt, { link: link.index })).map((x) => canonical(x.cidr)))
  for (const ip of prev.ips ?? []) {
    if (ip.interface !== undefined && ip.interface !== index) continue
    if (!have.has(canonical(ip.address))) throw mismatch(`interface ${link.name} lacks address ${ip.address} (IPv${parseCidr(ip.address).family}) from prevResult`)
  }
}

/** Every prevResult route is in the namespace `rt` works in (with its gateway, when it names one). */
export async function checkRoutes(rt: Rtnl, prev: CniResult, netns: string): Promise<void> {
  for (const r of prev.routes ?? []) {
    const fam = parseCidr(r.dst).family
    const dst = canonical(r.dst)
    const routes = await listRoutes(rt, { family: fam, ...(r.table ? { table: r.table } : {}) })
    const found = routes.some((x) => canonical(x.dst) === dst && (r.gw === undefined || sameIp(x.gw, r.gw)))
    if (!found) throw mismatch(`route ${r.dst}${r.gw ? ` via ${r.gw}` : ''} from prevResult not found in ${netns}`)
  }
}
