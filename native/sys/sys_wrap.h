// What the sys bindings share across their files: argument unpacking that
// throws Node-style ERR_INVALID_ARG_TYPE errors, the -errno check, and the
// Epoll class that sys_wrap.cc registers.
#pragma once

#include <napi.h>

#include <cstddef>
#include <cstdint>

namespace nm {
namespace sys_wrap {

int IntArg(const Napi::CallbackInfo& info, size_t i, const char* name);
uint32_t Uint32Arg(const Napi::CallbackInfo& info, size_t i, const char* name);
Napi::Function FunctionArg(const Napi::CallbackInfo& info, size_t i, const char* name);

// Throws the error for a -errno result, or returns it unchanged.
int Check(Napi::Env env, int rc, const char* syscall);

// The sys.Epoll constructor (epoll_wrap.cc).
Napi::Function DefineEpoll(Napi::Env env);

}  // namespace sys_wrap
}  // namespace nm
