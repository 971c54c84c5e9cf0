// One NETLINK_NETFILTER round trip, for nf_tables messages libnftables cannot express (attributes its
// parser has no syntax for). JS builds and parses the bytes (pkg/firewall/nft-netlink.ts); this only sends
// them on a fresh socket, in the calling thread's network namespace, and returns what the kernel answered.
#include <errno.h>
#include <linux/netlink.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vector>

#include "common.h"

namespace berth {

namespace {

struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

// How long to wait for an answer the kernel owes us. nfnetlink answers a batch synchronously, inside
// the send() call, so this only matters if that ever changes.
constexpr int kReplyTimeoutMs = 5000;

}  // namespace

// nfnlTransact(request: Uint8Array, expectedAcks: number): Buffer
// Sends `request` (one or more netlink messages, e.g. an nf_tables batch) in one send(), then reads
// replies until `expectedAcks` NLMSG_ERROR/NLMSG_DONE messages arrived, or an error reply arrived and
// nothing more is queued. Returns the concatenated replies; JS decides what they mean.
Napi::Value NfnlTransact(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!RequireArgs(info, 2, "nfnlTransact") || !IsNumberArg(info, 1, "nfnlTransact")) return env.Undefined();
  if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    Napi::TypeError::New(env, "nfnlTransact: argument 0 must be a Uint8Array").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Uint8Array req = info[0].As<Napi::Uint8Array>();
  int expected = info[1].As<Napi::Number>().Int32Value();

  Fd s{socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER)};
  if (s.fd < 0) {
    ThrowSysError(env, "socket", errno, "NETLINK_NETFILTER");
    return env.Undefined();
  }
  struct sockaddr_nl local = {};
  local.nl_family = AF_NETLINK;
  if (bind(s.fd, reinterpret_cast<struct sockaddr*>(&local), sizeof(local)) != 0) {
    ThrowSysError(env, "bind", errno, "NETLINK_NETFILTER");
    return env.Undefined();
  }
  ssize_t sent;
  do {
    sent = send(s.fd, req.Data(), req.ByteLength(), 0);
  } while (sent < 0 && errno == EINTR);
  if (sent < 0 || static_cast<size_t>(sent) != req.ByteLength()) {
    ThrowSysError(env, "send", sent < 0 ? errno : EMSGSIZE, "NETLINK_NETFILTER");
    return env.Undefined();
  }

  std::vector<unsigned char> out;
  std::vector<unsigned char> buf(65536);
  int acks = 0;
  bool failed = false;
  while (acks < expected) {
    struct pollfd p = {s.fd, POLLIN, 0};
    int rc = poll(&p, 1, failed ? 0 : kReplyTimeoutMs);
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0) {
      ThrowSysError(env, "poll", errno, "NETLINK_NETFILTER");
      return env.Undefined();
    }
    if (rc == 0) {
      if (failed) break;
      ThrowSysError(env, "recv", ETIMEDOUT, "NETLINK_NETFILTER", "no answer from the kernel");
      return env.Undefined();
    }
    ssize_t n = recv(s.fd, buf.data(), buf.size(), MSG_DONTWAIT);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0) {
      ThrowSysError(env, "recv", errno, "NETLINK_NETFILTER");
      return env.Undefined();
    }
    out.insert(out.end(), buf.begin(), buf.begin() + n);
    int len = static_cast<int>(n);
    for (struct nlmsghdr* h = reinterpret_cast<struct nlmsghdr*>(buf.data()); NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
      if (h->nlmsg_type == NLMSG_DONE) acks++;
      if (h->nlmsg_type != NLMSG_ERROR) continue;
      acks++;
      if (h->nlmsg_len >= NLMSG_LENGTH(sizeof(struct nlmsgerr)) &&
          reinterpret_cast<struct nlmsgerr*>(NLMSG_DATA(h))->error != 0)
        failed = true;
    }
  }
  return Napi::Buffer<unsigned char>::Copy(env, out.data(), out.size());
}

}  // namespace berth
