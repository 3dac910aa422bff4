// sys.Epoll: an epoll instance owned by a JS object, waited on synchronously
// or on a wait thread of its own (waitAsync). close() cancels every wait in
// flight; the fd outlives the object until the last of them has let go.
#include <sys/epoll.h>

#include <cerrno>
#include <memory>
#include <string>
#include <vector>

#include "errors.h"
#include "sys/async_wait_wrap.h"
#include "sys/sys_wrap.h"
#include "sys/syscalls.h"

namespace nm {

namespace {

using sys_wrap::Check;
using sys_wrap::FunctionArg;
using sys_wrap::IntArg;
using sys_wrap::Uint32Arg;

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

}  // namespace

namespace sys_wrap {

Napi::Function DefineEpoll(Napi::Env env) { return EpollWrap::Define(env); }

}  // namespace sys_wrap

}  // namespace nm
