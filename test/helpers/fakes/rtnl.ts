// A recording fake Rtnl for unit tests of what pkg/link sends (no kernel): every request is kept in
// `sent`, and `reply` decides the answer (throw to simulate an NLMSG_ERROR).
import type { Rtnl, RtnlRequest, RtMessage } from '../../../pkg/link/rtnl.js'
import type { Attr } from '../nlattr.js'

export class FakeRtnl implements Rtnl {
  readonly netns = 'fake'
  readonly sent: RtnlRequest[] = []
  constructor(private readonly reply: (req: RtnlRequest) => RtMessage[] = () => []) {}
  request(req: RtnlRequest): Promise<RtMessage[]> {
    this.sent.push(req)
    try {
      return Promise.resolve(this.reply(req))
    } catch (e) {
      return Promise.reject(e)
    }
  }
  close(): void {}
}

/** A request's body as one buffer. */
export const body = (r: RtnlRequest | undefined): Buffer => Buffer.concat((r?.body ?? []).map((b) => Buffer.from(b)))

/** The first attribute of `type` in a decoded list. */
export const find = (list: Attr[], type: number): Attr | undefined => list.find((a) => a.type === type)
