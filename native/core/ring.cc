#include "core/ring.h"

#if NM_HAVE_LIBURING

#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

namespace nm {

namespace {

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

}  // namespace

Ring::~Ring() {
  // Closing the ring releases the buffer ring it pinned; the loop has
  // reaped every request before, so nothing still points into buffers_.
  if (open_) io_uring_queue_exit(&ring_);
  if (buffers_) munmap(buffers_, buffers_bytes_);
  if (buf_ring_) munmap(buf_ring_, buf_ring_bytes_);
}

int Ring::Open(unsigned entries, Stats* stats, SysError* error) {
  stats_ = stats;
  io_uring_params p{};
  // Completions are reaped only by the loop's thread (DEFER_TASKRUN, 6.1):
  // the kernel runs their work when the loop waits, in one batch, instead
  // of interrupting it. SINGLE_ISSUER, which it needs, binds the ring to the
  // thread that enables it, and this is not that thread.
  p.flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
            IORING_SETUP_R_DISABLED;
  int r = io_uring_queue_init_params(entries, &ring_, &p);
  if (r == -EINVAL) {
    p = io_uring_params{};
    p.flags = IORING_SETUP_SUBMIT_ALL;
    r = io_uring_queue_init_params(entries, &ring_, &p);
  }
  if (r < 0) {
    error->err = r;
    error->syscall = "io_uring_setup";
    return r;
  }
  open_ = true;
  needs_enable_ = (p.flags & IORING_SETUP_R_DISABLED) != 0;

  buf_count_ = RoundUpPow2(entries);
  buf_ring_bytes_ = buf_count_ * sizeof(io_uring_buf);
  buffers_bytes_ = static_cast<size_t>(buf_count_) * kBufferSize;
  buf_ring_ = static_cast<io_uring_buf_ring*>(MapForKernel(buf_ring_bytes_));
  buffers_ = static_cast<char*>(MapForKernel(buffers_bytes_));
  if (!buf_ring_ || !buffers_) {
    error->err = -ENOMEM;
    error->syscall = "mmap";
    return error->err;
  }
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<uint64_t>(buf_ring_);
  reg.ring_entries = buf_count_;
  reg.bgid = 0;
  // liburing 2.3 has io_uring_register_buf_ring, not io_uring_setup_buf_ring (2.4).
  if ((r = io_uring_register_buf_ring(&ring_, &reg, 0)) < 0) {
    error->err = r;
    error->syscall = "io_uring_register";
    return r;
  }
  io_uring_buf_ring_init(buf_ring_);
  const int mask = io_uring_buf_ring_mask(buf_count_);
  for (unsigned i = 0; i < buf_count_; i++) {
    io_uring_buf_ring_add(buf_ring_, Buffer(static_cast<int>(i)), kBufferSize,
                          static_cast<unsigned short>(i), mask, static_cast<int>(i));
  }
  io_uring_buf_ring_advance(buf_ring_, static_cast<int>(buf_count_));
  return 0;
}

int Ring::Enable() {
  // Through the syscall: liburing 2.3's shared library does not export
  // io_uring_enable_rings.
  if (needs_enable_ &&
      syscall(__NR_io_uring_register, ring_.ring_fd, IORING_REGISTER_ENABLE_RINGS, nullptr, 0) < 0) {
    return -errno;
  }
  // Saves the kernel a file lookup per io_uring_enter; only an optimisation.
  registered_fd_ = io_uring_register_ring_fd(&ring_) == 1;
  return 0;
}

void Ring::Disable() {
  if (registered_fd_) io_uring_unregister_ring_fd(&ring_);
  registered_fd_ = false;
}

io_uring_sqe* Ring::Sqe(uint64_t tag) {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  if (sqe == nullptr) {
    int r;
    do {
      r = io_uring_submit(&ring_);
      Stats::add(stats_->sys.wait, 1);
    } while (r == -EINTR);
    if (r < 0 && failed_ == 0) failed_ = r;
    sqe = io_uring_get_sqe(&ring_);
  }
  if (sqe == nullptr) return &spare_;
  in_flight_++;
  if (TagOp(tag) != kOpSend) Stats::add(stats_->sys.ctl, 1);
  io_uring_sqe_set_data64(sqe, tag);
  return sqe;
}

void Ring::AcceptMultishot(int listen_fd, uint64_t tag) {
  io_uring_sqe* sqe = Sqe(tag);
  io_uring_prep_multishot_accept(sqe, listen_fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
  io_uring_sqe_set_data64(sqe, tag);
}

void Ring::RecvMultishot(int fd, uint64_t tag) {
  io_uring_sqe* sqe = Sqe(tag);
  io_uring_prep_recv_multishot(sqe, fd, nullptr, 0, 0);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = 0;
  io_uring_sqe_set_data64(sqe, tag);
}

void Ring::Send(int fd, const char* data, size_t len, uint64_t tag) {
  io_uring_sqe* sqe = Sqe(tag);
  // MSG_WAITALL: the kernel itself goes on after a short send on a stream
  // socket, so a completion is all of it or an error.
  io_uring_prep_send(sqe, fd, data, len, MSG_NOSIGNAL | MSG_WAITALL);
  io_uring_sqe_set_data64(sqe, tag);
}

void Ring::Read(int fd, void* buf, unsigned len, uint64_t tag) {
  io_uring_sqe* sqe = Sqe(tag);
  io_uring_prep_read(sqe, fd, buf, len, 0);
  io_uring_sqe_set_data64(sqe, tag);
}

void Ring::Cancel(uint64_t target, uint64_t tag) {
  io_uring_sqe* sqe = Sqe(tag);
  io_uring_prep_cancel64(sqe, target, 0);
  io_uring_sqe_set_data64(sqe, tag);
}

void Ring::CancelFd(int fd, uint64_t tag) {
  io_uring_sqe* sqe = Sqe(tag);
  io_uring_prep_cancel_fd(sqe, fd, IORING_ASYNC_CANCEL_ALL);
  io_uring_sqe_set_data64(sqe, tag);
}

void Ring::CancelAll(uint64_t tag) {
  io_uring_sqe* sqe = Sqe(tag);
  io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
  io_uring_sqe_set_data64(sqe, tag);
}

int Ring::SubmitAndWait(int timeout_ms) {
  int r;
  if (timeout_ms < 0) {
    r = io_uring_submit_and_wait(&ring_, 1);
  } else {
    __kernel_timespec ts{timeout_ms / 1000, (timeout_ms % 1000) * 1'000'000LL};
    io_uring_cqe* cqe = nullptr;
    r = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
  }
  Stats::add(stats_->sys.wait, 1);
  return r < 0 ? r : 0;
}

void Ring::Reap(std::vector<Completion>* out) {
  out->clear();
  batch_.resize(256);
  for (;;) {
    const unsigned n = io_uring_peek_batch_cqe(&ring_, batch_.data(), static_cast<unsigned>(batch_.size()));
    for (unsigned i = 0; i < n; i++) {
      const io_uring_cqe* cqe = batch_[i];
      // liburing's own timeout request, on kernels without IORING_FEAT_EXT_ARG.
      if (cqe->user_data == LIBURING_UDATA_TIMEOUT) continue;
      out->push_back({cqe->user_data, cqe->res, cqe->flags});
      Count(cqe->user_data, cqe->res);
      if (!(cqe->flags & IORING_CQE_F_MORE)) in_flight_--;
    }
    io_uring_cq_advance(&ring_, n);
    if (n < batch_.size()) return;
  }
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

void Ring::Recycle(int id) {
  io_uring_buf_ring_add(buf_ring_, Buffer(id), kBufferSize, static_cast<unsigned short>(id),
                        io_uring_buf_ring_mask(buf_count_), 0);
  io_uring_buf_ring_advance(buf_ring_, 1);
}

}  // namespace nm

#endif  // NM_HAVE_LIBURING
