// The N-API face of sys: argument unpacking, results, and -errno -> Error.
// lib/sys.ts validates arguments Node-style first; the checks here only keep
// a direct call on the raw binding from crashing the process.
#include <sys/epoll.h>
#include <sys/select.h>

#include <memory>
#include <string>
#include <vector>

#include "addon.h"
#include "errors.h"
#include "sys/async_wait_wrap.h"
#include "sys/sys_wrap.h"
#include "sys/syscalls.h"

namespace nm {

namespace {

[[noreturn]] void ThrowType(Napi::Env env, const char* name, const char* expected) {
  throw CodedTypeError(env, "ERR_INVALID_ARG_TYPE",
                       std::string("The \"") + name + "\" argument must be " + expected);
}

}  // namespace

namespace sys_wrap {

int IntArg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsNumber()) ThrowType(info.Env(), name, "of type number");
  return info[i].As<Napi::Number>().Int32Value();
}

uint32_t Uint32Arg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsNumber()) ThrowType(info.Env(), name, "of type number");
  return info[i].As<Napi::Number>().Uint32Value();
}

Napi::Function FunctionArg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsFunction()) ThrowType(info.Env(), name, "of type function");
  return info[i].As<Napi::Function>();
}

int Check(Napi::Env env, int rc, const char* syscall) {
  if (rc < 0) throw ErrnoException(env, rc, syscall);
  return rc;
}

}  // namespace sys_wrap

namespace {

using sys::PeerAddress;
using sys_wrap::Check;
using sys_wrap::FunctionArg;
using sys_wrap::IntArg;

bool BoolArg(const Napi::CallbackInfo& info, size_t i) {
  return info[i].IsBoolean() && info[i].As<Napi::Boolean>().Value();
}

std::string StringArg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsString()) ThrowType(info.Env(), name, "of type string");
  return info[i].As<Napi::String>().Utf8Value();
}

Napi::Uint8Array BytesArg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsTypedArray() ||
      info[i].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    ThrowType(info.Env(), name, "an instance of Buffer or Uint8Array");
  }
  return info[i].As<Napi::Uint8Array>();
}

std::vector<int> FdListArg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsArray()) ThrowType(info.Env(), name, "an instance of Array");
  Napi::Array array = info[i].As<Napi::Array>();
  std::vector<int> fds;
  fds.reserve(array.Length());
  for (uint32_t k = 0; k < array.Length(); k++) {
    Napi::Value v = array[k];
    if (!v.IsNumber()) ThrowType(info.Env(), name, "an array of numbers");
    int fd = v.As<Napi::Number>().Int32Value();
    // The one check that must never be skipped: FD_SET past the end of an
    // fd_set writes over the stack.
    if (fd < 0 || fd >= FD_SETSIZE) {
      throw CodedRangeError(info.Env(), "ERR_OUT_OF_RANGE",
                            std::string("The value of \"") + name + "\" is out of range. select() " +
                                "can only watch fds >= 0 && < FD_SETSIZE (" +
                                std::to_string(FD_SETSIZE) + "). Received " + std::to_string(fd));
    }
    fds.push_back(fd);
  }
  return fds;
}

Napi::Value AddressObject(Napi::Env env, const PeerAddress& peer, int fd = -1) {
  Napi::Object obj = Napi::Object::New(env);
  if (fd >= 0) obj.Set("fd", fd);
  obj.Set("address", peer.address);
  obj.Set("port", peer.port);
  obj.Set("family", peer.family == 6 ? "IPv6" : peer.family == 4 ? "IPv4" : "unix");
  return obj;
}

Napi::Value FdPair(Napi::Env env, const int fds[2]) {
  Napi::Array pair = Napi::Array::New(env, 2);
  pair.Set(0u, fds[0]);
  pair.Set(1u, fds[1]);
  return pair;
}

Napi::Value IntList(Napi::Env env, const std::vector<int>& list) {
  Napi::Array array = Napi::Array::New(env, list.size());
  for (size_t k = 0; k < list.size(); k++) array.Set(static_cast<uint32_t>(k), list[k]);
  return array;
}

// --- sockets -------------------------------------------------------------

Napi::Value Socket(const Napi::CallbackInfo& info) {
  int family = IntArg(info, 0, "family");
  int type = IntArg(info, 1, "type");
  return Napi::Number::New(info.Env(), Check(info.Env(), sys::Socket(family, type, BoolArg(info, 2)), "socket"));
}

Napi::Value Bind(const Napi::CallbackInfo& info) {
  int fd = IntArg(info, 0, "fd");
  std::string host = StringArg(info, 1, "address");
  int port = IntArg(info, 2, "port");
  int rc = sys::Bind(fd, host, port);
  if (rc < 0) throw ErrnoException(info.Env(), rc, "bind", host, port);
  return info.Env().Undefined();
}

Napi::Value Listen(const Napi::CallbackInfo& info) {
  Check(info.Env(), sys::Listen(IntArg(info, 0, "fd"), IntArg(info, 1, "backlog")), "listen");
  return info.Env().Undefined();
}

Napi::Value Accept(const Napi::CallbackInfo& info) {
  PeerAddress peer;
  int fd = sys::Accept(IntArg(info, 0, "fd"), BoolArg(info, 1), &peer);
  if (fd == -EAGAIN) return info.Env().Null();
  Check(info.Env(), fd, "accept");
  return AddressObject(info.Env(), peer, fd);
}

Napi::Value Connect(const Napi::CallbackInfo& info) {
  int fd = IntArg(info, 0, "fd");
  std::string host = StringArg(info, 1, "address");
  int port = IntArg(info, 2, "port");
  int rc = sys::Connect(fd, host, port);
  if (rc < 0) throw ErrnoException(info.Env(), rc, "connect", host, port);
  return Napi::Boolean::New(info.Env(), rc == 0);
}

Napi::Value GetSockName(const Napi::CallbackInfo& info) {
  PeerAddress out;
  Check(info.Env(), sys::GetSockName(IntArg(info, 0, "fd"), false, &out), "getsockname");
  return AddressObject(info.Env(), out);
}

Napi::Value GetPeerName(const Napi::CallbackInfo& info) {
  PeerAddress out;
  Check(info.Env(), sys::GetSockName(IntArg(info, 0, "fd"), true, &out), "getpeername");
  return AddressObject(info.Env(), out);
}

// recv/send/read/write: bytes moved, or null for EAGAIN on a non-blocking fd.
// `Op` is one of the sys:: transfer calls (void* for reads, const void* for writes).
template <auto Op>
Napi::Value Transfer(const Napi::CallbackInfo& info, const char* syscall) {
  int fd = IntArg(info, 0, "fd");
  Napi::Uint8Array buf = BytesArg(info, 1, "buffer");
  ssize_t n = Op(fd, buf.Data(), buf.ByteLength());
  if (n == -EAGAIN) return info.Env().Null();
  if (n < 0) throw ErrnoException(info.Env(), static_cast<int>(n), syscall);
  return Napi::Number::New(info.Env(), static_cast<double>(n));
}

Napi::Value Recv(const Napi::CallbackInfo& info) { return Transfer<sys::Recv>(info, "recv"); }
Napi::Value Read(const Napi::CallbackInfo& info) { return Transfer<sys::Read>(info, "read"); }
Napi::Value Send(const Napi::CallbackInfo& info) { return Transfer<sys::Send>(info, "send"); }
Napi::Value Write(const Napi::CallbackInfo& info) { return Transfer<sys::Write>(info, "write"); }

Napi::Value Shutdown(const Napi::CallbackInfo& info) {
  Check(info.Env(), sys::Shutdown(IntArg(info, 0, "fd"), IntArg(info, 1, "how")), "shutdown");
  return info.Env().Undefined();
}

Napi::Value Close(const Napi::CallbackInfo& info) {
  Check(info.Env(), sys::Close(IntArg(info, 0, "fd")), "close");
  return info.Env().Undefined();
}

Napi::Value SetNonBlocking(const Napi::CallbackInfo& info) {
  Check(info.Env(), sys::SetNonBlocking(IntArg(info, 0, "fd"), BoolArg(info, 1)), "fcntl");
  return info.Env().Undefined();
}

Napi::Value SocketPair(const Napi::CallbackInfo& info) {
  int fds[2];
  Check(info.Env(), sys::SocketPair(BoolArg(info, 0), fds), "socketpair");
  return FdPair(info.Env(), fds);
}

Napi::Value Pipe(const Napi::CallbackInfo& info) {
  int fds[2];
  Check(info.Env(), sys::Pipe(BoolArg(info, 0), fds), "pipe2");
  return FdPair(info.Env(), fds);
}

Napi::Value SetSockOpt(const Napi::CallbackInfo& info) {
  int fd = IntArg(info, 0, "fd");
  std::string name = StringArg(info, 1, "option");
  Check(info.Env(), sys::SetSockOpt(fd, name, IntArg(info, 2, "value")), "setsockopt");
  return info.Env().Undefined();
}

Napi::Value GetSockOpt(const Napi::CallbackInfo& info) {
  int fd = IntArg(info, 0, "fd");
  std::string name = StringArg(info, 1, "option");
  int value = 0;
  Check(info.Env(), sys::GetSockOpt(fd, name, &value), "getsockopt");
  return Napi::Number::New(info.Env(), value);
}

// --- select and poll -----------------------------------------------------

struct SelectSets {
  std::vector<int> read, write, except;

  static SelectSets FromArgs(const Napi::CallbackInfo& info) {
    return SelectSets{FdListArg(info, 0, "readFds"), FdListArg(info, 1, "writeFds"),
                      FdListArg(info, 2, "exceptFds")};
  }
  Napi::Value ToJs(Napi::Env env) const {
    Napi::Object obj = Napi::Object::New(env);
    obj.Set("readable", IntList(env, read));
    obj.Set("writable", IntList(env, write));
    obj.Set("exceptional", IntList(env, except));
    return obj;
  }
};

Napi::Value Select(const Napi::CallbackInfo& info) {
  SelectSets sets = SelectSets::FromArgs(info);
  int timeout = IntArg(info, 3, "timeoutMs");
  Check(info.Env(), sys::Select(&sets.read, &sets.write, &sets.except, timeout, -1), "select");
  return sets.ToJs(info.Env());
}

class SelectJob : public sys::WaitJob {
 public:
  SelectJob(SelectSets sets, int timeout) : sets_(std::move(sets)), timeout_(timeout) {}
  int Run(int cancel_fd) override {
    // The wait's own eventfd goes into the read set too. It is the lowest
    // free fd, so when it is >= FD_SETSIZE no fd below the limit is free.
    if (cancel_fd >= FD_SETSIZE) return -EMFILE;
    return sys::Select(&sets_.read, &sets_.write, &sets_.except, timeout_, cancel_fd);
  }
  Napi::Value Result(Napi::Env env, int) override { return sets_.ToJs(env); }
  const char* syscall() const override { return "select"; }

 private:
  SelectSets sets_;
  int timeout_;
};

Napi::Value SelectAsync(const Napi::CallbackInfo& info) {
  SelectSets sets = SelectSets::FromArgs(info);
  int timeout = IntArg(info, 3, "timeoutMs");
  Napi::Function callback = FunctionArg(info, 4, "callback");
  return sys::StartWait(info.Env(), std::make_unique<SelectJob>(std::move(sets), timeout), callback);
}

std::vector<pollfd> PollArgs(const Napi::CallbackInfo& info) {
  if (!info[0].IsArray() || !info[1].IsArray()) ThrowType(info.Env(), "entries", "an instance of Array");
  Napi::Array fds = info[0].As<Napi::Array>();
  Napi::Array events = info[1].As<Napi::Array>();
  if (fds.Length() != events.Length()) ThrowType(info.Env(), "entries", "two arrays of one length");
  std::vector<pollfd> out(fds.Length());
  for (uint32_t k = 0; k < fds.Length(); k++) {
    Napi::Value fd = fds[k];
    Napi::Value ev = events[k];
    if (!fd.IsNumber() || !ev.IsNumber()) ThrowType(info.Env(), "entries", "numbers");
    out[k].fd = fd.As<Napi::Number>().Int32Value();
    out[k].events = static_cast<short>(ev.As<Napi::Number>().Uint32Value());
    out[k].revents = 0;
  }
  return out;
}

Napi::Value Revents(Napi::Env env, const std::vector<pollfd>& fds) {
  Napi::Array array = Napi::Array::New(env, fds.size());
  for (size_t k = 0; k < fds.size(); k++) {
    array.Set(static_cast<uint32_t>(k), static_cast<uint32_t>(static_cast<unsigned short>(fds[k].revents)));
  }
  return array;
}

Napi::Value Poll(const Napi::CallbackInfo& info) {
  std::vector<pollfd> fds = PollArgs(info);
  Check(info.Env(), sys::Poll(&fds, IntArg(info, 2, "timeoutMs"), -1), "poll");
  return Revents(info.Env(), fds);
}

class PollJob : public sys::WaitJob {
 public:
  PollJob(std::vector<pollfd> fds, int timeout) : fds_(std::move(fds)), timeout_(timeout) {}
  int Run(int cancel_fd) override { return sys::Poll(&fds_, timeout_, cancel_fd); }
  Napi::Value Result(Napi::Env env, int) override { return Revents(env, fds_); }
  const char* syscall() const override { return "poll"; }

 private:
  std::vector<pollfd> fds_;
  int timeout_;
};

Napi::Value PollAsync(const Napi::CallbackInfo& info) {
  std::vector<pollfd> fds = PollArgs(info);
  int timeout = IntArg(info, 2, "timeoutMs");
  Napi::Function callback = FunctionArg(info, 3, "callback");
  return sys::StartWait(info.Env(), std::make_unique<PollJob>(std::move(fds), timeout), callback);
}

Napi::Object Constants(Napi::Env env) {
  Napi::Object c = Napi::Object::New(env);
  auto set = [&](const char* name, double value) { c.Set(name, Napi::Number::New(env, value)); };
  set("EPOLLIN", EPOLLIN);
  set("EPOLLOUT", EPOLLOUT);
  set("EPOLLPRI", EPOLLPRI);
  set("EPOLLERR", EPOLLERR);
  set("EPOLLHUP", EPOLLHUP);
  set("EPOLLRDHUP", EPOLLRDHUP);
  set("EPOLLET", static_cast<uint32_t>(EPOLLET));
  set("EPOLLONESHOT", static_cast<uint32_t>(EPOLLONESHOT));
  set("EPOLLEXCLUSIVE", static_cast<uint32_t>(EPOLLEXCLUSIVE));
  set("POLLIN", POLLIN);
  set("POLLPRI", POLLPRI);
  set("POLLOUT", POLLOUT);
  set("POLLERR", POLLERR);
  set("POLLHUP", POLLHUP);
  set("POLLNVAL", POLLNVAL);
  set("POLLRDHUP", POLLRDHUP);
  set("FD_SETSIZE", FD_SETSIZE);
  set("AF_INET", AF_INET);
  set("AF_INET6", AF_INET6);
  set("SOCK_STREAM", SOCK_STREAM);
  set("SOCK_DGRAM", SOCK_DGRAM);
  set("SHUT_RD", SHUT_RD);
  set("SHUT_WR", SHUT_WR);
  set("SHUT_RDWR", SHUT_RDWR);
  set("kAborted", sys::kAborted);
  set("kClosed", sys::kClosed);
  return c;
}

}  // namespace

void InitSys(Napi::Env env, Napi::Object exports) {
  Napi::Object s = Napi::Object::New(env);
  auto fn = [&](const char* name, Napi::Function::Callback cb) { s.Set(name, Napi::Function::New(env, cb, name)); };
  fn("socket", Socket);
  fn("bind", Bind);
  fn("listen", Listen);
  fn("accept", Accept);
  fn("connect", Connect);
  fn("getsockname", GetSockName);
  fn("getpeername", GetPeerName);
  fn("recv", Recv);
  fn("send", Send);
  fn("read", Read);
  fn("write", Write);
  fn("shutdown", Shutdown);
  fn("close", Close);
  fn("setNonBlocking", SetNonBlocking);
  fn("socketpair", SocketPair);
  fn("pipe", Pipe);
  fn("setsockopt", SetSockOpt);
  fn("getsockopt", GetSockOpt);
  fn("select", Select);
  fn("selectAsync", SelectAsync);
  fn("poll", Poll);
  fn("pollAsync", PollAsync);
  s.Set("Epoll", sys_wrap::DefineEpoll(env));
  s.Set("constants", Constants(env));
  exports.Set("sys", s);
}

}  // namespace nm
