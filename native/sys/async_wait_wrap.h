// Cancellable waits on their own native thread, for selectAsync, pollAsync
// and Epoll#waitAsync.
//
// Each wait gets one thread and one eventfd. The thread waits on the user's
// fds plus the eventfd; cancelling writes to the eventfd, so the wait returns
// at once and nothing ever polls a flag. The thread closes the eventfd and
// drops what it held (an Epoll's fd) before it reports, and it is joined on
// the JS thread before the callback runs: when a Promise built on it settles,
// the wait's thread and fds are gone.
//
// Waits do not use the libuv threadpool: a wait may block forever, and four
// of them would starve fs and dns.
#pragma once

#include <napi.h>

#include <memory>

namespace nm {
namespace sys {

enum CancelReason : int {
  kNotCancelled = 0,
  kAborted = 1,  // the JS cancel function (an AbortSignal) or env teardown
  kClosed = 2,   // the owner (an Epoll) was closed
};

// The blocking part of one wait. Run and Done run on the wait thread, Result
// on the JS thread after Run returned a value >= 0.
class WaitJob {
 public:
  virtual ~WaitJob() = default;
  // Returns >= 0, -errno, or kCancelled (syscalls.h) when cancel_fd fired.
  virtual int Run(int cancel_fd) = 0;
  // Releases what must not outlive the wait (called after Run, same thread).
  virtual void Done() {}
  virtual Napi::Value Result(Napi::Env env, int rc) = 0;
  virtual const char* syscall() const = 0;
};

class WaitOp;

// Starts `job` on a new thread. `callback(err, result, cancelReason)` is called
// exactly once on the JS thread: cancelReason is 0 with a result or an error,
// else a CancelReason. Returns the JS function that cancels the wait (a no-op
// once it has finished). `handle`, when given, lets an owner cancel it too.
// A pending wait keeps the event loop alive, like a pending socket read.
Napi::Function StartWait(Napi::Env env, std::unique_ptr<WaitJob> job,
                         Napi::Function callback, std::weak_ptr<WaitOp>* handle = nullptr);

// Cancels a wait started by StartWait if it is still running. JS thread only.
void CancelWait(const std::weak_ptr<WaitOp>& op, CancelReason why);

}  // namespace sys
}  // namespace nm
