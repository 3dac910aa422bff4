#include "core/ring.h"

#include <linux/time_types.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

// What this file uses from kernels newer than the oldest headers it builds
// with (Linux 5.11's, for io_uring_getevents_arg), each with the kernel that
// added it. Using one on an older kernel is refused by that kernel (EINVAL),
// and Open() falls back.
#ifndef IORING_SETUP_SUBMIT_ALL
#define IORING_SETUP_SUBMIT_ALL (1U << 7)  // 5.18
#endif
#ifndef IORING_SETUP_SINGLE_ISSUER
#define IORING_SETUP_SINGLE_ISSUER (1U << 12)  // 6.0
#endif
#ifndef IORING_SETUP_DEFER_TASKRUN
#define IORING_SETUP_DEFER_TASKRUN (1U << 13)  // 6.1
#endif
#ifndef IORING_RECV_MULTISHOT
#define IORING_RECV_MULTISHOT (1U << 1)  // 6.0
#endif
#ifndef IORING_ACCEPT_MULTISHOT
#define IORING_ACCEPT_MULTISHOT (1U << 0)  // 5.19
#endif
#ifndef IORING_ASYNC_CANCEL_ANY
#define IORING_ASYNC_CANCEL_ANY (1U << 2)  // 5.19
#endif
#ifndef IORING_RECVSEND_BUNDLE
#define IORING_RECVSEND_BUNDLE (1U << 4)  // 6.10
#endif
#ifndef IORING_FEAT_RECVSEND_BUNDLE
#define IORING_FEAT_RECVSEND_BUNDLE (1U << 14)  // 6.10
#endif
#ifndef IOU_PBUF_RING_INC
#define IOU_PBUF_RING_INC 2  // 6.12
#endif
#ifndef IORING_ENTER_REGISTERED_RING
#define IORING_ENTER_REGISTERED_RING (1U << 4)  // 5.18
#endif

namespace nm {

namespace {

// io_uring_register opcodes past 5.11's headers (an enum there, so not
// #ifndef-able).
constexpr unsigned kRegisterRingFds = 20;    // 5.18
constexpr unsigned kUnregisterRingFds = 21;  // 5.18
constexpr unsigned kRegisterPbufRing = 22;   // 5.19

// IORING_REGISTER_PBUF_RING's argument, as the kernel lays it out (5.19).
struct BufRingReg {
  uint64_t ring_addr;
  uint32_t ring_entries;
  uint16_t bgid;
  uint16_t flags;
  uint64_t resv[3];
};
// IORING_REGISTER_RING_FDS's argument (io_uring_rsrc_update, 5.13).
struct RingFdReg {
  uint32_t offset;
  uint32_t resv;
  uint64_t data;
};

// The shared rings' indices: this thread's own side is read plainly; the
// kernel's side is read with acquire (so the entries it filled before
// moving it are seen) and this thread's side published with release (so
// the kernel sees the entries written before it moves).
unsigned LoadAcquire(const unsigned* p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
void StoreRelease(unsigned* p, unsigned v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }

int Register(int fd, unsigned op, const void* arg, unsigned n) {
  return syscall(__NR_io_uring_register, fd, op, arg, n) < 0 ? -errno : 0;
}

void* MapRing(int fd, size_t bytes, off_t offset) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, offset);
  return p == MAP_FAILED ? nullptr : p;
}

// Memory the kernel writes into (buffers) or reads (the buffer ring) on its
// own schedule. Not inherited by a child forked meanwhile (by a fork model
// in this process, or child_process): copy-on-write would leave the kernel
// and this process looking at different pages.
void* MapForKernel(size_t bytes) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  madvise(p, bytes, MADV_DONTFORK);  // advisory: an old kernel without it still works
  return p;
}

unsigned RoundUpPow2(unsigned n) {
  unsigned p = 1;
  while (p < n) p <<= 1;
  return p;
}

template <class T>
T* At(void* base, unsigned offset) {
  return reinterpret_cast<T*>(static_cast<char*>(base) + offset);
}

}  // namespace

Ring::~Ring() {
  // Closing the ring releases the buffer ring it pinned; the loop has
  // reaped every request before, so nothing still points into buffers_.
  if (sqes_) munmap(sqes_, sqes_bytes_);
  if (cq_map_ && cq_map_ != sq_map_) munmap(cq_map_, cq_map_bytes_);
  if (sq_map_) munmap(sq_map_, sq_map_bytes_);
  if (ring_fd_ >= 0) ::close(ring_fd_);
  if (buffers_) munmap(buffers_, buffers_bytes_);
  if (buf_ring_) munmap(buf_ring_, buf_ring_bytes_);
}

// io_uring_setup and the mappings of its queues; on failure nothing is left.
int Ring::SetUp(unsigned entries, unsigned flags, io_uring_params* p) {
  *p = io_uring_params{};
  p->flags = flags;
  const int fd = static_cast<int>(syscall(__NR_io_uring_setup, entries, p));
  if (fd < 0) return -errno;
  ring_fd_ = fd;
  sq_map_bytes_ = p->sq_off.array + p->sq_entries * sizeof(unsigned);
  cq_map_bytes_ = p->cq_off.cqes + p->cq_entries * sizeof(io_uring_cqe);
  // Since 5.4 both rings share one mapping, as large as the larger.
  features_.single_mmap = (p->features & IORING_FEAT_SINGLE_MMAP) != 0;
  if (features_.single_mmap) sq_map_bytes_ = cq_map_bytes_ = std::max(sq_map_bytes_, cq_map_bytes_);
  sq_map_ = MapRing(fd, sq_map_bytes_, IORING_OFF_SQ_RING);
  cq_map_ = features_.single_mmap ? sq_map_ : MapRing(fd, cq_map_bytes_, IORING_OFF_CQ_RING);
  sqes_bytes_ = p->sq_entries * sizeof(io_uring_sqe);
  sqes_ = static_cast<io_uring_sqe*>(MapRing(fd, sqes_bytes_, IORING_OFF_SQES));
  if (!sq_map_ || !cq_map_ || !sqes_) {
    const int err = -errno;
    if (sqes_) munmap(sqes_, sqes_bytes_);
    if (cq_map_ && cq_map_ != sq_map_) munmap(cq_map_, cq_map_bytes_);
    if (sq_map_) munmap(sq_map_, sq_map_bytes_);
    sqes_ = nullptr;
    sq_map_ = cq_map_ = nullptr;
    ::close(ring_fd_);
    ring_fd_ = -1;
    return err;
  }
  sq_head_ = At<unsigned>(sq_map_, p->sq_off.head);
  sq_tail_ = At<unsigned>(sq_map_, p->sq_off.tail);
  sq_mask_ = *At<unsigned>(sq_map_, p->sq_off.ring_mask);
  sq_entries_ = *At<unsigned>(sq_map_, p->sq_off.ring_entries);
  // The SQ's index array maps slot i to SQE i, once: SQEs are then used in
  // ring order and the array is never written again.
  unsigned* array = At<unsigned>(sq_map_, p->sq_off.array);
  for (unsigned i = 0; i < sq_entries_; i++) array[i] = i;
  sqe_tail_ = *sq_tail_;
  cq_head_ = At<unsigned>(cq_map_, p->cq_off.head);
  cq_tail_ = At<unsigned>(cq_map_, p->cq_off.tail);
  cq_mask_ = *At<unsigned>(cq_map_, p->cq_off.ring_mask);
  cqes_ = At<io_uring_cqe>(cq_map_, p->cq_off.cqes);
  enter_fd_ = ring_fd_;
  return 0;
}

int Ring::Open(unsigned entries, bool bundles, bool incremental, Stats* stats, SysError* error) {
  stats_ = stats;
  io_uring_params p;
  // Completions are reaped only by the loop's thread (DEFER_TASKRUN, 6.1):
  // the kernel runs their work when the loop waits, in one batch, instead
  // of interrupting it. SINGLE_ISSUER, which it needs, binds the ring to the
  // thread that enables it (R_DISABLED, 5.10), and this is not that thread.
  int r = SetUp(entries, IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
                             IORING_SETUP_R_DISABLED, &p);
  features_.defer_taskrun = r == 0;
  if (r == -EINVAL) r = SetUp(entries, IORING_SETUP_SUBMIT_ALL, &p);
  if (r == 0 && !(p.features & IORING_FEAT_EXT_ARG)) r = -EOPNOTSUPP;  // waits with a timeout (5.11)
  if (r < 0) {
    error->err = r;
    error->syscall = "io_uring_setup";
    return r;
  }
  needs_enable_ = (p.flags & IORING_SETUP_R_DISABLED) != 0;
  if ((r = ProbeOps()) < 0) {
    error->err = r;
    error->syscall = "io_uring_register";
    return r;
  }
  // Incremental buffers only under capped bundles (see RecvMultishot).
  features_.bundle = bundle_offered_ = bundles && (p.features & IORING_FEAT_RECVSEND_BUNDLE) != 0 && CapsBundles();
  r = RegisterBuffers(RoundUpPow2(entries) * kBufferSize, incremental && features_.bundle, error);
  Show();
  return r;
}

// Receive bundles came in 6.10, their per-recv cap (the recv's len) in
// 6.14; 6.10 to 6.13 refuse a capped bundle with EINVAL. There is no probe
// for it but trying: on a throwaway ring, a capped multishot bundle recv on
// an empty socket either waits (the cap is known) or completes at once.
bool Ring::CapsBundles() {
  Stats scratch;
  Ring probe;
  probe.stats_ = &scratch;
  io_uring_params p;
  SysError error;
  if (probe.SetUp(2, 0, &p) < 0) return false;
  probe.features_.bundle = true;
  if (probe.RegisterBuffers(kBufferSize, false, &error) < 0) return false;
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) return false;
  probe.RecvMultishot(sv[0], MakeTag(kOpRecv, 0, 0));
  std::vector<Completion> done;
  int r = probe.SubmitAndWait(0);
  probe.Reap(&done);
  const bool capped = (r == 0 || r == -ETIME) && done.empty();
  // The probe's buffer is freed with it: its recv is over first.
  probe.CancelAll(MakeTag(kOpCancel, 0, 0));
  for (int i = 0; i < 8 && probe.InFlight() > 0 && !probe.failed(); i++) {
    if ((r = probe.SubmitAndWait(100)) < 0 && r != -ETIME && r != -EINTR) break;
    probe.Reap(&done);
  }
  ::close(sv[0]);
  ::close(sv[1]);
  return capped;
}

// The operations the loop submits (IORING_REGISTER_PROBE, 5.6): a kernel
// without one of them is refused here, with EOPNOTSUPP, rather than
// failing a request later.
int Ring::ProbeOps() {
  constexpr unsigned kOps = 256;
  std::vector<char> mem(sizeof(io_uring_probe) + kOps * sizeof(io_uring_probe_op), 0);
  auto* probe = reinterpret_cast<io_uring_probe*>(mem.data());
  const int r = Register(ring_fd_, IORING_REGISTER_PROBE, probe, kOps);
  if (r < 0) return r;
  for (unsigned op : {IORING_OP_ACCEPT, IORING_OP_RECV, IORING_OP_SEND, IORING_OP_SENDMSG, IORING_OP_READ,
                      IORING_OP_ASYNC_CANCEL}) {
    if (op > probe->last_op || !(probe->ops[op].flags & IO_URING_OP_SUPPORTED)) return -EOPNOTSUPP;
  }
  return 0;
}

// `bytes` of buffers in kBufferSize pieces or, where the kernel consumes
// them incrementally, a quarter of it in kBundleBytes ones. A quarter: the
// ring is used in FIFO order, so all of it passes through the cache, and
// incremental buffers hold only the bytes that came where a whole one
// holds 2 KiB for a 64 B message. At 64 x 64 KiB round trips 8 MiB cost
// 38 us of CPU a request, 2 MiB 25 (epoll: 23); 1 MiB ran dry, 2.2 recv
// completions a request (bench/RESULTS.md). With replies sent from the
// buffers (MayLend), same run: 4 MiB 15.1 us, 2 MiB 13.4, 1 MiB 14.2 at 3.1
// recv completions a request (epoll 16.0). The kernel has no probe for
// incremental rings but the registration itself: one that refuses the
// flag (EINVAL, before 6.12) is asked again without it, over the same
// memory.
int Ring::RegisterBuffers(unsigned bytes, bool incremental, SysError* error) {
  const unsigned most = bytes / kBufferSize;  // entries of the whole-buffer ring
  buf_ring_bytes_ = most * sizeof(ProvidedBuf);
  buffers_bytes_ = bytes;
  buf_ring_ = static_cast<ProvidedBuf*>(MapForKernel(buf_ring_bytes_));
  buffers_ = static_cast<char*>(MapForKernel(buffers_bytes_));
  if (!buf_ring_ || !buffers_) {
    error->err = -ENOMEM;
    error->syscall = "mmap";
    return error->err;
  }
  BufRingReg reg{};
  reg.ring_addr = reinterpret_cast<uint64_t>(buf_ring_);
  reg.bgid = 0;
  int r = -EINVAL;
  if (incremental) {
    const unsigned used = std::max(bytes / 4, 1u);
    buf_size_ = std::min(used, kBundleBytes);
    reg.ring_entries = used / buf_size_;
    reg.flags = IOU_PBUF_RING_INC;
    r = Register(ring_fd_, kRegisterPbufRing, &reg, 1);
    features_.incremental = r == 0;
  }
  if (r == -EINVAL) {
    buf_size_ = kBufferSize;
    reg.ring_entries = most;
    reg.flags = 0;
    r = Register(ring_fd_, kRegisterPbufRing, &reg, 1);
  }
  if (r < 0) {
    error->err = r;
    error->syscall = "io_uring_register";
    return r;
  }
  buf_count_ = reg.ring_entries;
  pins_.assign(buf_count_, 0);
  spent_.assign(buf_count_, false);
  if (features_.incremental) offset_.assign(buf_count_, 0);
  if (features_.bundle) {
    at_.assign(1u << 16, 0);
    where_.assign(buf_count_, 0);
  }
  for (unsigned i = 0; i < buf_count_; i++) Recycle(static_cast<int>(i));
  Publish();
  return 0;
}

int Ring::Enable() {
  if (needs_enable_) {
    const int r = Register(ring_fd_, IORING_REGISTER_ENABLE_RINGS, nullptr, 0);
    if (r < 0) return r;
  }
  // Saves the kernel a file lookup per io_uring_enter; only an optimisation.
  RingFdReg reg{~0u, 0, static_cast<uint64_t>(ring_fd_)};
  if (syscall(__NR_io_uring_register, ring_fd_, kRegisterRingFds, &reg, 1) == 1) {
    features_.registered_fd = true;
    enter_fd_ = static_cast<int>(reg.offset);
    enter_flags_ = IORING_ENTER_REGISTERED_RING;
    Show();
  }
  return 0;
}

void Ring::Disable() {
  if (!features_.registered_fd) return;
  RingFdReg reg{static_cast<uint32_t>(enter_fd_), 0, 0};
  syscall(__NR_io_uring_register, ring_fd_, kUnregisterRingFds, &reg, 1);  // the ring's close drops it too
  features_.registered_fd = false;
  enter_fd_ = ring_fd_;
  enter_flags_ = 0;
  Show();
}

int Ring::Enter(unsigned to_submit, unsigned min_complete, unsigned flags, const void* arg, size_t argsz) {
  Stats::add(stats_->sys.wait, 1);
  const long r = syscall(__NR_io_uring_enter, enter_fd_, to_submit, min_complete, flags | enter_flags_, arg, argsz);
  return r < 0 ? -errno : static_cast<int>(r);
}

io_uring_sqe* Ring::Sqe(uint64_t tag) {
  // The kernel moves the SQ head as it consumes entries, during Enter.
  if (sqe_tail_ - LoadAcquire(sq_head_) >= sq_entries_) {
    StoreRelease(sq_tail_, sqe_tail_);
    int r;
    do {
      r = Enter(sqe_tail_ - LoadAcquire(sq_head_), 0, 0, nullptr, 0);
    } while (r == -EINTR);
    if (r < 0 && failed_ == 0) failed_ = r;
  }
  io_uring_sqe* sqe = &spare_;
  if (sqe_tail_ - LoadAcquire(sq_head_) < sq_entries_) {
    sqe = &sqes_[sqe_tail_ & sq_mask_];
    sqe_tail_++;
    in_flight_++;
    if (TagOp(tag) != kOpSend) Stats::add(stats_->sys.ctl, 1);
  }
  // Every field the kernel reads is set: zero, unless a request sets it.
  std::memset(sqe, 0, sizeof *sqe);
  sqe->user_data = tag;
  return sqe;
}

void Ring::AcceptMultishot(int listen_fd, uint64_t tag) {
  io_uring_sqe* sqe = Sqe(tag);
  sqe->opcode = IORING_OP_ACCEPT;
  sqe->fd = listen_fd;
  sqe->accept_flags = SOCK_CLOEXEC | SOCK_NONBLOCK;
  sqe->ioprio = IORING_ACCEPT_MULTISHOT;
}

void Ring::RecvMultishot(int fd, uint64_t tag) {
  io_uring_sqe* sqe = Sqe(tag);
  sqe->opcode = IORING_OP_RECV;
  sqe->fd = fd;
  sqe->ioprio = IORING_RECV_MULTISHOT;
  sqe->flags = IOSQE_BUFFER_SELECT;
  sqe->buf_group = 0;
  // The read-ahead past the high-water mark: the loop cancels a recv in the
  // round after the completion that crossed the mark, so what one pass of
  // the kernel over the socket reads is what comes in beyond it. Single
  // buffers: the kernel retries inline while the socket has data, at most
  // 32 times (MULTISHOT_MAX_RETRY), so 32 x 2 KiB. A bundle stops the pass
  // at its cap, kBundleBytes, however large its buffers: that is why
  // incremental 64 KiB buffers are used only under capped bundles (32 of
  // them a pass would be 2 MiB).
  if (features_.bundle) {
    sqe->ioprio |= IORING_RECVSEND_BUNDLE;
    sqe->len = kBundleBytes;
  }
}

void Ring::Send(int fd, const char* data, size_t len, uint64_t tag) {
  io_uring_sqe* sqe = Sqe(tag);
  sqe->opcode = IORING_OP_SEND;
  sqe->fd = fd;
  sqe->addr = reinterpret_cast<uint64_t>(data);
  sqe->len = static_cast<uint32_t>(len);
  // MSG_WAITALL: the kernel itself goes on after a short send on a stream
  // socket, so a completion is all of it or an error.
  sqe->msg_flags = MSG_NOSIGNAL | MSG_WAITALL;
}

void Ring::SendMsg(int fd, const msghdr* msg, uint64_t tag) {
  io_uring_sqe* sqe = Sqe(tag);
  sqe->opcode = IORING_OP_SENDMSG;
  sqe->fd = fd;
  sqe->addr = reinterpret_cast<uint64_t>(msg);
  sqe->len = 1;
  sqe->msg_flags = MSG_NOSIGNAL | MSG_WAITALL;  // as Send
}

void Ring::Read(int fd, void* buf, unsigned len, uint64_t tag) {
  io_uring_sqe* sqe = Sqe(tag);
  sqe->opcode = IORING_OP_READ;
  sqe->fd = fd;
  sqe->addr = reinterpret_cast<uint64_t>(buf);
  sqe->len = len;
}

void Ring::Cancel(uint64_t target, uint64_t tag) {
  // By tag, not by fd: the kernel finds a tag in its hash of armed
  // requests, and a cancel by fd walks all of them (a stop that closed n
  // connections that way took n^2 steps).
  io_uring_sqe* sqe = Sqe(tag);
  sqe->opcode = IORING_OP_ASYNC_CANCEL;
  sqe->fd = -1;
  sqe->addr = target;
}

void Ring::CancelAll(uint64_t tag) {
  io_uring_sqe* sqe = Sqe(tag);
  sqe->opcode = IORING_OP_ASYNC_CANCEL;
  sqe->fd = -1;
  sqe->cancel_flags = IORING_ASYNC_CANCEL_ANY;
}

int Ring::SubmitAndWait(int timeout_ms) {
  StoreRelease(sq_tail_, sqe_tail_);
  const unsigned to_submit = sqe_tail_ - LoadAcquire(sq_head_);
  int r;
  if (timeout_ms < 0) {
    r = Enter(to_submit, 1, IORING_ENTER_GETEVENTS, nullptr, 0);
  } else {
    __kernel_timespec ts{timeout_ms / 1000, (timeout_ms % 1000) * 1'000'000LL};
    io_uring_getevents_arg arg{};
    arg.sigmask = 0;  // no signal mask: the loop's own stays
    arg.sigmask_sz = _NSIG / 8;
    arg.ts = reinterpret_cast<uint64_t>(&ts);
    r = Enter(to_submit, 1, IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG, &arg, sizeof arg);
  }
  return r < 0 ? r : 0;
}

void Ring::Reap(std::vector<Completion>* out) {
  out->clear();
  unsigned head = *cq_head_;
  const unsigned tail = LoadAcquire(cq_tail_);
  for (; head != tail; head++) {
    const io_uring_cqe& cqe = cqes_[head & cq_mask_];
    out->push_back({cqe.user_data, cqe.res, cqe.flags});
    Count(cqe.user_data, cqe.res);
    if (!(cqe.flags & IORING_CQE_F_MORE)) in_flight_--;
  }
  // Copied out: the kernel may reuse those entries from now on.
  StoreRelease(cq_head_, head);
}

void Ring::Count(uint64_t tag, int32_t res) {
  Stats::Counter* c;
  switch (TagOp(tag)) {
    case kOpAccept: c = &stats_->sys.accept; break;
    case kOpRecv: c = &stats_->sys.recv; break;
    case kOpSend: c = &stats_->sys.send; break;
    default: return;
  }
  Stats::add(*c, 1);
  if (res == -EAGAIN) Stats::add(stats_->sys.eagain, 1);
}

bool Ring::RefuseBundle(const Completion& e) {
  // Every recv armed before the first refusal arrives is refused as well.
  if (!bundle_offered_ || TagOp(e.tag) != kOpRecv || e.res != -EINVAL) return false;
  features_.bundle = false;
  Show();
  return true;
}

void Ring::Show() {
  shown_.store((features_.bundle ? 1u : 0u) | (features_.incremental ? 2u : 0u) |
                   (features_.defer_taskrun ? 4u : 0u) | (features_.registered_fd ? 8u : 0u) |
                   (features_.single_mmap ? 16u : 0u),
               std::memory_order_relaxed);
}

std::string Ring::Describe() const {
  const unsigned bits = shown_.load(std::memory_order_relaxed);
  std::string s;
  const char* names[] = {"bundle", "incremental", "defer-taskrun", "registered-fd", "single-mmap"};
  for (unsigned i = 0; i < 5; i++) {
    if (!(bits & (1u << i))) continue;
    if (!s.empty()) s += ' ';
    s += names[i];
  }
  return s + (s.empty() ? "" : "; ") + std::to_string(buf_count_) + " buffers of " + std::to_string(buf_size_) + " B";
}

void Ring::Recycle(int id) {
  ProvidedBuf& b = buf_ring_[buf_tail_ & (buf_count_ - 1)];
  b.addr = reinterpret_cast<uint64_t>(Buffer(id));
  b.len = buf_size_;
  b.bid = static_cast<uint16_t>(id);
  if (!offset_.empty()) offset_[static_cast<size_t>(id)] = 0;
  if (!at_.empty()) {
    at_[buf_tail_] = static_cast<uint16_t>(id);
    where_[static_cast<size_t>(id)] = buf_tail_;
  }
  buf_tail_++;
}

int Ring::Pin(const char* data) {
  const int id = static_cast<int>(static_cast<size_t>(data - buffers_) / buf_size_);
  if (pins_[static_cast<size_t>(id)]++ == 0) pinned_++;
  return id;
}

void Ring::Unpin(int id) {
  if (--pins_[static_cast<size_t>(id)] > 0) return;
  pinned_--;
  if (!spent_[static_cast<size_t>(id)]) return;
  spent_[static_cast<size_t>(id)] = false;
  Recycle(id);
  Publish();
}

void Ring::Done(int id) {
  if (pins_[static_cast<size_t>(id)] > 0) {
    spent_[static_cast<size_t>(id)] = true;
  } else {
    Recycle(id);
  }
}

void Ring::Publish() {
  // The entries above are written before the kernel can see the new tail.
  __atomic_store_n(&buf_ring_[0].resv, buf_tail_, __ATOMIC_RELEASE);
}

}  // namespace nm
