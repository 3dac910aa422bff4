// SigioServer: signal-driven I/O, the "RT signals" server of the C10K era
// (phhttpd, nginx's rtsig). O_ASYNC + F_SETSIG make the kernel queue a
// real-time signal whose siginfo names the fd (si_fd) and the event
// (si_band) each time a socket's state changes; the loop dequeues them.
//
// Contracts:
// - Edge-like: a signal is queued per change (a segment arriving, space
//   freed after a send met EAGAIN), never for a state that persists, so the
//   loop drains to EAGAIN with a budget and a revisit list (EdgeTriggered),
//   and every fd newly watched or whose interest grows is served once
//   without a signal (data may have come before O_ASYNC, or while reading
//   was paused).
// - Routing: every fd's signal goes to the loop's own thread (F_SETOWN_EX,
//   F_OWNER_TID), which blocks it and dequeues it synchronously:
//   sigwaitinfo() one signal per wait ('sigwait'), or read() of a signalfd,
//   many per call ('signalfd'). Node's threads never see it.
// - The number: the highest real-time signal whose disposition is the
//   default (looked up, never changed). Default means no handler of Node,
//   libuv or the program uses it, and nobody sends it to the process (it
//   would kill it). Every loop, of this server or another, may use the same
//   number: a thread-directed signal is queued for its thread alone, and
//   each loop dequeues only its own thread's queue.
// - Overflow: the queue is bounded (RLIMIT_SIGPENDING, counted per user).
//   When full, the kernel sends a plain SIGIO with no fd instead; then the
//   loop drains the queue, finds what is ready with one poll() over every
//   watched fd, and carries on (stats().overflows counts it).
// - The inbox's eventfd cannot raise a signal (eventfd has no fasync), so
//   a post queues the same signal to the loop's thread itself (SI_QUEUE),
//   or, when the queue is full, a plain SIGIO: the rescan watches the inbox.
// - Leaving: the listener's flags, signal and owner are put back (it may be
//   an inherited socket), the thread's queue is drained and its mask restored.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <mutex>

#include "models/event_model.h"

namespace nm {

namespace {

// Signals read per signalfd read().
constexpr size_t kBatch = 256;
// Dequeues per drain at most: past it, what is left is only stale copies
// of readiness the rescan has already seen.
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

class SigioModel final : public EventModel {
 public:
  explicit SigioModel(const ModelOptions& options)
      : EventModel(options), bulk_(options.String("dequeue") == "signalfd") {}

  void Counters(std::vector<std::pair<const char*, uint64_t>>* out) override {
    out->push_back({"overflows", overflows_.load(std::memory_order_relaxed)});
  }

 private:
  struct Watch {
    uint32_t mask = 0;      // the interest the loop asked for; 0: not watched
    bool armed = false;     // O_ASYNC, signal and owner set on the open file
    uint64_t round = 0;     // the wait that last put it in `ready`...
    size_t slot = 0;        // ...at this index
  };

  int BackendOpen(SysError* error) override {
    if ((sig_ = FreeRealtimeSignal()) < 0) return error->set(sig_, "sigaction");
    sigemptyset(&set_);
    sigaddset(&set_, sig_);
    sigaddset(&set_, SIGIO);
    if (bulk_) {
      sfd_.reset(signalfd(-1, &set_, SFD_CLOEXEC));
      if (!sfd_.valid()) return error->set(-errno, "signalfd");
      sfd_nb_.reset(signalfd(-1, &set_, SFD_CLOEXEC | SFD_NONBLOCK));
      if (!sfd_nb_.valid()) return error->set(-errno, "signalfd");
      batch_.resize(kBatch);
    }
    pid_ = getpid();
    inbox_.Notify([this] { Kick(); });
    return 0;
  }

  int BackendEnter() override {
    int r = pthread_sigmask(SIG_BLOCK, &set_, &saved_mask_);
    if (r != 0) return -r;
    {
      std::lock_guard<std::mutex> lock(kick_mu_);
      tid_ = static_cast<pid_t>(syscall(SYS_gettid));
    }
    for (size_t fd = 0; fd < watch_.size(); fd++) {
      const uint32_t mask = watch_[fd].mask;
      if (mask == 0) continue;
      watch_[fd].mask = 0;
      if ((r = BackendSet(static_cast<int>(fd), 0, mask)) < 0) return r;
    }
    // What was posted before the thread was known signalled nothing.
    recheck_.push_back({inbox_.fd(), kRead});
    return 0;
  }

  void BackendLeave() override {
    {
      std::lock_guard<std::mutex> lock(kick_mu_);
      tid_ = 0;  // from here no post can signal this thread
    }
    const int lfd = listener_.get();
    if (lfd >= 0 && static_cast<size_t>(lfd) < watch_.size() && watch_[lfd].armed) {
      Stats::add(stats_->sys.ctl, 3);
      if (fcntl(lfd, F_SETFL, listener_flags_) < 0 || fcntl(lfd, F_SETSIG, listener_sig_) < 0 ||
          fcntl(lfd, F_SETOWN_EX, &listener_owner_) < 0) {
        ReportError(-errno, "fcntl");
      }
    }
    Drain();
    pthread_sigmask(SIG_SETMASK, &saved_mask_, nullptr);
  }

  int BackendSet(int fd, uint32_t, uint32_t mask) override {
    if (watch_.size() <= static_cast<size_t>(fd)) watch_.resize(static_cast<size_t>(fd) + 1);
    Watch& w = watch_[fd];
    const uint32_t gained = mask & ~w.mask;
    w.mask = mask;
    // The inbox is told by Kick(); before the loop's thread is known,
    // BackendEnter() does the rest.
    if (fd == inbox_.fd() || tid_ == 0) return 0;
    if (!w.armed) {
      if (int r = Arm(fd); r < 0) return r;
      w.armed = true;
    }
    if (gained) recheck_.push_back({fd, ((gained & kRead) ? kRead | kError : 0) | (gained & kWrite)});
    return 0;
  }

  // A connection's file is about to be closed, which ends its signals; the
  // listener keeps its settings while accepting pauses.
  void BackendForget(int fd, uint32_t) override {
    Watch& w = watch_[fd];
    w.mask = 0;
    if (fd != listener_.get()) w.armed = false;
  }

  int Arm(int fd) {
    f_owner_ex owner{F_OWNER_TID, tid_};
    // Accepted sockets are O_NONBLOCK and nothing else F_SETFL changes;
    // the listener may be inherited: its flags are read, and kept to restore.
    int flags = O_NONBLOCK;
    if (fd == listener_.get()) {
      Stats::add(stats_->sys.ctl, 3);
      if ((flags = fcntl(fd, F_GETFL)) < 0 || (listener_sig_ = fcntl(fd, F_GETSIG)) < 0 ||
          fcntl(fd, F_GETOWN_EX, &listener_owner_) < 0) {
        return -errno;
      }
      listener_flags_ = flags;
    }
    // Signal and owner before O_ASYNC: the first signal is already ours.
    Stats::add(stats_->sys.ctl, 3);
    if (fcntl(fd, F_SETSIG, sig_) < 0 || fcntl(fd, F_SETOWN_EX, &owner) < 0 ||
        fcntl(fd, F_SETFL, flags | O_ASYNC) < 0) {
      return -errno;
    }
    return 0;
  }

  // Any thread: the inbox has something for the loop.
  void Kick() {
    const int saved = errno;
    std::lock_guard<std::mutex> lock(kick_mu_);
    if (tid_ != 0) {
      siginfo_t si;
      memset(&si, 0, sizeof si);
      si.si_signo = sig_;
      si.si_code = SI_QUEUE;
      si.si_pid = pid_;
      si.si_uid = getuid();
      // EAGAIN: the queue is full; a plain SIGIO is never lost (one stays
      // pending however many are sent) and makes the loop rescan.
      if (syscall(SYS_rt_tgsigqueueinfo, pid_, tid_, sig_, &si) < 0) syscall(SYS_tgkill, pid_, tid_, SIGIO);
    }
    errno = saved;
  }

  int BackendWait(int timeout_ms, std::vector<Ready>* ready) override {
    ready->clear();
    round_++;
    for (const Ready& r : recheck_) Add(ready, r.fd, r.events);
    recheck_.clear();
    if (!ready->empty()) timeout_ms = 0;
    overflow_ = false;
    int r = bulk_ ? ReadSignalfd(timeout_ms, ready) : SigWait(timeout_ms, ready);
    if (r < 0) return r;
    if (overflow_) {
      overflows_.fetch_add(1, std::memory_order_relaxed);
      Drain();
      return Rescan(ready);
    }
    return 0;
  }

  int SigWait(int timeout_ms, std::vector<Ready>* ready) {
    siginfo_t si;
    int r;
    if (timeout_ms < 0) {
      r = sigwaitinfo(&set_, &si);
    } else {
      timespec ts{timeout_ms / 1000, (timeout_ms % 1000) * 1000000L};
      r = sigtimedwait(&set_, &si, &ts);
    }
    Stats::add(stats_->sys.wait, 1);
    if (r < 0) return errno == EAGAIN ? 0 : -errno;
    Take(si.si_signo, si.si_code, si.si_fd, si.si_band, ready);
    return 0;
  }

  int ReadSignalfd(int timeout_ms, std::vector<Ready>* ready) {
    // The blocking signalfd waits without a timeout; a timed wait polls
    // the non-blocking one first.
    if (timeout_ms > 0) {
      pollfd p{sfd_nb_.get(), POLLIN, 0};
      const int n = poll(&p, 1, timeout_ms);
      Stats::add(stats_->sys.wait, 1);
      if (n <= 0) return n < 0 ? -errno : 0;
    }
    const ssize_t n = read(timeout_ms < 0 ? sfd_.get() : sfd_nb_.get(), batch_.data(),
                           batch_.size() * sizeof batch_[0]);
    Stats::add(stats_->sys.wait, 1);
    if (n < 0) return errno == EAGAIN ? 0 : -errno;
    for (size_t i = 0; i < static_cast<size_t>(n) / sizeof batch_[0]; i++) {
      const signalfd_siginfo& s = batch_[i];
      Take(static_cast<int>(s.ssi_signo), s.ssi_code, s.ssi_fd, static_cast<long>(s.ssi_band), ready);
    }
    return 0;
  }

  void Take(int signo, int code, int fd, long band, std::vector<Ready>* ready) {
    if (signo == SIGIO) {
      overflow_ = true;
    } else if (code == SI_QUEUE) {
      Add(ready, inbox_.fd(), kRead);
    } else if (code >= POLL_IN && code <= POLL_HUP && fd >= 0 && static_cast<size_t>(fd) < watch_.size()) {
      // A signal for an fd closed since (and maybe reused) is served once
      // more at worst: its recv finds EAGAIN.
      const uint32_t events = FromPoll(band) & (watch_[fd].mask | kError);
      if (watch_[fd].mask != 0 && events != 0) Add(ready, fd, events);
    }
  }

  static uint32_t FromPoll(long band) {
    return ((band & (POLLIN | POLLRDNORM | POLLPRI)) ? kRead : 0) | ((band & (POLLOUT | POLLWRNORM)) ? kWrite : 0) |
           ((band & (POLLERR | POLLHUP | POLLRDHUP)) ? kError : 0);
  }

  // One entry per fd per wait: a batch may name an fd many times.
  void Add(std::vector<Ready>* ready, int fd, uint32_t events) {
    Watch& w = watch_[fd];
    if (w.round == round_) {
      (*ready)[w.slot].events |= events;
      return;
    }
    w.round = round_;
    w.slot = ready->size();
    ready->push_back({fd, events});
  }

  // Dequeues everything queued for this thread, without waiting.
  void Drain() {
    for (int i = 0; i < kDrainMax; i++) {
      ssize_t n;
      if (bulk_) {
        n = read(sfd_nb_.get(), batch_.data(), batch_.size() * sizeof batch_[0]);
      } else {
        siginfo_t si;
        const timespec zero{0, 0};
        n = sigtimedwait(&set_, &si, &zero);
      }
      Stats::add(stats_->sys.wait, 1);
      if (n < 0 && errno != EINTR) return;
    }
  }

  // What the lost signals would have said: one poll() over every watched fd.
  int Rescan(std::vector<Ready>* ready) {
    pfds_.clear();
    for (size_t fd = 0; fd < watch_.size(); fd++) {
      const uint32_t m = watch_[fd].mask;
      if (m == 0) continue;
      pfds_.push_back({static_cast<int>(fd),
                       static_cast<short>(((m & kRead) ? POLLIN | POLLRDHUP : 0) | ((m & kWrite) ? POLLOUT : 0)), 0});
    }
    const int n = poll(pfds_.data(), pfds_.size(), 0);
    Stats::add(stats_->sys.wait, 1);
    if (n < 0) return -errno;
    ready->clear();
    round_++;
    for (const pollfd& p : pfds_) {
      if (p.revents != 0) Add(ready, p.fd, FromPoll(p.revents) | ((p.revents & POLLNVAL) ? kError : 0));
    }
    return 0;
  }

  bool EdgeTriggered() const override { return true; }
  const char* WaitSyscall() const override { return bulk_ ? "read" : "sigwaitinfo"; }
  const char* WatchSyscall() const override { return "fcntl"; }

  const bool bulk_;  // dequeue: 'signalfd'
  int sig_ = 0;
  sigset_t set_;          // sig_ and SIGIO
  sigset_t saved_mask_;   // the thread's mask before BackendEnter
  pid_t pid_ = 0;
  std::mutex kick_mu_;
  pid_t tid_ = 0;  // the loop's thread while it runs; guarded by kick_mu_ (written by the loop only)
  Fd sfd_, sfd_nb_;  // signalfd: blocking, and non-blocking for timed waits and drains
  std::vector<signalfd_siginfo> batch_;
  std::vector<Watch> watch_;  // by fd
  std::vector<Ready> recheck_;
  std::vector<pollfd> pfds_;
  uint64_t round_ = 0;
  bool overflow_ = false;
  std::atomic<uint64_t> overflows_{0};
  int listener_flags_ = 0;
  int listener_sig_ = 0;
  f_owner_ex listener_owner_{};
};

}  // namespace

NM_REGISTER_MODEL("sigio", SigioModel);

}  // namespace nm
