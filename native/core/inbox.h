// A loop's inbox, as muduo's EventLoop::queueInLoop: any thread may Post()
// a function; the loop runs it on its own thread the next time it drains.
// This is the only way another thread acts on a loop's state (its
// connections, its interest sets): stop requests, handed-off connections,
// replies from another thread.
//
// The eventfd is readable while something is queued, so the loop watches it
// like any other fd and never polls a flag with a timeout.
#pragma once

#include <functional>
#include <mutex>
#include <vector>

#include "core/wakeup.h"

namespace nm {

class Inbox {
 public:
  int open() { return wakeup_.open(); }  // 0 or -errno
  int fd() const { return wakeup_.fd(); }
  // A loop that waits on something other than the eventfd (sigio: its
  // thread's signal queue) is also told by `notify`, on the posting thread,
  // whenever the eventfd is written. Set before anything is posted.
  void Notify(std::function<void()> notify) { notify_ = std::move(notify); }

  // Thread-safe. Only the first Post() after a drain writes the eventfd:
  // a burst of posts costs one wakeup.
  void Post(std::function<void()> fn) {
    bool first;
    {
      std::lock_guard<std::mutex> lock(mu_);
      first = queue_.empty();
      queue_.push_back(std::move(fn));
    }
    if (first) {
      wakeup_.signal();
      if (notify_) notify_();
    }
  }

  // On the loop's thread: runs everything posted so far. A function may post
  // again; that runs on the next drain, so a drain always ends.
  void Drain() {
    wakeup_.drain();
    {
      std::lock_guard<std::mutex> lock(mu_);
      running_.swap(queue_);
    }
    for (auto& fn : running_) fn();
    running_.clear();
  }

 private:
  Wakeup wakeup_;
  std::function<void()> notify_;
  std::mutex mu_;
  std::vector<std::function<void()>> queue_;    // guarded by mu_
  std::vector<std::function<void()>> running_;  // the loop's own
};

}  // namespace nm
