// The one mapping from anything thrown to a CniError; used only by pkg/skel.
import { CniCode, CniError } from './cni-error.js'
import { describe } from './describe.js'
import { errorCode } from './sys-error.js'

const tryAgain = new Set(['EAGAIN', 'EWOULDBLOCK', 'EBUSY', 'ETXTBSY', 'EINTR'])

export function toCniError(e: unknown): CniError {
  if (e instanceof CniError) return e
  const code = errorCode(e)
  if (code !== undefined && tryAgain.has(code)) {
    return new CniError(CniCode.TryAgainLater, `temporarily unavailable, try again later: ${describe(e)}`, undefined, { cause: e })
  }
  if (code === 'EACCES' || code === 'EPERM') {
    return new CniError(CniCode.Internal, `permission denied (berth plugins need root with CAP_NET_ADMIN): ${describe(e)}`, undefined, { cause: e })
  }
  return new CniError(CniCode.Internal, e instanceof Error ? e.message : String(e), describe(e), { cause: e })
}
