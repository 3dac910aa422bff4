#include "core/reaper.h"

#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <chrono>
#include <system_error>

#include "core/clock.h"
#include "core/sigchld.h"
#include "core/signals.h"

#ifndef P_PIDFD
#define P_PIDFD static_cast<idtype_t>(3)
#endif

namespace nm {

namespace {

// glibc gained pidfd wrappers only in 2.36; the raw syscalls work everywhere.
int PidfdOpen(pid_t pid) { return static_cast<int>(syscall(SYS_pidfd_open, pid, 0)); }
int PidfdSendSignal(int pidfd, int sig) {
  return static_cast<int>(syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
}

// Whether pidfd_open and waitid(P_PIDFD) both work (Linux 5.3 and 5.4; some
// sandboxes refuse them). Returns 0, 1 for "unsupported", or -errno.
int ProbePidfd() {
  const int fd = PidfdOpen(getpid());
  if (fd < 0) return (errno == ENOSYS || errno == EPERM || errno == EACCES) ? 1 : -errno;
  siginfo_t info = {};
  // We are not our own child: a kernel that knows P_PIDFD says ECHILD.
  const int r = NM_RETRY(waitid(P_PIDFD, static_cast<id_t>(fd), &info, WEXITED | WNOHANG));
  const int err = r < 0 ? errno : 0;
  ::close(fd);
  return err == EINVAL || err == ENOSYS || err == EPERM ? 1 : 0;
}

Reaper::Exit Decode(pid_t pid, int code, int status) {
  if (code == CLD_EXITED) return {pid, status, -1};
  if (code == CLD_KILLED || code == CLD_DUMPED) return {pid, -1, status};
  return {pid, -1, -1};
}

}  // namespace

int Reaper::Open(Mode mode, const char** syscall) {
  mode_ = mode;
  if (mode_ == Mode::kPidfd) {
    const int r = ProbePidfd();
    if (r < 0) {
      *syscall = "pidfd_open";
      return r;
    }
    if (r == 1) mode_ = Mode::kSigchld;  // documented fallback: same guarantees, by signal
  }
  int fd = epoll_create1(EPOLL_CLOEXEC);
  if (fd < 0) {
    *syscall = "epoll_create1";
    return -errno;
  }
  epoll_.reset(fd);
  int r = wakeup_.open();
  if (r < 0) {
    *syscall = "eventfd";
    return r;
  }
  epoll_event ev = {};
  ev.events = EPOLLIN;
  ev.data.u64 = 0;  // pids are > 0, so 0 names the wakeup
  if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, wakeup_.fd(), &ev) < 0) {
    *syscall = "epoll_ctl";
    return -errno;
  }
  if (mode_ == Mode::kSigchld) {
    r = AcquireSigchld(wakeup_.fd(), &slot_);
    if (r < 0) {
      *syscall = "sigaction";
      return r;
    }
  }
  open_ = true;
  try {
    // Signals are for the threads that handle them; this one only waits.
    BlockAllSignals masked;
    thread_ = std::thread(&Reaper::Loop, this);
  } catch (const std::system_error& e) {
    Close();
    *syscall = "pthread_create";
    return -(e.code().value() ? e.code().value() : EAGAIN);
  }
  return 0;
}

void Reaper::Close() {
  if (!open_) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    closing_ = true;
  }
  wakeup_.signal();
  if (thread_.joinable()) thread_.join();
  if (mode_ == Mode::kSigchld) ReleaseSigchld(slot_);
  slot_ = -1;
  for (auto& child : children_) {
    if (child.second >= 0) ::close(child.second);
  }
  children_.clear();
  open_ = false;
}

int Reaper::Watch(pid_t pid) {
  int err = 0;
  int pidfd = -1;
  if (mode_ == Mode::kPidfd) {
    // The child cannot have been reaped yet (only we wait for it), so its
    // pid still names it even if it already exited.
    pidfd = PidfdOpen(pid);
    if (pidfd < 0) err = -errno;
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (pidfd >= 0) {
    epoll_event ev = {};
    ev.events = EPOLLIN;
    ev.data.u64 = static_cast<uint64_t>(pid);
    if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, pidfd, &ev) < 0) {
      err = -errno;
      ::close(pidfd);
      pidfd = -1;
    }
  }
  children_[pid] = pidfd;
  // A swept child must wake a thread that may be waiting without a timeout.
  const bool swept = pidfd < 0;
  if (swept && unwatched_++ == 0) wakeup_.signal();
  return err;
}

size_t Reaper::Live() {
  std::lock_guard<std::mutex> lock(mu_);
  return children_.size();
}

void Reaper::SignalAll(int sig, bool groups) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& child : children_) {
    // ESRCH: its group is gone, or was never made (the child is then
    // reached by its pid below).
    if (groups) ::kill(-child.first, sig);
    // ESRCH (already exited, waiting to be reaped) is fine; nothing else can
    // happen to our own children.
    if (child.second >= 0) {
      PidfdSendSignal(child.second, sig);
    } else {
      ::kill(child.first, sig);
    }
  }
}

int Reaper::Signal(pid_t pid, int sig) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = children_.find(pid);
  if (it == children_.end()) return -ESRCH;
  // ESRCH from the kernel (exited, not yet reaped) is fine, as in SignalAll.
  if (it->second >= 0) {
    PidfdSendSignal(it->second, sig);
  } else {
    ::kill(pid, sig);
  }
  return 0;
}

bool Reaper::WaitNone(int ms) {
  std::unique_lock<std::mutex> lock(mu_);
  auto empty = [this] { return children_.empty(); };
  if (ms < 0) {
    none_left_.wait(lock, empty);
    return true;
  }
  return none_left_.wait_for(lock, std::chrono::milliseconds(ms), empty);
}

bool Reaper::TryReap(pid_t pid, int pidfd) {
  if (pidfd >= 0) {
    siginfo_t info = {};
    const int r = NM_RETRY(waitid(P_PIDFD, static_cast<id_t>(pidfd), &info, WEXITED | WNOHANG));
    if (r == 0 && info.si_pid == 0) return false;  // still running
    // ECHILD: the kernel reaped it (SIGCHLD ignored) or someone waited for
    // it with waitpid(-1). Either way it is gone, status unknown.
    const Exit exit = r == 0 ? Decode(pid, info.si_code, info.si_status) : Exit{pid, -1, -1};
    Forget(children_.find(pid), exit);
    return true;
  }
  int status = 0;
  const pid_t r = NM_RETRY(waitpid(pid, &status, WNOHANG));
  if (r == 0) return false;
  Exit exit{pid, -1, -1};
  if (r == pid && WIFEXITED(status)) exit.exit_code = WEXITSTATUS(status);
  if (r == pid && WIFSIGNALED(status)) exit.signal = WTERMSIG(status);
  Forget(children_.find(pid), exit);
  return true;
}

void Reaper::Forget(std::unordered_map<pid_t, int>::iterator it, const Exit& exit) {
  if (it->second >= 0) {
    // Removed explicitly: a child forked meanwhile may hold a copy of the
    // pidfd, which would keep the registration alive after our close().
    epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, it->second, nullptr);
    ::close(it->second);
  } else {
    --unwatched_;
  }
  children_.erase(it);
  on_exit_(exit);
}

void Reaper::Sweep() {
  for (auto it = children_.begin(); it != children_.end();) {
    auto next = std::next(it);
    if (it->second < 0) TryReap(it->first, -1);
    it = next;
  }
}

void Reaper::Loop() {
  epoll_event events[64];
  uint64_t next_tick = tick_ ? MonotonicMs() + static_cast<uint64_t>(tick_ms_) : 0;
  for (;;) {
    int timeout;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (closing_) return;
      timeout = unwatched_ > 0 ? kSweepMs : -1;
    }
    if (tick_) {
      const uint64_t now = MonotonicMs();
      const int until = next_tick > now ? static_cast<int>(next_tick - now) : 0;
      if (timeout < 0 || until < timeout) timeout = until;
    }
    const int n = epoll_wait(epoll_.get(), events, 64, timeout);
    if (n < 0 && errno != EINTR) {
      // Cannot happen with a valid epoll fd; never spin if it does.
      PauseMs(kSweepMs);
    }
    std::lock_guard<std::mutex> lock(mu_);
    for (int i = 0; i < n; ++i) {
      if (events[i].data.u64 == 0) {
        wakeup_.drain();
        continue;
      }
      const pid_t pid = static_cast<pid_t>(events[i].data.u64);
      auto it = children_.find(pid);
      if (it != children_.end() && it->second >= 0) TryReap(pid, it->second);
    }
    // In kSigchld mode every wakeup (signal or timeout) sweeps all our pids:
    // the signal says only that some child, maybe not ours, changed state.
    if (unwatched_ > 0) Sweep();
    if (tick_ && MonotonicMs() >= next_tick) {
      tick_();
      next_tick = MonotonicMs() + static_cast<uint64_t>(tick_ms_);
    }
    if (children_.empty()) none_left_.notify_all();
  }
}

}  // namespace nm
