// Module init and the error bridge. Everything else is in sys.cc (syscalls), nft.cc (libnftables) and
// nfnl.cc (raw nf_tables netlink).
#include "common.h"

namespace berth {

void ThrowSysError(Napi::Env env, const char* syscall, int err, const std::string& path,
                   const std::string& detail) {
  AddonData* data = env.GetInstanceData<AddonData>();
  if (data == nullptr || data->sysError.IsEmpty()) {
    Napi::Error::New(env, std::string(syscall) + " " + path + ": errno " + std::to_string(err))
        .ThrowAsJavaScriptException();
    return;
  }
  std::vector<napi_value> args = {Napi::String::New(env, syscall), Napi::Number::New(env, err)};
  args.push_back(path.empty() ? env.Undefined() : Napi::String::New(env, path));
  args.push_back(detail.empty() ? env.Undefined() : Napi::String::New(env, detail));
  Napi::Value e = data->sysError.New(args);
  // If the constructor itself threw, that exception is already pending: don't throw twice.
  if (env.IsExceptionPending()) return;
  Napi::Error(env, e).ThrowAsJavaScriptException();
}

bool RequireArgs(const Napi::CallbackInfo& info, size_t n, const char* fn) {
  if (info.Length() < n) {
    Napi::TypeError::New(info.Env(), std::string(fn) + ": expected " + std::to_string(n) + " arguments")
        .ThrowAsJavaScriptException();
    return false;
  }
  return true;
}

bool IsStringArg(const Napi::CallbackInfo& info, size_t i, const char* fn) {
  if (!info[i].IsString()) {
    Napi::TypeError::New(info.Env(), std::string(fn) + ": argument " + std::to_string(i) + " must be a string")
        .ThrowAsJavaScriptException();
    return false;
  }
  return true;
}

bool IsNumberArg(const Napi::CallbackInfo& info, size_t i, const char* fn) {
  if (!info[i].IsNumber()) {
    Napi::TypeError::New(info.Env(), std::string(fn) + ": argument " + std::to_string(i) + " must be a number")
        .ThrowAsJavaScriptException();
    return false;
  }
  return true;
}

static Napi::Value Init(const Napi::CallbackInfo& info) {
  if (!RequireArgs(info, 1, "init")) return info.Env().Undefined();
  if (!info[0].IsFunction()) {
    Napi::TypeError::New(info.Env(), "init: argument must be the SysError class").ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  AddonData* data = info.Env().GetInstanceData<AddonData>();
  data->sysError = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData(new AddonData());
  exports.Set("init", Napi::Function::New(env, Init, "init"));
  exports.Set("setns", Napi::Function::New(env, Setns, "setns"));
  exports.Set("unshare", Napi::Function::New(env, Unshare, "unshare"));
  exports.Set("mount", Napi::Function::New(env, Mount, "mount"));
  exports.Set("umount2", Napi::Function::New(env, Umount2, "umount2"));
  exports.Set("fstatfsType", Napi::Function::New(env, FstatfsType, "fstatfsType"));
  exports.Set("flock", Napi::Function::New(env, Flock, "flock"));
  exports.Set("nftRun", Napi::Function::New(env, NftRun, "nftRun"));
  exports.Set("nfnlTransact", Napi::Function::New(env, NfnlTransact, "nfnlTransact"));
  exports.Set("peerCred", Napi::Function::New(env, PeerCred, "peerCred"));
  exports.Set("netnsCookie", Napi::Function::New(env, NetnsCookie, "netnsCookie"));
  return exports;
}

}  // namespace berth

static Napi::Object InitAll(Napi::Env env, Napi::Object exports) { return berth::InitModule(env, exports); }
NODE_API_MODULE(berth_native, InitAll)
