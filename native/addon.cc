#include "addon.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  nm::InitServers(env, exports);
  nm::InitLoadgen(env, exports);
  nm::InitSys(env, exports);
  nm::InitHttpProbe(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(netmodels, Init)
