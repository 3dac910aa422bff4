#include "errors.h"

#include <uv.h>

#include <cstdlib>

namespace nm {

namespace {

// libuv error codes are -errno on Unix, so errno values map straight across.
int AsUvError(int err) { return err > 0 ? -err : err; }

template <class E>
E WithCode(E error, const char* code) {
  error.Value().Set("code", code);
  return error;
}

}  // namespace

const char* ErrnoName(int err) { return uv_err_name(AsUvError(err)); }

Napi::Error ErrnoException(Napi::Env env, int err, const char* syscall,
                           const std::string& address, int port) {
  const int uverr = AsUvError(err);
  const char* code = uv_err_name(uverr);
  std::string message = std::string(syscall) + " " + code + ": " + uv_strerror(uverr);
  if (!address.empty()) {
    message += " " + address;
    if (port >= 0) message += ":" + std::to_string(port);
  }
  Napi::Error error = Napi::Error::New(env, message);
  Napi::Object obj = error.Value();
  obj.Set("errno", uverr);
  obj.Set("code", code);
  obj.Set("syscall", syscall);
  if (!address.empty()) obj.Set("address", address);
  if (port >= 0) obj.Set("port", port);
  return error;
}

Napi::Error CodedError(Napi::Env env, const char* code, const std::string& message) {
  return WithCode(Napi::Error::New(env, message), code);
}

Napi::TypeError CodedTypeError(Napi::Env env, const char* code, const std::string& message) {
  return WithCode(Napi::TypeError::New(env, message), code);
}

Napi::RangeError CodedRangeError(Napi::Env env, const char* code, const std::string& message) {
  return WithCode(Napi::RangeError::New(env, message), code);
}

}  // namespace nm
