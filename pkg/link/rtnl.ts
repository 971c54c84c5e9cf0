// The rtnetlink handle: one socket bound to one network namespace, and the ONLY importer of 'netlink'.
//
// Model: vishvananda's NewHandleAt. openRtnl(ns) creates the socket inside `ns` through withNetnsSync;
// netlink 0.3.0 creates and binds its socket synchronously in the constructor (RawNetlinkSocket →
// native NativeNetlink: socket(2) + bind(2)), so the socket belongs to `ns` for its whole life while the
// thread is back home before any await. Every pkg/link function then takes the Rtnl explicitly.
//
// Only the rt part of the package is imported (rt/rt.js, rt/gen_structs.js, rt/ifla.js, structs.js, all
// already required by rt/rt.js), never the index, so genl/nl80211/wg stay out of the plugin bundles.
//
// Errors: netlink's checkError() throws text-only Errors, so requests go out with {checkError: false}
// and decodeReplies() turns NLMSG_ERROR's negative errno into NetlinkError(op, errno, target).
// Message headers are encoded and decoded by hand (headers.ts); attributes go through netlink's
// formatters and parsers.
import rtModule from 'netlink/dist/rt/rt.js'
import genModule from 'netlink/dist/rt/gen_structs.js'
import iflaModule from 'netlink/dist/rt/ifla.js'
import structsModule from 'netlink/dist/structs.js'
import type { RtNetlinkSocket } from 'netlink/dist/rt/rt.js'
import type { AddressAttrs, NeighborAttrs, RouteAttrs, TcAttrs } from 'netlink/dist/rt/gen_structs.js'
import type { Bridge, BridgePort, Info, LinkAttrs, Macvlan, Vxlan } from 'netlink/dist/rt/ifla.js'
import type { NetlinkMessage, StreamData } from 'netlink/dist/structs.js'
import { constants as osConstants } from 'node:os'
import { NetlinkError } from '../errors/sys-error.js'
import { withNetnsSync, type NetnsHandle } from '../ns/netns.js'
import {
  decodeIfAddrMsg,
  decodeIfInfoMsg,
  decodeNdMsg,
  decodeRtMsg,
  decodeTcMsg,
  encodeIfAddrMsg,
  encodeIfInfoMsg,
  encodeNdMsg,
  encodeRtMsg,
  encodeTcMsg,
  TCMSG_LEN,
  type IfAddrMsg,
  type IfInfoMsg,
  type NdMsg,
  type RtMsg,
  type TcMsg,
} from './headers.js'
import {
  NLM_F_DUMP,
  NLM_F_DUMP_INTR,
  NLMSG_DONE,
  NLMSG_ERROR,
  NLMSG_NOOP,
  RTM_DELADDR,
  RTM_DELLINK,
  RTM_DELNEIGH,
  RTM_DELROUTE,
  RTM_NEWADDR,
  RTM_NEWLINK,
  RTM_NEWNEIGH,
  RTM_NEWROUTE,
  RTM_NEWQDISC,
  RTM_DELQDISC,
  RTM_NEWTCLASS,
  RTM_DELTCLASS,
  RTM_NEWTFILTER,
  RTM_DELTFILTER,
} from './constants.js'

const { createRtNetlink } = rtModule
const { AttrStream, formatAttribute, parseAttributes, parseError } = structsModule

export type { AddressAttrs, NeighborAttrs, RouteAttrs, TcAttrs, Bridge, BridgePort, Info, LinkAttrs, Macvlan, Vxlan }
export type { IfAddrMsg, IfInfoMsg, NdMsg, RtMsg, TcMsg }

const { EBADF, EINTR, ETIMEDOUT } = osConstants.errno
const DEFAULT_TIMEOUT_MS = 30_000
const DUMP_RETRIES = 5

/** One request: what to send, and the operation and object to name if the kernel refuses it. */
export interface RtnlRequest {
  /** RTM_* message type */
  readonly type: number
  /** NLM_F_* flags besides REQUEST|ACK, which are always set */
  readonly flags?: number
  /** The payload: a header (ifinfomsg, ...) and its attributes */
  readonly body: readonly Uint8Array[]
  /** What is being done, for errors: "create veth", "add route" */
  readonly op: string
  /** The object it is done to, for errors: "eth0", "10.0.0.0/24" */
  readonly target?: string | undefined
}

/** An rtnetlink handle bound to one namespace. Tests may pass a fake implementing this interface. */
export interface Rtnl {
  /** The namespace this handle operates on (netns path, or "current" when opened without one). */
  readonly netns: string
  /**
   * Sends one request and resolves with its decoded replies (none for a plain ACK). Requests are
   * serialised per handle. Throws NetlinkError when the kernel answers NLMSG_ERROR.
   */
  request(req: RtnlRequest): Promise<RtMessage[]>
  /** Closes the socket; pending and later requests fail with EBADF. Idempotent. */
  close(): void
}

export interface OpenRtnlOptions {
  /** Milliseconds to wait for each reply (default 30000). */
  readonly timeoutMs?: number
}

/**
 * Opens an rtnetlink socket inside `ns` (or in the calling thread's namespace when omitted). The
 * socket stays bound to that namespace after the thread switches back.
 */
export function openRtnl(ns?: NetnsHandle, opts: OpenRtnlOptions = {}): Rtnl {
  const sock = withNetnsSync(ns, () => createRtNetlink())
  return new SocketRtnl(sock, ns?.path ?? 'current', opts.timeoutMs ?? DEFAULT_TIMEOUT_MS)
}

class SocketRtnl implements Rtnl {
  readonly netns: string
  readonly #sock: RtNetlinkSocket
  readonly #timeoutMs: number
  #queue: Promise<unknown> = Promise.resolve()
  #abort: ((e: Error) => void) | undefined
  #closed = false

  constructor(sock: RtNetlinkSocket, netns: string, timeoutMs: number) {
    this.#sock = sock
    this.netns = netns
    this.#timeoutMs = timeoutMs
    // A receive error (e.g. ENOBUFS after an overflowing dump) fails the request in flight instead of
    // becoming an unhandled 'error' event.
    sock.socket.on('error', (e: unknown) => this.#abort?.(e instanceof Error ? e : new Error(String(e))))
  }

  request(req: RtnlRequest): Promise<RtMessage[]> {
    const run = this.#queue.then(() => this.#run(req))
    this.#queue = run.catch(() => undefined)
    return run
  }

  close(): void {
    if (this.#closed) return
    this.#closed = true
    this.#sock.socket.close()
    this.#abort?.(new Error('closed'))
  }

  async #run(req: RtnlRequest): Promise<RtMessage[]> {
    const dump = ((req.flags ?? 0) & NLM_F_DUMP) === NLM_F_DUMP
    for (let attempt = 0; ; attempt++) {
      const msgs = await this.#once(req)
      if (dump && msgs.some((m) => (m.flags & NLM_F_DUMP_INTR) !== 0)) {
        // The table changed during the dump; the kernel says the listing may be inconsistent.
        if (attempt < DUMP_RETRIES) continue
        throw new NetlinkError(req.op, EINTR, req.target)
      }
      return decodeReplies(msgs, req.op, req.target)
    }
  }

  #once(req: RtnlRequest): Promise<NetlinkMessage[]> {
    if (this.#closed) return Promise.reject(new NetlinkError(req.op, EBADF, req.target))
    return new Promise<NetlinkMessage[]>((resolve, reject) => {
      let settled = false
      const settle = (): boolean => {
        if (settled) return false
        settled = true
        clearTimeout(timer)
        if (this.#abort === abort) this.#abort = undefined
        return true
      }
      const abort = (e: unknown): void => {
        if (settle()) reject(toNetlinkError(e, req, this.#closed))
      }
      // Our own timer rather than netlink's `timeout` option, whose rejection is a text-only Error. A
      // request abandoned this way stays in netlink's table (its reply, if any, is ignored) until close().
      const timer = setTimeout(() => {
        if (settle()) reject(new NetlinkError(req.op, ETIMEDOUT, req.target))
      }, this.#timeoutMs)
      this.#abort = abort
      this.#sock.socket.request(req.type, [...req.body], { flags: req.flags ?? 0, checkError: false }).then(
        ([msgs]) => {
          if (settle()) resolve(msgs)
        },
        abort,
      )
    })
  }
}

function toNetlinkError(e: unknown, req: RtnlRequest, closed: boolean): Error {
  if (closed) return new NetlinkError(req.op, EBADF, req.target)
  if (typeof e === 'object' && e !== null && typeof (e as { errno?: unknown }).errno === 'number') {
    return new NetlinkError(req.op, (e as { errno: number }).errno, req.target)
  }
  const what = `${req.op}${req.target === undefined ? '' : ' ' + req.target}`
  return new Error(`${what}: netlink failure: ${e instanceof Error ? e.message : String(e)}`, { cause: e })
}

// ---- replies: NLMSG_ERROR → NetlinkError, the rest → RtMessage -----------------------------------

/** A decoded rtnetlink message: numeric header plus attributes parsed by netlink. */
export type RtMessage =
  | { readonly kind: 'link'; readonly hdr: IfInfoMsg; readonly attrs: LinkAttrs }
  | { readonly kind: 'address'; readonly hdr: IfAddrMsg; readonly attrs: AddressAttrs; readonly ifaFlags: number }
  | { readonly kind: 'route'; readonly hdr: RtMsg; readonly attrs: RouteAttrs }
  | { readonly kind: 'neighbor'; readonly hdr: NdMsg; readonly attrs: NeighborAttrs }
  | { readonly kind: 'tc'; readonly type: number; readonly hdr: TcMsg; readonly attrs: TcAttrs }
  | { readonly kind: 'other'; readonly type: number }

/** The subset of netlink's NetlinkMessage that decodeReplies reads. */
export interface RawReply {
  readonly type: number
  readonly flags: number
  readonly data: Buffer
}

/**
 * Turns the replies to one request into messages: an NLMSG_ERROR with a negative errno throws
 * NetlinkError(op, errno, target); an ACK (errno 0), NLMSG_DONE and NLMSG_NOOP are dropped.
 */
export function decodeReplies(msgs: readonly RawReply[], op: string, target?: string): RtMessage[] {
  const out: RtMessage[] = []
  for (const m of msgs) {
    if (m.type === NLMSG_ERROR) {
      const { errno } = parseError(m.data, m.flags)
      if (errno !== 0) throw new NetlinkError(op, errno, target)
      continue
    }
    if (m.type === NLMSG_DONE || m.type === NLMSG_NOOP) continue
    out.push(decodeMessage(m.type, m.data))
  }
  return out
}

function decodeMessage(type: number, d: Buffer): RtMessage {
  switch (type) {
    case RTM_NEWLINK:
    case RTM_DELLINK:
      return { kind: 'link', hdr: decodeIfInfoMsg(d), attrs: iflaModule.parseLinkAttrs(d.subarray(16)) }
    case RTM_NEWADDR:
    case RTM_DELADDR: {
      const hdr = decodeIfAddrMsg(d)
      const attrs = genModule.parseAddressAttrs(d.subarray(8))
      // IFA_FLAGS (u32) supersedes the u8 ifa_flags when present.
      const ifaFlags = attrs.flags === undefined ? hdr.flags : genModule.formatAddressFlags(attrs.flags)
      return { kind: 'address', hdr, attrs, ifaFlags }
    }
    case RTM_NEWROUTE:
    case RTM_DELROUTE:
      return { kind: 'route', hdr: decodeRtMsg(d), attrs: genModule.parseRouteAttrs(d.subarray(12)) }
    case RTM_NEWNEIGH:
    case RTM_DELNEIGH:
      return { kind: 'neighbor', hdr: decodeNdMsg(d), attrs: genModule.parseNeighborAttrs(d.subarray(12)) }
    case RTM_NEWQDISC:
    case RTM_DELQDISC:
    case RTM_NEWTCLASS:
    case RTM_DELTCLASS:
    case RTM_NEWTFILTER:
    case RTM_DELTFILTER:
      return { kind: 'tc', type, hdr: decodeTcMsg(d), attrs: genModule.parseTcAttrs(d.subarray(TCMSG_LEN)) }
    default:
      return { kind: 'other', type }
  }
}

// ---- requests ------------------------------------------------------------------------------------
/** Materialises a netlink StreamData (what netlink's format* helpers return) into bytes. */
function streamBytes(data: StreamData): Buffer {
  const s = new AttrStream()
  s.emit(data)
  return Buffer.concat(s.bufs)
}

/** ifinfomsg + IFLA_* attributes (+ raw, already-encoded attributes such as nested IFLA_PROTINFO). */
export function linkBody(hdr: Partial<IfInfoMsg>, attrs: LinkAttrs, raw: readonly Uint8Array[] = []): Uint8Array[] {
  return [encodeIfInfoMsg(hdr), streamBytes(iflaModule.formatLinkAttrs(attrs)), ...raw]
}
/** ifaddrmsg + IFA_* attributes. `ifaFlags` goes in the u32 IFA_FLAGS attribute. */
export function addressBody(hdr: Partial<IfAddrMsg>, attrs: Omit<AddressAttrs, 'flags'>, ifaFlags?: number): Uint8Array[] {
  const a: AddressAttrs = ifaFlags ? { ...attrs, flags: { __unknown: ifaFlags } } : attrs
  return [encodeIfAddrMsg({ ...hdr, flags: (ifaFlags ?? 0) & 0xff }), streamBytes(genModule.formatAddressAttrs(a))]
}
/** rtmsg + RTA_* attributes. */
export function routeBody(hdr: Partial<RtMsg>, attrs: RouteAttrs): Uint8Array[] {
  return [encodeRtMsg(hdr), streamBytes(genModule.formatRouteAttrs(attrs))]
}
/** ndmsg + NDA_* attributes. */
export function neighborBody(hdr: Partial<NdMsg>, attrs: NeighborAttrs): Uint8Array[] {
  return [encodeNdMsg(hdr), streamBytes(genModule.formatNeighborAttrs(attrs))]
}

/** tcmsg + TCA_* attributes (qdiscs, classes, filters); TCA_OPTIONS comes encoded by tc.ts. */
export function tcBody(hdr: TcMsg, attrs: TcAttrs): Uint8Array[] {
  return [encodeTcMsg(hdr), streamBytes(genModule.formatTcAttrs(attrs))]
}

/** One attribute, padded to 4 bytes; `nested` sets NLA_F_NESTED (for payloads made of attributes). */
export function attr(type: number, payload: Uint8Array, nested = false): Buffer {
  const a = Buffer.concat(formatAttribute({ type, data: Buffer.from(payload), nested }))
  const pad = (4 - (a.length % 4)) % 4
  return pad === 0 ? a : Buffer.concat([a, Buffer.alloc(pad)])
}

/** The attributes in `payload` by type (the last of a repeated type wins); for kind-specific blobs such as TCA_OPTIONS. */
export function attrsOf(payload: Buffer): Map<number, Buffer> {
  const out = new Map<number, Buffer>()
  parseAttributes(payload, (a: { type: number; data: Buffer }) => out.set(a.type, a.data))
  return out
}

/** IFLA_LINKINFO payload: IFLA_INFO_KIND (+ IFLA_INFO_DATA, IFLA_INFO_SLAVE_*). */
export function linkInfoData(info: Info): Buffer {
  return streamBytes(iflaModule.formatInfo(info))
}
/** IFLA_INFO_DATA for kind "vxlan" (IFLA_VXLAN_*). */
export function vxlanInfoData(x: Vxlan): Buffer {
  return streamBytes(iflaModule.formatVxlan(x))
}
/** IFLA_INFO_DATA for kind "bridge" (IFLA_BR_*). */
export function bridgeInfoData(x: Bridge): Buffer {
  return streamBytes(iflaModule.formatBridge(x))
}
/** IFLA_INFO_DATA for kind "macvlan" (IFLA_MACVLAN_*). */
export function macvlanInfoData(x: Macvlan): Buffer {
  return streamBytes(iflaModule.formatMacvlan(x))
}
/** IFLA_INFO_DATA for kind "veth": VETH_INFO_PEER carrying the peer's own ifinfomsg and IFLA_* attributes. */
export function vethInfoData(peerHdr: Partial<IfInfoMsg>, peerAttrs: LinkAttrs): Buffer {
  const peer = Buffer.concat([encodeIfInfoMsg(peerHdr), streamBytes(iflaModule.formatLinkAttrs(peerAttrs))])
  return streamBytes(iflaModule.formatVethInfo({ peer }))
}

/**
 * One attribute with NLA_F_NESTED set (attr with nested). netlink's AttrStream.push masks the type to 14
 * bits, so it cannot set this flag; the bridge (br_setlink) only reads IFLA_PROTINFO as IFLA_BRPORT_* when
 * it is set.
 */
export function nestedAttr(type: number, payload: Uint8Array): Buffer {
  return attr(type, payload, true)
}
/** One attribute carrying a u32, for attributes netlink 0.3.0 has no field for. */
export function u32Attr(type: number, value: number): Buffer {
  const data = Buffer.alloc(4)
  data.writeUInt32LE(value >>> 0)
  return attr(type, data)
}
/** IFLA_BRPORT_* attributes (payload of a nested IFLA_PROTINFO or of IFLA_INFO_SLAVE_DATA). */
export function bridgePortData(x: BridgePort): Buffer {
  return streamBytes(iflaModule.formatBridgePort(x))
}

export function parseLinkInfo(b: Buffer): Info {
  return iflaModule.parseInfo(b)
}
export function parseVxlanInfoData(b: Buffer): Vxlan {
  return iflaModule.parseVxlan(b)
}
export function parseBridgeInfoData(b: Buffer): Bridge {
  return iflaModule.parseBridge(b)
}
export function parseMacvlanInfoData(b: Buffer): Macvlan {
  return iflaModule.parseMacvlan(b)
}
export function parseBridgePortData(b: Buffer): BridgePort {
  return iflaModule.parseBridgePort(b)
}
