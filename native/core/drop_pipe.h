// The connections forked children refused (maxConnections), handed to their
// parent, which reports them as 'drop' as the models that accept in this
// process do.
//
// A pipe rather than a ring in the shared mapping: a write() of at most
// PIPE_BUF bytes lands whole or not at all, so a child killed at any point
// never leaves half a record for the reader to stall on, and write() is
// async-signal-safe. Bounded, and never a wait for the children: the pipe is
// non-blocking, and a child that finds it full counts the record in lost()
// and goes on. A byte pipe, not a packet one (O_DIRECT): each packet takes
// one of the pipe's 16 pages, so it would hold 16 records instead of about
// 1,100. Records keep their boundaries all the same: every write is one
// whole record, written atomically, and every read asks for whole records.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>

#include "core/fd.h"
#include "core/shared_array.h"
#include "core/stats.h"

namespace nm {

// A refused connection's two ends. An address the kernel could not give
// (a peer already gone) is left zero: family AF_UNSPEC.
struct DropRecord {
  union Address {
    sockaddr sa;
    sockaddr_in v4;
    sockaddr_in6 v6;
  };
  Address local;
  Address remote;
};

class DropPipe {
 public:
  // Before any fork(). 0 or -errno; the failing syscall in *syscall.
  int Open(const char** syscall);
  // The end the children write to: kept open in them.
  int write_fd() const { return write_.get(); }
  // The end the parent polls (POLLIN).
  int fd() const { return read_.get(); }

  // Whether the parent wants records (someone listens to 'drop'): from any
  // thread after Open(), seen by the children at their next refusal.
  void Want(bool on) {
    if (shared_.size() != 0) shared_.get()->wanted.store(on, std::memory_order_relaxed);
  }
  // In a child, async-signal-safe: records `fd`, accepted from `peer`,
  // before the caller closes it, if the parent wants records. A full pipe
  // loses the record, counted.
  void Send(int fd, const sockaddr_storage& peer);
  // In the parent: calls `each(const DropRecord&)` for the records the
  // pipe holds now, read a batch at a time, and at most kMaxDrain of them,
  // so that a flood of refusals cannot hold the caller from its other work.
  // 0, or -errno from read().
  template <class F>
  int Drain(F&& each) {
    DropRecord batch[kBatch];
    for (size_t taken = 0; taken < kMaxDrain;) {
      const ssize_t n = Receive(batch, kBatch);
      if (n == -EAGAIN) return 0;
      if (n < 0) return static_cast<int>(n);
      for (ssize_t i = 0; i < n; i++) each(batch[i]);
      if (n < static_cast<ssize_t>(kBatch)) return 0;
      taken += kBatch;
    }
    return 0;
  }
  // Records lost to a full pipe, by every child.
  uint64_t lost() const {
    return shared_.size() == 0 ? 0 : shared_.get()->lost.load(std::memory_order_relaxed);
  }

 private:
  // In the shared mapping: set by the parent, read by the children, and back.
  struct Shared {
    std::atomic<bool> wanted{false};
    Stats::Counter lost{0};
  };
  static_assert(std::atomic<bool>::is_always_lock_free, "flags must work in shared memory");
  static constexpr size_t kBatch = 64;
  static constexpr size_t kMaxDrain = 2048;  // more than a full pipe holds
  // Up to `max` records into `out`; how many, or -errno (-EAGAIN: none now).
  ssize_t Receive(DropRecord* out, size_t max);
  Fd read_;
  Fd write_;
  SharedArray<Shared> shared_;
};

}  // namespace nm
