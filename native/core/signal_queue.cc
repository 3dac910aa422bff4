#include "core/signal_queue.h"

#include <poll.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace nm {

namespace {

// Signals read per signalfd read().
constexpr size_t kBatch = 256;
// Dequeues per Drain() at most: signals keep coming while it runs, and what
// is left past it is only stale copies of readiness the caller rescans.
constexpr int kDrainMax = 1 << 16;

int FreeRealtimeSignal() {
  for (int sig = SIGRTMAX; sig >= SIGRTMIN; sig--) {
    struct sigaction sa;
    if (sigaction(sig, nullptr, &sa) == 0 && !(sa.sa_flags & SA_SIGINFO) && sa.sa_handler == SIG_DFL) {
      return sig;
    }
  }
  return -EBUSY;
}

}  // namespace

int SignalQueue::Open(bool bulk, Stats::Counter* waits, const char** syscall) {
  bulk_ = bulk;
  waits_ = waits;
  *syscall = "sigaction";
  if ((sig_ = FreeRealtimeSignal()) < 0) return sig_;
  sigemptyset(&set_);
  sigaddset(&set_, sig_);
  sigaddset(&set_, SIGIO);
  pid_ = getpid();
  if (!bulk_) return 0;
  *syscall = "signalfd";
  sfd_.reset(signalfd(-1, &set_, SFD_CLOEXEC));
  if (!sfd_.valid()) return -errno;
  sfd_nb_.reset(signalfd(-1, &set_, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!sfd_nb_.valid()) return -errno;
  batch_.resize(kBatch);
  return 0;
}

int SignalQueue::Attach() {
  const int r = pthread_sigmask(SIG_BLOCK, &set_, &saved_mask_);
  if (r != 0) return -r;
  std::lock_guard<std::mutex> lock(mu_);
  tid_ = static_cast<pid_t>(::syscall(SYS_gettid));
  return 0;
}

void SignalQueue::Detach() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    tid_ = 0;
  }
  Drain();
  pthread_sigmask(SIG_SETMASK, &saved_mask_, nullptr);  // a mask it returned: cannot fail
}

void SignalQueue::Post() {
  const int saved = errno;
  std::lock_guard<std::mutex> lock(mu_);
  // Under the lock: the thread cannot end (and its tid be reused) meanwhile.
  if (tid_ != 0) {
    siginfo_t si;
    memset(&si, 0, sizeof si);
    si.si_signo = sig_;
    si.si_code = SI_QUEUE;
    si.si_pid = pid_;
    si.si_uid = getuid();
    if (::syscall(SYS_rt_tgsigqueueinfo, pid_, tid_, sig_, &si) < 0) ::syscall(SYS_tgkill, pid_, tid_, SIGIO);
  }
  errno = saved;
}

int SignalQueue::Wait(int timeout_ms, std::vector<Signal>* out, bool* overflow) {
  if (!bulk_) {
    siginfo_t si;
    int r;
    if (timeout_ms < 0) {
      r = sigwaitinfo(&set_, &si);
    } else {
      const timespec ts{timeout_ms / 1000, (timeout_ms % 1000) * 1000000L};
      r = sigtimedwait(&set_, &si, &ts);
    }
    Stats::add(*waits_, 1);
    if (r < 0) return errno == EAGAIN ? 0 : -errno;
    Take(si.si_signo, si.si_code, si.si_fd, si.si_band, out, overflow);
    return 0;
  }
  // The blocking signalfd waits without a timeout; a timed wait polls the
  // non-blocking one first.
  if (timeout_ms > 0) {
    pollfd p{sfd_nb_.get(), POLLIN, 0};
    const int n = poll(&p, 1, timeout_ms);
    Stats::add(*waits_, 1);
    if (n <= 0) return n < 0 ? -errno : 0;
  }
  const ssize_t n = read(timeout_ms < 0 ? sfd_.get() : sfd_nb_.get(), batch_.data(), batch_.size() * sizeof batch_[0]);
  Stats::add(*waits_, 1);
  if (n < 0) return errno == EAGAIN ? 0 : -errno;
  for (size_t i = 0; i < static_cast<size_t>(n) / sizeof batch_[0]; i++) {
    const signalfd_siginfo& s = batch_[i];
    Take(static_cast<int>(s.ssi_signo), s.ssi_code, s.ssi_fd, static_cast<long>(s.ssi_band), out, overflow);
  }
  return 0;
}

void SignalQueue::Take(int signo, int code, int fd, long band, std::vector<Signal>* out, bool* overflow) {
  if (signo == SIGIO) {
    *overflow = true;
  } else {
    out->push_back({code, fd, band});
  }
}

void SignalQueue::Drain() {
  for (int i = 0; i < kDrainMax; i++) {
    ssize_t n;
    if (bulk_) {
      n = read(sfd_nb_.get(), batch_.data(), batch_.size() * sizeof batch_[0]);
    } else {
      siginfo_t si;
      const timespec zero{0, 0};
      n = sigtimedwait(&set_, &si, &zero);
    }
    Stats::add(*waits_, 1);
    if (n < 0 && errno != EINTR) return;
  }
}

}  // namespace nm
