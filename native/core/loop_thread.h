// The thread a loop runs on, recorded when it starts running, so that the
// methods only that thread may call assert it (muduo's
// EventLoop::assertInLoopThread): the comment states the contract, the
// assert keeps it. Compiled in where NM_CHECK_THREADS is defined (the
// sanitizer build, scripts/sanitize.sh); in a release build it holds
// nothing and every check is empty.
#pragma once

#if NM_CHECK_THREADS
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <thread>
#endif

namespace nm {

class LoopThread {
 public:
#if NM_CHECK_THREADS
  // On the loop's thread, before it handles anything.
  void Enter() { owner_.store(std::this_thread::get_id(), std::memory_order_relaxed); }
  // Aborts, naming `what`, when another thread calls a loop-only method of
  // a running loop. Before Enter() (Open and Prepare, on the JS thread)
  // the loop has no thread yet and nothing is checked.
  void Assert(const char* what) const {
    const std::thread::id owner = owner_.load(std::memory_order_relaxed);
    if (owner != std::thread::id() && owner != std::this_thread::get_id()) {
      fprintf(stderr, "netmodels: %s called off its loop's thread\n", what);
      abort();
    }
  }

 private:
  std::atomic<std::thread::id> owner_{};
#else
  void Enter() {}
  void Assert(const char* /*what*/) const {}
#endif
};

}  // namespace nm
