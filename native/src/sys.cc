// Thin wrappers over namespace, mount, statfs, flock and socket syscalls (credentials, netns cookie). File
// descriptors are opened and closed by JS; these functions only act on what they are given.
#include <errno.h>
#include <sched.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cstdint>
#include <string>

#include "common.h"

namespace berth {

Napi::Value Setns(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!RequireArgs(info, 2, "setns") || !IsNumberArg(info, 0, "setns") || !IsNumberArg(info, 1, "setns"))
    return env.Undefined();
  int fd = info[0].As<Napi::Number>().Int32Value();
  int nstype = info[1].As<Napi::Number>().Int32Value();
  if (setns(fd, nstype) != 0) ThrowSysError(env, "setns", errno, "fd " + std::to_string(fd));
  return env.Undefined();
}

Napi::Value Unshare(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!RequireArgs(info, 1, "unshare") || !IsNumberArg(info, 0, "unshare")) return env.Undefined();
  if (unshare(info[0].As<Napi::Number>().Int32Value()) != 0) ThrowSysError(env, "unshare", errno);
  return env.Undefined();
}

Napi::Value Mount(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!RequireArgs(info, 5, "mount")) return env.Undefined();
  for (size_t i : {0, 1, 2, 4})
    if (!IsStringArg(info, i, "mount")) return env.Undefined();
  if (!IsNumberArg(info, 3, "mount")) return env.Undefined();
  std::string source = info[0].As<Napi::String>();
  std::string target = info[1].As<Napi::String>();
  std::string fstype = info[2].As<Napi::String>();
  unsigned long flags = static_cast<unsigned long>(info[3].As<Napi::Number>().Int64Value());
  std::string data = info[4].As<Napi::String>();
  if (mount(source.empty() ? nullptr : source.c_str(), target.c_str(), fstype.empty() ? nullptr : fstype.c_str(),
            flags, data.empty() ? nullptr : data.c_str()) != 0)
    ThrowSysError(env, "mount", errno, target);
  return env.Undefined();
}

Napi::Value Umount2(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!RequireArgs(info, 2, "umount2") || !IsStringArg(info, 0, "umount2") || !IsNumberArg(info, 1, "umount2"))
    return env.Undefined();
  std::string target = info[0].As<Napi::String>();
  if (umount2(target.c_str(), info[1].As<Napi::Number>().Int32Value()) != 0)
    ThrowSysError(env, "umount2", errno, target);
  return env.Undefined();
}

Napi::Value FstatfsType(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!RequireArgs(info, 1, "fstatfsType") || !IsNumberArg(info, 0, "fstatfsType")) return env.Undefined();
  struct statfs st;
  if (fstatfs(info[0].As<Napi::Number>().Int32Value(), &st) != 0) {
    ThrowSysError(env, "fstatfs", errno);
    return env.Undefined();
  }
  return Napi::Number::New(env, static_cast<double>(st.f_type));
}

Napi::Value Flock(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!RequireArgs(info, 2, "flock") || !IsNumberArg(info, 0, "flock") || !IsNumberArg(info, 1, "flock"))
    return env.Undefined();
  int rc;
  do {
    rc = flock(info[0].As<Napi::Number>().Int32Value(), info[1].As<Napi::Number>().Int32Value());
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) ThrowSysError(env, "flock", errno);
  return env.Undefined();
}

// getsockopt(SO_PEERCRED): who is at the other end of a unix socket, as the kernel saw it at connect().
Napi::Value PeerCred(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!RequireArgs(info, 1, "peerCred") || !IsNumberArg(info, 0, "peerCred")) return env.Undefined();
  struct ucred cred;
  socklen_t len = sizeof(cred);
  if (getsockopt(info[0].As<Napi::Number>().Int32Value(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    ThrowSysError(env, "getsockopt", errno);
    return env.Undefined();
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("pid", Napi::Number::New(env, cred.pid));
  out.Set("uid", Napi::Number::New(env, cred.uid));
  out.Set("gid", Napi::Number::New(env, cred.gid));
  return out;
}

// The calling thread's network namespace cookie (SO_NETNS_COOKIE): unlike the namespace's inode number,
// never reused while the machine runs. A decimal string: it is a u64.
Napi::Value NetnsCookie(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    ThrowSysError(env, "socket", errno);
    return env.Undefined();
  }
  uint64_t cookie = 0;
  socklen_t len = sizeof(cookie);
  int r = getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len);
  int err = errno;
  close(fd);
  if (r != 0) {
    ThrowSysError(env, "getsockopt", err);
    return env.Undefined();
  }
  return Napi::String::New(env, std::to_string(cookie));
}

}  // namespace berth
