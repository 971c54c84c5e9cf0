// Kernel constants for rtnetlink, spelled as in the Linux UAPI headers (linux/netlink.h, linux/rtnetlink.h,
// linux/if_link.h, linux/if_addr.h, linux/neighbour.h, linux/if.h). Values are kernel ABI and never change.

// linux/netlink.h: message types and flags
export const NLMSG_NOOP = 1
export const NLMSG_ERROR = 2
export const NLMSG_DONE = 3

export const NLM_F_REQUEST = 0x01
export const NLM_F_MULTI = 0x02
export const NLM_F_ACK = 0x04
export const NLM_F_DUMP_INTR = 0x10
// GET requests
export const NLM_F_ROOT = 0x100
export const NLM_F_MATCH = 0x200
export const NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH
// NEW requests
export const NLM_F_REPLACE = 0x100
export const NLM_F_EXCL = 0x200
export const NLM_F_CREATE = 0x400
export const NLM_F_APPEND = 0x800

export const NLA_F_NESTED = 0x8000

// linux/rtnetlink.h: message types
export const RTM_NEWLINK = 16
export const RTM_DELLINK = 17
export const RTM_GETLINK = 18
export const RTM_SETLINK = 19
export const RTM_NEWADDR = 20
export const RTM_DELADDR = 21
export const RTM_GETADDR = 22
export const RTM_NEWROUTE = 24
export const RTM_DELROUTE = 25
export const RTM_GETROUTE = 26
export const RTM_NEWNEIGH = 28
export const RTM_DELNEIGH = 29
export const RTM_GETNEIGH = 30
export const RTM_NEWQDISC = 36
export const RTM_DELQDISC = 37
export const RTM_GETQDISC = 38
export const RTM_NEWTCLASS = 40
export const RTM_DELTCLASS = 41
export const RTM_GETTCLASS = 42
export const RTM_NEWTFILTER = 44
export const RTM_DELTFILTER = 45
export const RTM_GETTFILTER = 46

// address families (linux/socket.h)
export const AF_UNSPEC = 0
export const AF_INET = 2
export const AF_BRIDGE = 7
export const AF_INET6 = 10

/** AF_INET or AF_INET6 for an IP family. */
export const familyToAf = (f: 4 | 6): number => (f === 4 ? AF_INET : AF_INET6)

// linux/if.h: net_device flags
export const IFF_UP = 0x1
export const IFF_BROADCAST = 0x2
export const IFF_LOOPBACK = 0x8
export const IFF_POINTOPOINT = 0x10
export const IFF_RUNNING = 0x40
export const IFF_NOARP = 0x80
export const IFF_PROMISC = 0x100
export const IFF_MULTICAST = 0x1000
export const IFF_LOWER_UP = 0x10000

// linux/if.h: RFC 2863 operational states (IFLA_OPERSTATE)
export const OperState = {
  0: 'unknown',
  1: 'notpresent',
  2: 'down',
  3: 'lowerlayerdown',
  4: 'testing',
  5: 'dormant',
  6: 'up',
} as const
export type OperState = (typeof OperState)[keyof typeof OperState]

// linux/rtnetlink.h: IFLA_EXT_MASK filters
export const RTEXT_FILTER_SKIP_STATS = 1 << 3

// linux/if_link.h: IFLA_* attributes we encode by hand (the rest go through netlink's formatters)
export const IFLA_PROTINFO = 12

// linux/if_link.h: bridge port mode (IFLA_BRPORT_MODE)
export const BRIDGE_MODE_VEB = 0
export const BRIDGE_MODE_HAIRPIN = 1

// linux/if_link.h: enum macvlan_mode
export const MacvlanMode = {
  private: 1,
  vepa: 2,
  bridge: 4,
  passthru: 8,
  source: 16,
} as const
export type MacvlanMode = keyof typeof MacvlanMode
// linux/if_link.h: IFLA_MACVLAN_* that netlink 0.3.0 does not know (Linux 5.11)
export const IFLA_MACVLAN_BC_QUEUE_LEN = 7

// linux/if_addr.h: IFA_F_* (the u32 IFA_FLAGS attribute)
export const IFA_F_SECONDARY = 0x01
export const IFA_F_NODAD = 0x02
export const IFA_F_DADFAILED = 0x08
export const IFA_F_TENTATIVE = 0x40
export const IFA_F_PERMANENT = 0x80
export const IFA_F_NOPREFIXROUTE = 0x200

// linux/rtnetlink.h: route scopes, types, protocols, tables; linux/rtnetlink.h RTNH_F_*
export const RT_SCOPE_UNIVERSE = 0
export const RT_SCOPE_SITE = 200
export const RT_SCOPE_LINK = 253
export const RT_SCOPE_HOST = 254
export const RT_SCOPE_NOWHERE = 255

export const RTN_UNSPEC = 0
export const RTN_UNICAST = 1
export const RTN_LOCAL = 2
export const RTN_BROADCAST = 3
export const RTN_MULTICAST = 5
export const RTN_BLACKHOLE = 6
export const RTN_UNREACHABLE = 7

export const RTPROT_UNSPEC = 0
export const RTPROT_KERNEL = 2
export const RTPROT_BOOT = 3
export const RTPROT_STATIC = 4

export const RT_TABLE_UNSPEC = 0
export const RT_TABLE_MAIN = 254
export const RT_TABLE_LOCAL = 255

export const RTNH_F_ONLINK = 0x4

// linux/neighbour.h: neighbour states and flags
export const NUD_INCOMPLETE = 0x01
export const NUD_REACHABLE = 0x02
export const NUD_STALE = 0x04
export const NUD_DELAY = 0x08
export const NUD_PROBE = 0x10
export const NUD_FAILED = 0x20
export const NUD_NOARP = 0x40
export const NUD_PERMANENT = 0x80

export const NTF_USE = 0x01
export const NTF_SELF = 0x02
export const NTF_MASTER = 0x04
export const NTF_PROXY = 0x08
export const NTF_EXT_LEARNED = 0x10
export const NTF_ROUTER = 0x80

/** IFNAMSIZ - 1: the longest interface name the kernel accepts. */
export const IFNAMSIZ = 16
export const MAX_IFNAME_LEN = IFNAMSIZ - 1
