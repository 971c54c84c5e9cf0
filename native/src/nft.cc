// libnftables: one nft_run_cmd_from_buffer call applies a whole script as one atomic transaction.
// Output and errors are buffered by libnftables and returned to JS, never printed.
#include <errno.h>
#include <nftables/libnftables.h>

#include <memory>

#include "common.h"

namespace berth {

namespace {
struct CtxDeleter {
  void operator()(nft_ctx* ctx) const { nft_ctx_free(ctx); }
};
}  // namespace

Napi::Value NftRun(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!RequireArgs(info, 2, "nftRun") || !IsStringArg(info, 0, "nftRun")) return env.Undefined();
  std::string script = info[0].As<Napi::String>();
  bool json = info[1].ToBoolean();

  std::unique_ptr<nft_ctx, CtxDeleter> ctx(nft_ctx_new(NFT_CTX_DEFAULT));
  if (!ctx) {
    ThrowSysError(env, "nft_ctx_new", ENOMEM);
    return env.Undefined();
  }
  unsigned int flags = NFT_CTX_OUTPUT_HANDLE;
  if (json) flags |= NFT_CTX_OUTPUT_JSON;
  nft_ctx_output_set_flags(ctx.get(), flags);
  if (nft_ctx_buffer_output(ctx.get()) != 0 || nft_ctx_buffer_error(ctx.get()) != 0) {
    ThrowSysError(env, "nft_ctx_buffer_output", ENOMEM);
    return env.Undefined();
  }
  int rc = nft_run_cmd_from_buffer(ctx.get(), script.c_str());
  const char* out = nft_ctx_get_output_buffer(ctx.get());
  const char* err = nft_ctx_get_error_buffer(ctx.get());
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
