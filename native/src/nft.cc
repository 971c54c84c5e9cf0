// libnftables: one nft_run_cmd_from_buffer call applies a whole script as one atomic transaction.
// Output and errors are buffered by libnftables and returned to JS, never printed.
// The library (and the half-dozen libraries it pulls in) is dlopen'ed on first use, so plugins that
// never touch nftables do not pay for loading it at start-up.
#include <dlfcn.h>
#include <errno.h>
#include <nftables/libnftables.h>

#include <memory>

#include "common.h"

namespace berth {

namespace {

struct Nft {
  decltype(&nft_ctx_new) ctx_new;
  decltype(&nft_ctx_free) ctx_free;
  decltype(&nft_ctx_output_set_flags) output_set_flags;
  decltype(&nft_ctx_buffer_output) buffer_output;
  decltype(&nft_ctx_buffer_error) buffer_error;
  decltype(&nft_ctx_get_output_buffer) get_output_buffer;
  decltype(&nft_ctx_get_error_buffer) get_error_buffer;
  decltype(&nft_run_cmd_from_buffer) run_cmd_from_buffer;
};

// Returns the resolved library, or nullptr with `why` set. Loaded once per process.
const Nft* LoadNft(std::string& why) {
  static Nft nft;
  static bool loaded = false;
  static std::string error;
  if (loaded) return &nft;
  if (!error.empty()) {
    why = error;
    return nullptr;
  }
  void* h = dlopen("libnftables.so.1", RTLD_NOW | RTLD_LOCAL);
  if (h == nullptr) {
    const char* e = dlerror();
    error = std::string("cannot load libnftables.so.1 (install Debian's libnftables1): ") + (e ? e : "");
    why = error;
    return nullptr;
  }
  bool ok = true;
  auto sym = [&](const char* name) {
    void* p = dlsym(h, name);
    if (p == nullptr) ok = false;
    return p;
  };
  nft.ctx_new = reinterpret_cast<decltype(nft.ctx_new)>(sym("nft_ctx_new"));
  nft.ctx_free = reinterpret_cast<decltype(nft.ctx_free)>(sym("nft_ctx_free"));
  nft.output_set_flags = reinterpret_cast<decltype(nft.output_set_flags)>(sym("nft_ctx_output_set_flags"));
  nft.buffer_output = reinterpret_cast<decltype(nft.buffer_output)>(sym("nft_ctx_buffer_output"));
  nft.buffer_error = reinterpret_cast<decltype(nft.buffer_error)>(sym("nft_ctx_buffer_error"));
  nft.get_output_buffer = reinterpret_cast<decltype(nft.get_output_buffer)>(sym("nft_ctx_get_output_buffer"));
  nft.get_error_buffer = reinterpret_cast<decltype(nft.get_error_buffer)>(sym("nft_ctx_get_error_buffer"));
  nft.run_cmd_from_buffer = reinterpret_cast<decltype(nft.run_cmd_from_buffer)>(sym("nft_run_cmd_from_buffer"));
  if (!ok) {
    error = "libnftables.so.1 lacks an expected symbol (version too old?)";
    why = error;
    return nullptr;
  }
  loaded = true;
  return &nft;
}

}  // namespace

Napi::Value NftRun(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!RequireArgs(info, 2, "nftRun") || !IsStringArg(info, 0, "nftRun")) return env.Undefined();
  std::string script = info[0].As<Napi::String>();
  bool json = info[1].ToBoolean();

  std::string why;
  const Nft* nft = LoadNft(why);
  if (nft == nullptr) {
    ThrowSysError(env, "dlopen", ENOENT, "libnftables.so.1", why);
    return env.Undefined();
  }
  auto deleter = [nft](nft_ctx* c) { nft->ctx_free(c); };
  std::unique_ptr<nft_ctx, decltype(deleter)> ctx(nft->ctx_new(NFT_CTX_DEFAULT), deleter);
  if (!ctx) {
    ThrowSysError(env, "nft_ctx_new", ENOMEM);
    return env.Undefined();
  }
  unsigned int flags = NFT_CTX_OUTPUT_HANDLE;
  if (json) flags |= NFT_CTX_OUTPUT_JSON;
  nft->output_set_flags(ctx.get(), flags);
  if (nft->buffer_output(ctx.get()) != 0 || nft->buffer_error(ctx.get()) != 0) {
    ThrowSysError(env, "nft_ctx_buffer_output", ENOMEM);
    return env.Undefined();
  }
  int rc = nft->run_cmd_from_buffer(ctx.get(), script.c_str());
  const char* out = nft->get_output_buffer(ctx.get());
  const char* err = nft->get_error_buffer(ctx.get());
  if (rc != 0) {
    ThrowSysError(env, "nft", EINVAL, "", err != nullptr ? err : "");
    return env.Undefined();
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("output", Napi::String::New(env, out != nullptr ? out : ""));
  result.Set("error", Napi::String::New(env, err != nullptr ? err : ""));
  return result;
}

}  // namespace berth
