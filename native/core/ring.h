// One io_uring instance for one completion loop: its submission and
// completion queues, and a ring of provided receive buffers. Multishot recv
// takes a buffer from that ring only when data arrives, so an idle
// connection holds no buffer (the readiness loops' point, without the
// readiness step). Compiled only with liburing (NM_HAVE_LIBURING).
//
// Every request carries a 64-bit tag the loop chooses (MakeTag). Ring counts
// the requests whose last completion it has not reaped yet, so the loop can
// wait until the kernel holds nothing of its memory before freeing it.
#pragma once

#if NM_HAVE_LIBURING

#include <liburing.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/listener.h"
#include "core/stats.h"

namespace nm {

// What a request is, in the low byte of its tag.
enum RingOp : uint8_t { kOpAccept = 1, kOpRecv, kOpSend, kOpWake, kOpCancel };

// Tags: what a request is (8 bits), the fd it is about (24 bits) and that
// connection's generation (low 32 bits), so a completion finds its
// connection as ConnRef does.
constexpr int kTagFdLimit = 1 << 24;
inline uint64_t MakeTag(uint8_t op, int fd, uint64_t generation) {
  return (generation << 32) | (static_cast<uint64_t>(fd & (kTagFdLimit - 1)) << 8) | op;
}
inline uint8_t TagOp(uint64_t tag) { return static_cast<uint8_t>(tag); }
inline int TagFd(uint64_t tag) { return static_cast<int>((tag >> 8) & (kTagFdLimit - 1)); }
inline uint32_t TagGeneration(uint64_t tag) { return static_cast<uint32_t>(tag >> 32); }

// A completion, copied out of the completion queue so that the queue has room
// again before any of them is handled (handling one may submit more).
struct Completion {
  uint64_t tag;
  int32_t res;
  uint32_t flags;
  // Without it the request is over: a multishot one must be submitted again.
  bool more() const { return (flags & IORING_CQE_F_MORE) != 0; }
  // The provided buffer the data went into, or -1.
  int buffer() const {
    return (flags & IORING_CQE_F_BUFFER) ? static_cast<int>(flags >> IORING_CQE_BUFFER_SHIFT) : -1;
  }
};

class Ring {
 public:
  // Size of each provided receive buffer. It also bounds how far a
  // multishot recv can read past the high-water mark: the kernel fills up
  // to 32 buffers per pass over a busy socket, and a few passes per
  // io_uring_enter (about 100 buffers on Linux 6.18) before the loop sees
  // the output it caused and can cancel the recv.
  static constexpr unsigned kBufferSize = 2048;

  Ring() = default;
  ~Ring();
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;

  // io_uring_setup with `entries` submission slots and as many receive
  // buffers (rounded up to a power of two), registered as buffer group 0.
  // On any thread: the ring starts disabled, and the thread that calls
  // Enable() becomes its only submitter. 0 or -errno with *error filled.
  // Counts into `stats` (syscalls): wait, each io_uring_submit* call (one
  // io_uring_enter at most: liburing skips it when a completion is already
  // there and nothing is queued); ctl, each request queued but sends;
  // accept, recv, send, each completion of such a request; eagain, each of
  // those completions with -EAGAIN.
  int Open(unsigned entries, Stats* stats, SysError* error);
  // On the loop's thread, before anything is submitted; 0 or -errno.
  int Enable();
  // On the loop's thread, when it has reaped its last completion.
  void Disable();

  // Requests, queued until the next SubmitAndWait (or sooner when the
  // submission queue is full). `data` of Send must stay put until its
  // completion arrives.
  void AcceptMultishot(int listen_fd, uint64_t tag);
  void RecvMultishot(int fd, uint64_t tag);
  void Send(int fd, const char* data, size_t len, uint64_t tag);
  void Read(int fd, void* buf, unsigned len, uint64_t tag);
  void Cancel(uint64_t target, uint64_t tag);  // the request tagged `target`
  void CancelFd(int fd, uint64_t tag);         // every request on `fd`
  void CancelAll(uint64_t tag);                // every request in the ring

  // Submits what is queued and waits for a completion, at most `timeout_ms`
  // (-1: no limit). 0, -ETIME, or -errno.
  int SubmitAndWait(int timeout_ms);
  // Replaces *out with every completion available now.
  void Reap(std::vector<Completion>* out);

  char* Buffer(int id) const { return buffers_ + static_cast<size_t>(id) * kBufferSize; }
  // Gives buffer `id` back to the kernel for the next receives.
  void Recycle(int id);

  // Requests submitted or queued whose last completion was not reaped yet.
  size_t InFlight() const { return in_flight_; }
  // 0, or the -errno of a submission that failed outside SubmitAndWait
  // (a full queue flushed early): the requests it held are lost.
  int failed() const { return failed_; }

 private:
  io_uring_sqe* Sqe(uint64_t tag);
  void Count(uint64_t tag, int32_t res);  // a completion, into stats_

  io_uring ring_{};
  Stats* stats_ = nullptr;
  bool open_ = false;
  bool needs_enable_ = false;
  bool registered_fd_ = false;
  io_uring_buf_ring* buf_ring_ = nullptr;
  size_t buf_ring_bytes_ = 0;
  char* buffers_ = nullptr;
  size_t buffers_bytes_ = 0;
  unsigned buf_count_ = 0;
  size_t in_flight_ = 0;
  int failed_ = 0;
  io_uring_sqe spare_{};  // written into when no slot could be had (failed_ set)
  std::vector<io_uring_cqe*> batch_;
};

}  // namespace nm

#endif  // NM_HAVE_LIBURING
