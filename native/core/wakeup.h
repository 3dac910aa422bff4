// An eventfd that makes a blocked select/poll/epoll_wait return at once.
// signal() after close() writes to fd -1: a harmless EBADF, never a reused fd.
#pragma once

#include "core/fd.h"

namespace nm {

class Wakeup {
 public:
  int open();       // 0 or -errno
  void signal();    // thread-safe and async-signal-safe
  void drain();     // called by the loop that was woken
  void close() { fd_.reset(); }  // the owner serialises it with signal()
  int fd() const { return fd_.get(); }

 private:
  Fd fd_;
};

}  // namespace nm
