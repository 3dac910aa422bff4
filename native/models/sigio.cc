// SigioServer: signal-driven I/O, the "RT signals" server of the C10K era
// (phhttpd, nginx's rtsig). O_ASYNC + F_SETSIG make the kernel queue a
// real-time signal whose siginfo names the fd (si_fd) and the event
// (si_band) each time a socket's state changes; the loop dequeues them
// (core/signal_queue.h: the number, the queue and how it overflows).
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
// - Overflow: when the queue is full the kernel sends a plain SIGIO with no
//   fd; the loop drains the queue, finds what is ready with one poll() over
//   every watched fd, and carries on (stats().overflows counts it).
// - The inbox's eventfd cannot raise a signal (eventfd has no fasync), so a
//   post queues the signal to the loop's thread itself; the rescan watches
//   the inbox for the posts an overflow hid.
// - Leaving: the listener's flags, signal and owner are put back (it may be
//   an inherited socket), the thread's queue is drained and its mask restored.
#include <fcntl.h>
#include <poll.h>

#include <atomic>

#include "core/signal_queue.h"
#include "models/event_model.h"

namespace nm {

namespace {

class SigioModel final : public EventModel {
 public:
  explicit SigioModel(const ModelOptions& options)
      : EventModel(options), bulk_(options.String("dequeue") == "signalfd") {}

  void Counters(std::vector<std::pair<const char*, uint64_t>>* out) override {
    out->push_back({"overflows", overflows_.load(std::memory_order_relaxed)});
  }

 private:
  struct Watch {
    uint32_t mask = 0;   // the interest the loop asked for; 0: not watched
    bool armed = false;  // O_ASYNC, signal and owner set on the open file
    uint64_t round = 0;  // the wait that last put it in `ready`...
    size_t slot = 0;     // ...at this index
  };

  int BackendOpen(SysError* error) override {
    const char* syscall = nullptr;
    if (int r = queue_.Open(bulk_, &stats_->sys.wait, &syscall); r < 0) return error->set(r, syscall);
    inbox_.Notify([this] { queue_.Post(); });
    return 0;
  }

  int BackendEnter() override {
    int r = queue_.Attach();
    if (r < 0) return r;
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
    const int lfd = listener_.get();
    if (lfd >= 0 && static_cast<size_t>(lfd) < watch_.size() && watch_[lfd].armed) {
      Stats::add(stats_->sys.ctl, 3);
      if (fcntl(lfd, F_SETFL, listener_flags_) < 0 || fcntl(lfd, F_SETSIG, listener_sig_) < 0 ||
          fcntl(lfd, F_SETOWN_EX, &listener_owner_) < 0) {
        ReportError(-errno, "fcntl");
      }
    }
    queue_.Detach();
  }

  int BackendSet(int fd, uint32_t, uint32_t mask) override {
    if (watch_.size() <= static_cast<size_t>(fd)) watch_.resize(static_cast<size_t>(fd) + 1);
    Watch& w = watch_[fd];
    const uint32_t gained = mask & ~w.mask;
    w.mask = mask;
    // The inbox is told by Post(); before the loop's thread is known,
    // BackendEnter() does the rest.
    if (fd == inbox_.fd() || queue_.tid() == 0) return 0;
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
    f_owner_ex owner{F_OWNER_TID, queue_.tid()};
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
    if (fcntl(fd, F_SETSIG, queue_.signo()) < 0 || fcntl(fd, F_SETOWN_EX, &owner) < 0 ||
        fcntl(fd, F_SETFL, flags | O_ASYNC) < 0) {
      return -errno;
    }
    return 0;
  }

  int BackendWait(int timeout_ms, std::vector<Ready>* ready) override {
    ready->clear();
    round_++;
    for (const Ready& r : recheck_) Add(ready, r.fd, r.events);
    recheck_.clear();
    bool overflow = false;
    signals_.clear();
    int r = queue_.Wait(ready->empty() ? timeout_ms : 0, &signals_, &overflow);
    if (r < 0) return r;
    if (overflow) {
      overflows_.fetch_add(1, std::memory_order_relaxed);
      queue_.Drain();
      return Rescan(ready);
    }
    for (const SignalQueue::Signal& s : signals_) {
      if (s.code == SI_QUEUE) {
        Add(ready, inbox_.fd(), kRead);
      } else if (s.code >= POLL_IN && s.code <= POLL_HUP && s.fd >= 0 && static_cast<size_t>(s.fd) < watch_.size()) {
        // A signal for an fd closed since (and maybe reused) is served once
        // more at worst: its recv finds EAGAIN.
        const Watch& w = watch_[s.fd];
        uint32_t events = FromPoll(s.band) & (w.mask | kError);
        if (w.mask == 0 || events == 0) continue;
        // The peer's FIN is signalled as POLL_IN, like data (POLL_HUP only
        // once both directions are shut), so a read signal carries no
        // hang-up as EPOLLRDHUP would. One read signal alone is safe: data
        // signalled before it was read in an earlier round. Two in one
        // batch (signalfd dequeues many) may be data and then that FIN;
        // merged into one event without kError, the read stops once the
        // data is taken (Serve's stop_when_empty) and leaves the FIN unread,
        // while its only signal is already spent: the connection would
        // never see the EOF. So a second read signal reads to EAGAIN.
        if ((events & kRead) && w.round == round_ && ((*ready)[w.slot].events & kRead)) events |= kError;
        Add(ready, s.fd, events);
      }
    }
    return 0;
  }

  static uint32_t FromPoll(long band) {
    return ((band & (POLLIN | POLLRDNORM | POLLPRI)) ? kRead : 0) | ((band & (POLLOUT | POLLWRNORM)) ? kWrite : 0) |
           ((band & (POLLERR | POLLHUP | POLLRDHUP | POLLNVAL)) ? kError : 0);
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
      if (p.revents != 0) Add(ready, p.fd, FromPoll(p.revents));
    }
    return 0;
  }

  bool EdgeTriggered() const override { return true; }
  const char* WaitSyscall() const override { return bulk_ ? "read" : "sigwaitinfo"; }
  const char* WatchSyscall() const override { return "fcntl"; }

  const bool bulk_;  // dequeue: 'signalfd'
  SignalQueue queue_;
  std::vector<SignalQueue::Signal> signals_;
  std::vector<Watch> watch_;  // by fd
  std::vector<Ready> recheck_;
  std::vector<pollfd> pfds_;
  uint64_t round_ = 0;
  std::atomic<uint64_t> overflows_{0};
  int listener_flags_ = 0;
  int listener_sig_ = 0;
  f_owner_ex listener_owner_{};
};

}  // namespace

NM_REGISTER_MODEL("sigio", SigioModel);

}  // namespace nm
