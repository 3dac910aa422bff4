// One io_uring instance for one completion loop: its submission and
// completion queues, and a ring of provided receive buffers. Multishot recv
// takes a buffer from that ring only when data arrives, so an idle
// connection holds no buffer (the readiness loops' point, without the
// readiness step).
//
// The ring is driven over the kernel's own interface (<linux/io_uring.h>,
// io_uring_setup/enter/register by syscall()), as Rust's io-uring crate and
// Zig's standard library do: no liburing at build or run time. What the
// kernel offers beyond the minimum is probed in Open() and used only where
// it is there (see Features).
//
// Every request carries a 64-bit tag the loop chooses (MakeTag). Ring counts
// the requests whose last completion it has not reaped yet, so the loop can
// wait until the kernel holds nothing of its memory before freeing it.
#pragma once

#include <linux/io_uring.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/listener.h"
#include "core/stats.h"

#ifndef IORING_CQE_F_MORE
#define IORING_CQE_F_MORE (1U << 1)  // 5.13
#endif

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
  // The (first) provided buffer the data went into, or -1.
  int buffer() const {
    return (flags & IORING_CQE_F_BUFFER) ? static_cast<int>(flags >> IORING_CQE_BUFFER_SHIFT) : -1;
  }
};

class Ring {
 public:
  // Size of each provided receive buffer consumed whole: a completion
  // takes one (or, in a bundle, several) however few bytes it carries.
  static constexpr unsigned kBufferSize = 2048;
  // With bundles, the most one recv completion carries (and so the most a
  // multishot recv reads in one pass over a socket before the loop sees it).
  // Also the size of an incrementally consumed buffer: as large as a bundle,
  // so that a completion spans at most two of them.
  static constexpr unsigned kBundleBytes = 64 * 1024;

  // What the kernel offered and Open() chose; shown in stats().ring.
  struct Features {
    // One recv completion for several provided buffers (6.10), capped at
    // kBundleBytes per completion (the cap: 6.14; used only with it).
    bool bundle = false;
    // Buffers consumed incrementally (IOU_PBUF_RING_INC, 6.12): a
    // completion takes only the bytes it carries from a large buffer, the
    // next one goes on where it stopped, so 64 B messages do not each hold
    // a buffer and a 64 KiB one fills one or two.
    bool incremental = false;
    bool defer_taskrun = false;  // SINGLE_ISSUER | DEFER_TASKRUN (6.1)
    bool registered_fd = false;  // IORING_REGISTER_RING_FDS (5.18)
    bool single_mmap = false;    // IORING_FEAT_SINGLE_MMAP (5.4)
  };

  Ring() = default;
  ~Ring();
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;

  // io_uring_setup with `entries` submission slots and entries x
  // kBufferSize bytes of receive buffers (entries rounded up to a power of
  // two), registered as buffer group 0: as many buffers of kBufferSize, or
  // with `incremental` where the kernel has it, a quarter of that memory
  // in buffers of kBundleBytes (see RegisterBuffers). On any thread: the
  // ring starts disabled, and the thread that calls Enable() becomes its
  // only submitter. `bundles`: use receive bundles where the kernel has
  // them. 0 or -errno with *error filled.
  // Counts into `stats` (syscalls): wait, each io_uring_enter; ctl, each
  // request queued but sends; accept, recv, send, each completion of such a
  // request; eagain, each of those completions with -EAGAIN.
  int Open(unsigned entries, bool bundles, bool incremental, Stats* stats, SysError* error);
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
  // One send of several pieces; `msg` and its iovecs stay put until the
  // completion arrives.
  void SendMsg(int fd, const msghdr* msg, uint64_t tag);
  void Read(int fd, void* buf, unsigned len, uint64_t tag);
  void Cancel(uint64_t target, uint64_t tag);  // the request tagged `target`
  void CancelAll(uint64_t tag);                // every request in the ring

  // Submits what is queued and waits for a completion, at most `timeout_ms`
  // (-1: no limit). 0, -ETIME, or -errno.
  int SubmitAndWait(int timeout_ms);
  // Replaces *out with every completion available now.
  void Reap(std::vector<Completion>* out);

  // Calls fn(data, len) for each provided buffer a recv completion filled,
  // in order, then gives back to the kernel those it has finished with. A
  // completion that holds a whole buffer without data (an error, the peer's
  // EOF) gives it back too; an incremental one without data consumed none.
  template <class Fn>
  void TakeReceived(const Completion& e, Fn&& fn);

  // Replies sent in place. A reply the handler emits from the very bytes a
  // completion delivered (uppercase and echo rewrite their input and emit
  // it) is sent from that provided buffer instead of being copied out of
  // it: the buffer is pinned, kept out of the ring past the point where it
  // would go back, until the send completes and Unpin gives it back. Only
  // for large pieces (a copy of a 64 B reply costs less than the
  // bookkeeping; whole 2 KiB buffers are never lent), and only while at
  // most half the buffers are pinned: a
  // peer that does not read holds its send, and so the buffer, until it
  // reads, and the other half keeps the ring receiving.
  static constexpr size_t kLendBytes = 16 * 1024;
  bool MayLend(size_t len) const { return len >= kLendBytes && pinned_ < buf_count_ / 2; }
  // The buffer `data` (from a completion being handled) lies in, pinned.
  int Pin(const char* data);
  void Unpin(int id);

  // A recv completion with -EINVAL from a ring that armed bundles: the
  // kernel has bundles (6.10) but not their per-recv cap (6.14), although
  // Open()'s probe found it. Bundles are turned off for this ring's later
  // recvs, and the completion means only that its recv must be armed
  // again; true for such a completion.
  bool RefuseBundle(const Completion& e);

  const Features& features() const { return features_; }
  // stats().ring: the features in use and the provided buffers, e.g.
  // "bundle incremental defer-taskrun registered-fd single-mmap; 32 buffers of 65536 B".
  // From any thread, while the loop runs.
  std::string Describe() const;

  // Requests submitted or queued whose last completion was not reaped yet.
  size_t InFlight() const { return in_flight_; }
  // 0, or the -errno of a submission that failed outside SubmitAndWait
  // (a full queue flushed early): the requests it held are lost.
  int failed() const { return failed_; }

 private:
  char* Buffer(int id) const { return buffers_ + static_cast<size_t>(id) * buf_size_; }
  void Recycle(int id);
  // The loop is done with buffer id: back to the ring, or once unpinned.
  void Done(int id);
  void Publish();  // makes the recycled buffers visible to the kernel
  io_uring_sqe* Sqe(uint64_t tag);
  int Enter(unsigned to_submit, unsigned min_complete, unsigned flags, const void* arg, size_t argsz);
  int SetUp(unsigned entries, unsigned flags, io_uring_params* p);
  int RegisterBuffers(unsigned bytes, bool incremental, SysError* error);
  int ProbeOps();
  static bool CapsBundles();
  void Count(uint64_t tag, int32_t res);  // a completion, into stats_
  void Show();  // copies features_ where Describe() reads them

  Stats* stats_ = nullptr;
  Features features_;
  std::atomic<unsigned> shown_{0};  // features_ as bits, for other threads
  int ring_fd_ = -1;
  int enter_fd_ = -1;          // ring_fd_, or its registered index
  unsigned enter_flags_ = 0;   // IORING_ENTER_REGISTERED_RING with the index
  bool needs_enable_ = false;
  bool bundle_offered_ = false;  // recvs were armed as bundles

  // Both queues' rings live in memory shared with the kernel: the kernel
  // writes the SQ head and the CQ tail, this thread the SQ tail and CQ head.
  void* sq_map_ = nullptr;
  size_t sq_map_bytes_ = 0;
  void* cq_map_ = nullptr;  // sq_map_ itself on single-mmap kernels
  size_t cq_map_bytes_ = 0;
  io_uring_sqe* sqes_ = nullptr;
  size_t sqes_bytes_ = 0;
  unsigned* sq_head_ = nullptr;
  unsigned* sq_tail_ = nullptr;
  unsigned sq_mask_ = 0;
  unsigned sq_entries_ = 0;
  unsigned sqe_tail_ = 0;  // slots handed out, published to *sq_tail_ on submit
  unsigned* cq_head_ = nullptr;
  unsigned* cq_tail_ = nullptr;
  unsigned cq_mask_ = 0;
  io_uring_cqe* cqes_ = nullptr;

  // An entry of the provided-buffer ring, as the kernel lays it out (5.19).
  // The ring is an array of them, its tail laid over the first one's resv.
  // Not the header's io_uring_buf_ring: compiled as C++, its flexible array
  // member starts 8 bytes in.
  struct ProvidedBuf {
    uint64_t addr;
    uint32_t len;
    uint16_t bid;
    uint16_t resv;
  };
  ProvidedBuf* buf_ring_ = nullptr;
  size_t buf_ring_bytes_ = 0;
  char* buffers_ = nullptr;
  size_t buffers_bytes_ = 0;
  unsigned buf_count_ = 0;
  unsigned buf_size_ = kBufferSize;
  uint16_t buf_tail_ = 0;     // entries added, published to the ring's tail
  // Incremental buffers: where the kernel's next write into buffer id
  // starts. The kernel keeps the same offset (it advances the entry's addr
  // as it consumes), and completions arrive in the order it consumed, so
  // adding each completion's bytes in order keeps the two equal. The one
  // completion the kernel posts later than it consumed, a multishot recv's
  // last (queued to the end of its batch), carries data only when its
  // bundle emptied the ring: then no other recv can consume before the
  // loop has handled it and given buffers back.
  std::vector<uint32_t> offset_;
  // Bundles name only their first buffer; the rest follow it in ring
  // order. at_[p] is the buffer added at ring position p (positions are the
  // kernel's 16-bit head and tail), where_[id] the position of buffer id:
  // a position is written again only 65536 additions later, long after any
  // completion that names it was handled.
  std::vector<uint16_t> at_;
  std::vector<uint16_t> where_;
  // Pins per buffer; a pinned buffer the loop is done with is `spent` and
  // goes back to the ring at its last Unpin.
  std::vector<uint32_t> pins_;
  std::vector<bool> spent_;
  unsigned pinned_ = 0;  // buffers with pins

  size_t in_flight_ = 0;
  int failed_ = 0;
  io_uring_sqe spare_{};  // written into when no slot could be had (failed_ set)
};

template <class Fn>
void Ring::TakeReceived(const Completion& e, Fn&& fn) {
  const int first = e.buffer();
  if (first < 0) return;
  if (features_.incremental) {
    // No data, nothing consumed: the buffer is still at the ring's head.
    if (e.res <= 0) return;
    // The data starts where the previous completion from this buffer
    // stopped; a bundle goes on into the next buffers in ring order, each
    // new (offset 0). Every buffer but the last was filled to its end; the
    // last is given back once filled to its end too, as the kernel moves
    // past a buffer exactly then. Not by IORING_CQE_F_BUF_MORE (6.12), the
    // kernel's word for the same: a bundle the kernel retried within one
    // completion (more queued after a full transfer) carries the flag of
    // its first pass, and giving back a buffer still in use lets two recvs
    // fill it (a kernel bug, fixed later: liburing has a test for it).
    int id = first;
    uint16_t pos = at_.empty() ? 0 : where_[static_cast<size_t>(first)];
    for (int left = e.res; left > 0;) {
      const uint32_t off = offset_[static_cast<size_t>(id)];
      const int n = std::min(left, static_cast<int>(buf_size_ - off));
      fn(Buffer(id) + off, n);
      left -= n;
      if (left == 0 && off + static_cast<uint32_t>(n) < buf_size_) {
        offset_[static_cast<size_t>(id)] = off + static_cast<uint32_t>(n);
        break;
      }
      Done(id);
      if (left == 0 || at_.empty()) break;  // without bundles one buffer holds it all
      id = at_[++pos];
    }
    Publish();
    return;
  }
  if (!features_.bundle) {
    if (e.res > 0) fn(Buffer(first), e.res);
    Done(first);
  } else if (e.res > 0) {
    // A bundle fills whole buffers in ring order, the last one partly; one
    // with no data consumed none (the kernel counts buffers by bytes).
    uint16_t pos = where_[static_cast<size_t>(first)];
    for (int left = e.res; left > 0; left -= static_cast<int>(kBufferSize), pos++) {
      const int id = at_[pos];
      fn(Buffer(id), left < static_cast<int>(kBufferSize) ? left : static_cast<int>(kBufferSize));
      Done(id);
    }
  }
  Publish();
}

}  // namespace nm
