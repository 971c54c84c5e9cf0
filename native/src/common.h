// Shared helpers for the addon: argument checks and throwing the JS SysError class handed over by init().
#pragma once
#include <napi.h>
#include <string>

namespace berth {

struct AddonData {
  Napi::FunctionReference sysError;
};

// Throws the JS SysError(syscall, errno, path, detail), or a plain Error if init() was not called.
void ThrowSysError(Napi::Env env, const char* syscall, int err, const std::string& path = "",
                   const std::string& detail = "");

bool RequireArgs(const Napi::CallbackInfo& info, size_t n, const char* fn);
bool IsStringArg(const Napi::CallbackInfo& info, size_t i, const char* fn);
bool IsNumberArg(const Napi::CallbackInfo& info, size_t i, const char* fn);

Napi::Value Setns(const Napi::CallbackInfo& info);
Napi::Value Unshare(const Napi::CallbackInfo& info);
Napi::Value Mount(const Napi::CallbackInfo& info);
Napi::Value Umount2(const Napi::CallbackInfo& info);
Napi::Value FstatfsType(const Napi::CallbackInfo& info);
Napi::Value Flock(const Napi::CallbackInfo& info);
Napi::Value NftRun(const Napi::CallbackInfo& info);
Napi::Value NfnlTransact(const Napi::CallbackInfo& info);
Napi::Value PeerCred(const Napi::CallbackInfo& info);
Napi::Value NetnsCookie(const Napi::CallbackInfo& info);

}  // namespace berth
