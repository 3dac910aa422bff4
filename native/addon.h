// Each part of the addon registers its own exports; addon.cc only calls them.
#pragma once

#include <napi.h>

namespace nm {

void InitServers(Napi::Env env, Napi::Object exports);  // server_wrap.cc
void InitLoadgen(Napi::Env env, Napi::Object exports);  // loadgen/loadgen_wrap.cc
void InitSys(Napi::Env env, Napi::Object exports);      // sys/sys_wrap.cc
void InitHttpProbe(Napi::Env env, Napi::Object exports);  // http_probe_wrap.cc (tests only)

}  // namespace nm
