// The contract of the Node-API addon (native/src). The real addon and test fakes both implement it.
// The addon wraps a handful of syscalls and libnftables; JS owns file descriptors and error classes.

export interface NftOutput {
  /** stdout of the command (JSON when `json` was set) */
  output: string
  /** warnings libnftables printed on success */
  error: string
}

export interface NativeBinding {
  /** Hands the JS SysError class to C++ so thrown errors are ours (better-sqlite3 style). */
  init(sysError: new (syscall: string, errno: number, path?: string, detail?: string) => Error): void
  /** setns(2) on the calling (main) thread. nstype: CLONE_NEWNET etc., or 0. */
  setns(fd: number, nstype: number): void
  /** unshare(2) on the calling thread. */
  unshare(flags: number): void
  /** mount(2). source/fstype/data may be empty strings for "none". */
  mount(source: string, target: string, fstype: string, flags: number, data: string): void
  /** umount2(2). */
  umount2(target: string, flags: number): void
  /** fstatfs(2).f_type of an open fd, to tell nsfs/proc from a plain file. */
  fstatfsType(fd: number): number
  /** flock(2). Throws SysError EWOULDBLOCK when LOCK_NB and held. */
  flock(fd: number, op: number): void
  /** One libnftables run (nft_run_cmd_from_buffer): a whole script is one atomic transaction.
   *  Throws SysError('nft', EINVAL, undefined, <libnftables error text>) on failure. */
  nftRun(script: string, json: boolean): NftOutput
  /** One NETLINK_NETFILTER round trip in the calling thread's namespace: sends `request` in one send(),
   *  returns the replies once `expectedAcks` NLMSG_ERROR/NLMSG_DONE arrived (or an error and nothing more).
   *  Throws SysError for socket failures only; the kernel's answers are in the returned bytes. */
  nfnlTransact(request: Uint8Array, expectedAcks: number): Uint8Array
  /** getsockopt(SO_PEERCRED) of a connected unix socket: the peer's pid, uid and gid at connect(). */
  peerCred(fd: number): { pid: number; uid: number; gid: number }
  /** SO_NETNS_COOKIE of the calling thread's network namespace, a decimal u64 (never reused, unlike the inode) */
  netnsCookie(): string
}

export const CLONE_NEWNS = 0x00020000
export const CLONE_NEWUTS = 0x04000000
export const CLONE_NEWIPC = 0x08000000
export const CLONE_NEWPID = 0x20000000
export const CLONE_NEWNET = 0x40000000

export const MS_RDONLY = 0x1
export const MS_BIND = 0x1000
export const MS_REC = 0x4000
export const MS_PRIVATE = 1 << 18
export const MS_SHARED = 1 << 20
export const MNT_DETACH = 0x2

export const LOCK_SH = 1
export const LOCK_EX = 2
export const LOCK_NB = 4
export const LOCK_UN = 8

export const NSFS_MAGIC = 0x6e736673
export const PROC_SUPER_MAGIC = 0x9fa0
