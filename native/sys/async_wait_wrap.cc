#include "sys/async_wait_wrap.h"

#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <mutex>
#include <system_error>
#include <thread>

#include "core/signals.h"
#include "core/wakeup.h"
#include "errors.h"
#include "sys/syscalls.h"

namespace nm {
namespace sys {

constexpr char kThreadName[] = "nm-sys-wait";

class WaitOp {
 public:
  explicit WaitOp(std::unique_ptr<WaitJob> job) : job_(std::move(job)) {}

  // JS thread. The mutex orders this against the wait thread closing the
  // eventfd, so a late cancel never writes to an fd number reused since.
  void Cancel(CancelReason why) {
    int expected = kNotCancelled;
    reason_.compare_exchange_strong(expected, why);
    std::lock_guard<std::mutex> lock(mu_);
    cancel_.signal();  // EBADF once the wait has finished: nothing to wake.
  }

  static Napi::Function Start(Napi::Env env, std::unique_ptr<WaitJob> job,
                              Napi::Function callback, std::weak_ptr<WaitOp>* handle);

 private:
  void ThreadMain();
  static void CallJs(napi_env env, napi_value js_cb, void* context, void* data);
  static void Finalize(napi_env env, void* data, void* hint);
  void Join() {
    if (thread_.joinable()) thread_.join();
  }

  std::unique_ptr<WaitJob> job_;
  std::mutex mu_;
  Wakeup cancel_;
  std::atomic<int> reason_{kNotCancelled};
  int rc_ = 0;
  std::thread thread_;
  napi_threadsafe_function tsfn_ = nullptr;
  // The op owns itself from Start until the threadsafe function's finalizer.
  std::shared_ptr<WaitOp> self_;
};

void WaitOp::ThreadMain() {
  // The name lets tests and `ps -L` find these threads. Its only possible
  // failure (ERANGE, a name too long) costs the name, not the wait.
  static_cast<void>(pthread_setname_np(pthread_self(), kThreadName));
  rc_ = job_->Run(cancel_.fd());
  job_->Done();
  {
    std::lock_guard<std::mutex> lock(mu_);
    cancel_.close();
  }
  // napi_closing during env teardown: nobody is left to tell, and the
  // finalizer below is already waiting to join this thread.
  napi_call_threadsafe_function(tsfn_, nullptr, napi_tsfn_blocking);
  napi_release_threadsafe_function(tsfn_, napi_tsfn_release);
}

void WaitOp::CallJs(napi_env env, napi_value js_cb, void* context, void*) {
  // A null env means the environment is being torn down and Finalize() may
  // already have freed the op: it must not be touched.
  if (env == nullptr) return;
  auto* op = static_cast<WaitOp*>(context);
  // The thread has nothing left to do but release the threadsafe function,
  // which does not wait on this thread, so this join is immediate.
  op->Join();
  if (js_cb == nullptr) return;
  Napi::Env e(env);
  Napi::HandleScope scope(e);
  try {
    Napi::Value err = e.Null();
    Napi::Value result = e.Null();
    int reason = kNotCancelled;
    if (op->rc_ == kCancelled) {
      reason = op->reason_.load();
      if (reason == kNotCancelled) reason = kAborted;
    } else if (op->rc_ < 0) {
      err = ErrnoException(e, op->rc_, op->job_->syscall()).Value();
    } else {
      result = op->job_->Result(e, op->rc_);
    }
    Napi::Function(e, js_cb).Call({err, result, Napi::Number::New(e, reason)});
  } catch (const Napi::Error& error) {
    // Not ThrowAsJavaScriptException(): in a terminating Worker the throw
    // itself fails, and a C++ exception must not leave this C callback.
    napi_throw(env, error.Value());
  }
}

void WaitOp::Finalize(napi_env, void* data, void*) {
  auto* op = static_cast<WaitOp*>(data);
  // Normally the thread was joined in CallJs. When the environment is torn
  // down with a wait still blocked (a Worker terminated), wake it first.
  op->Cancel(kAborted);
  op->Join();
  std::shared_ptr<WaitOp> last = std::move(op->self_);
}

Napi::Function WaitOp::Start(Napi::Env env, std::unique_ptr<WaitJob> job,
                             Napi::Function callback, std::weak_ptr<WaitOp>* handle) {
  auto op = std::make_shared<WaitOp>(std::move(job));
  int r = op->cancel_.open();
  if (r < 0) throw ErrnoException(env, r, "eventfd");

  napi_status status = napi_create_threadsafe_function(
      env, callback, nullptr, Napi::String::New(env, "netmodels.sys.wait"), 0, 1,
      op.get(), Finalize, op.get(), CallJs, &op->tsfn_);
  if (status != napi_ok) throw Napi::Error::New(env, "napi_create_threadsafe_function failed");
  op->self_ = op;

  // The thread starts with every signal blocked, so process signals go to
  // Node's own threads and its handlers, never interrupt this wait, and are
  // never run on a thread Node does not know.
  int create_error = 0;
  {
    BlockAllSignals masked;
    if (masked.error() != 0) {
      napi_release_threadsafe_function(op->tsfn_, napi_tsfn_release);
      throw ErrnoException(env, masked.error(), "pthread_sigmask");
    }
    try {
      op->thread_ = std::thread(&WaitOp::ThreadMain, op.get());
    } catch (const std::system_error& error) {
      create_error = error.code().value();
    }
  }
  if (create_error != 0) {
    // No thread: release the function so its finalizer frees the op.
    napi_release_threadsafe_function(op->tsfn_, napi_tsfn_release);
    throw ErrnoException(env, create_error, "pthread_create");
  }
  if (handle != nullptr) *handle = op;

  std::weak_ptr<WaitOp> weak = op;
  return Napi::Function::New(
      env,
      [weak](const Napi::CallbackInfo&) { CancelWait(weak, kAborted); },
      "cancel");
}

Napi::Function StartWait(Napi::Env env, std::unique_ptr<WaitJob> job,
                         Napi::Function callback, std::weak_ptr<WaitOp>* handle) {
  return WaitOp::Start(env, std::move(job), callback, handle);
}

void CancelWait(const std::weak_ptr<WaitOp>& weak, CancelReason why) {
  if (std::shared_ptr<WaitOp> op = weak.lock()) op->Cancel(why);
}

}  // namespace sys
}  // namespace nm
