// The one place where -errno from core/ and models/ becomes a JavaScript Error.
#pragma once

#include <napi.h>

#include <string>

namespace nm {

// A Node-style system error, shaped like the ones lib/net.js produces:
//   message  "<syscall> <CODE>: <description>[ <address>[:<port>]]"
//   code     "EADDRINUSE"      errno  -98 (negative, as in Node)
//   syscall  "listen"          address / port when given (port < 0: omitted)
// `err` may be given as errno or -errno.
Napi::Error ErrnoException(Napi::Env env, int err, const char* syscall,
                           const std::string& address = std::string(),
                           int port = -1);

// Plain Error / TypeError / RangeError carrying a Node-style `code`.
Napi::Error CodedError(Napi::Env env, const char* code, const std::string& message);
Napi::TypeError CodedTypeError(Napi::Env env, const char* code, const std::string& message);
Napi::RangeError CodedRangeError(Napi::Env env, const char* code, const std::string& message);

// The libuv name of an errno ("EADDRINUSE"), as Node reports it.
const char* ErrnoName(int err);

}  // namespace nm
