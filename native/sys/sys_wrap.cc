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
#include "sys/syscalls.h"

namespace nm {

namespace {

using sys::PeerAddress;

[[noreturn]] void ThrowType(Napi::Env env, const char* name, const char* expected) {
  throw CodedTypeError(env, "ERR_INVALID_ARG_TYPE",
                       std::string("The \"") + name + "\" argument must be " + expected);
}

int IntArg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsNumber()) ThrowType(info.Env(), name, "of type number");
  return info[i].As<Napi::Number>().Int32Value();
}

uint32_t Uint32Arg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsNumber()) ThrowType(info.Env(), name, "of type number");
  return info[i].As<Napi::Number>().Uint32Value();
}

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

Napi::Function FunctionArg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsFunction()) ThrowType(info.Env(), name, "of type function");
  return info[i].As<Napi::Function>();
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

// Throws the error for a -errno result, or returns it unchanged.
int Check(Napi::Env env, int rc, const char* syscall) {
  if (rc < 0) throw ErrnoException(env, rc, syscall);
  return rc;
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

// --- epoll ---------------------------------------------------------------

// Shared by an Epoll and its in-flight waits: the fd is closed when the last
// of them lets go, so it is never closed under a thread still waiting on it.
struct EpollFd {
  int fd;
  explicit EpollFd(int f) : fd(f) {}
  ~EpollFd() { sys::Close(fd); }
  EpollFd(const EpollFd&) = delete;
  EpollFd& operator=(const EpollFd&) = delete;
};

Napi::Value EpollEvents(Napi::Env env, const std::vector<epoll_event>& events, int n) {
  Napi::Array array = Napi::Array::New(env, n);
  for (int k = 0; k < n; k++) {
    Napi::Object ev = Napi::Object::New(env);
    ev.Set("fd", static_cast<int>(events[k].data.u64 & 0xffffffffu));
    ev.Set("events", events[k].events);
    array.Set(static_cast<uint32_t>(k), ev);
  }
  return array;
}

class EpollJob : public sys::WaitJob {
 public:
  EpollJob(std::shared_ptr<EpollFd> epfd, int max_events, int timeout)
      : epfd_(std::move(epfd)), events_(max_events), timeout_(timeout) {}
  int Run(int cancel_fd) override {
    return sys::EpollWait(epfd_->fd, events_.data(), static_cast<int>(events_.size()), timeout_, cancel_fd);
  }
  void Done() override { epfd_.reset(); }
  Napi::Value Result(Napi::Env env, int rc) override { return EpollEvents(env, events_, rc); }
  const char* syscall() const override { return "epoll_wait"; }

 private:
  std::shared_ptr<EpollFd> epfd_;
  std::vector<epoll_event> events_;
  int timeout_;
};

constexpr int kMaxEpollEvents = 65536;

class EpollWrap : public Napi::ObjectWrap<EpollWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Epoll",
                       {
                           InstanceMethod<&EpollWrap::Add>("add"),
                           InstanceMethod<&EpollWrap::Modify>("modify"),
                           InstanceMethod<&EpollWrap::Remove>("remove"),
                           InstanceMethod<&EpollWrap::Wait>("wait"),
                           InstanceMethod<&EpollWrap::WaitAsync>("waitAsync"),
                           InstanceMethod<&EpollWrap::Close>("close"),
                           InstanceAccessor<&EpollWrap::Fd>("fd"),
                       });
  }

  explicit EpollWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<EpollWrap>(info) {
    int fd = epoll_create1(EPOLL_CLOEXEC);
    if (fd < 0) throw ErrnoException(info.Env(), errno, "epoll_create1");
    epfd_ = std::make_shared<EpollFd>(fd);
  }

  // Collected without close(): wake any wait still running so that its
  // thread ends and the fd is released.
  ~EpollWrap() override { CancelAll(); }

 private:
  int Live(Napi::Env env, const char* syscall) {
    if (!epfd_) throw ErrnoException(env, EBADF, syscall);
    return epfd_->fd;
  }

  Napi::Value Ctl(const Napi::CallbackInfo& info, int op) {
    int epfd = Live(info.Env(), "epoll_ctl");
    int fd = IntArg(info, 0, "fd");
    epoll_event ev{};
    if (op != EPOLL_CTL_DEL) ev.events = Uint32Arg(info, 1, "events");
    ev.data.u64 = static_cast<uint32_t>(fd);
    if (epoll_ctl(epfd, op, fd, &ev) < 0) throw ErrnoException(info.Env(), errno, "epoll_ctl");
    return info.Env().Undefined();
  }
  Napi::Value Add(const Napi::CallbackInfo& info) { return Ctl(info, EPOLL_CTL_ADD); }
  Napi::Value Modify(const Napi::CallbackInfo& info) { return Ctl(info, EPOLL_CTL_MOD); }
  Napi::Value Remove(const Napi::CallbackInfo& info) { return Ctl(info, EPOLL_CTL_DEL); }

  static int MaxEvents(const Napi::CallbackInfo& info) {
    int max = IntArg(info, 0, "maxEvents");
    if (max < 1 || max > kMaxEpollEvents) {
      throw CodedRangeError(info.Env(), "ERR_OUT_OF_RANGE",
                            "The value of \"maxEvents\" is out of range. It must be >= 1 && <= " +
                                std::to_string(kMaxEpollEvents) + ". Received " + std::to_string(max));
    }
    return max;
  }

  Napi::Value Wait(const Napi::CallbackInfo& info) {
    int epfd = Live(info.Env(), "epoll_wait");
    std::vector<epoll_event> events(MaxEvents(info));
    int n = Check(info.Env(),
                  sys::EpollWait(epfd, events.data(), static_cast<int>(events.size()),
                                 IntArg(info, 1, "timeoutMs"), -1),
                  "epoll_wait");
    return EpollEvents(info.Env(), events, n);
  }

  Napi::Value WaitAsync(const Napi::CallbackInfo& info) {
    Live(info.Env(), "epoll_wait");
    int max = MaxEvents(info);
    int timeout = IntArg(info, 1, "timeoutMs");
    Napi::Function callback = FunctionArg(info, 2, "callback");
    std::weak_ptr<sys::WaitOp> handle;
    Napi::Function cancel =
        sys::StartWait(info.Env(), std::make_unique<EpollJob>(epfd_, max, timeout), callback, &handle);
    // Forget finished waits so the list stays as long as what is in flight.
    std::vector<std::weak_ptr<sys::WaitOp>> live;
    for (auto& op : inflight_) {
      if (!op.expired()) live.push_back(std::move(op));
    }
    live.push_back(std::move(handle));
    inflight_.swap(live);
    return cancel;
  }

  // Idempotent. In-flight waits are woken and report kClosed; each drops its
  // reference to the fd before it reports, so the fd is closed by then.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    CancelAll();
    epfd_.reset();
    return info.Env().Undefined();
  }

  void CancelAll() {
    for (auto& op : inflight_) sys::CancelWait(op, sys::kClosed);
    inflight_.clear();
  }

  Napi::Value Fd(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), epfd_ ? epfd_->fd : -1);
  }

  std::shared_ptr<EpollFd> epfd_;
  std::vector<std::weak_ptr<sys::WaitOp>> inflight_;
};

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
  s.Set("Epoll", EpollWrap::Define(env));
  s.Set("constants", Constants(env));
  exports.Set("sys", s);
}

}  // namespace nm
