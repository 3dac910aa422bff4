#include "core/child.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>

namespace nm {

namespace {

// How long stopping lets children leave after SIGTERM before SIGKILL.
constexpr int kGraceMs = 500;
constexpr int kGraceStepMs = 10;

// close_range over [first, last]; an empty range is nothing to do. By the
// kernel header's number: glibc's SYS_ names lag the kernel's (glibc 2.31,
// the prebuilds' floor, has no SYS_close_range).
int CloseRange(int first, unsigned last) {
  if (first < 0 || static_cast<unsigned>(first) > last) return 0;
  return syscall(__NR_close_range, static_cast<unsigned>(first), last, 0u) < 0 ? -errno : 0;
}

// Every descriptor from 3 up but `a` and `b` (-1: none); 0 or the first -errno.
int CloseAllBut(int a, int b) {
  if (a > b) std::swap(a, b);
  int first = 3, err = 0;
  for (const int keep : {a, b}) {
    if (keep < first) continue;  // none, below 3, or the same fd twice
    const int r = CloseRange(first, static_cast<unsigned>(keep) - 1);
    if (err == 0) err = r;
    first = keep + 1;
  }
  const int r = CloseRange(first, ~0u);
  return err != 0 ? err : r;
}

}  // namespace

int PrepareChild(pid_t parent, int keep, int must_close, const sigset_t* keep_blocked, int keep_also) {
  // Signals 32 and 33 belong to glibc (EINVAL): skipped by the failed query.
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    struct sigaction current;
    if (sigaction(sig, nullptr, &current) < 0) continue;
    if (!(current.sa_flags & SA_SIGINFO) &&
        (current.sa_handler == SIG_DFL || current.sa_handler == SIG_IGN)) {
      continue;
    }
    struct sigaction dfl = {};
    dfl.sa_handler = SIG_DFL;
    if (sigaction(sig, &dfl, nullptr) < 0) return -errno;
  }
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0) return -errno;
  if (getppid() != parent) return 1;  // the parent died before prctl
  if (CloseAllBut(keep, keep_also) < 0) {
    if (must_close >= 0 && must_close != keep && must_close != keep_also) ::close(must_close);
  }
  sigset_t mask;
  sigemptyset(&mask);
  const int r = pthread_sigmask(SIG_SETMASK, keep_blocked != nullptr ? keep_blocked : &mask, nullptr);
  return r == 0 ? 0 : -r;
}

int CatchInChild(int sig, void (*handler)(int)) {
  struct sigaction sa = {};
  sa.sa_handler = handler;
  if (sigaction(sig, &sa, nullptr) < 0) return -errno;
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  const int r = pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  return -r;
}

int ChildGroup::Open(size_t blocks, const std::string& mode, const char** syscall) {
  *syscall = "mmap";
  int r = shared_.Map(blocks);
  if (r < 0) return r;
  r = reaper_.Open(mode == "sigchld" ? Reaper::Mode::kSigchld : Reaper::Mode::kPidfd, syscall);
  if (r == 0) Stats::add(stats()->sys.clone, 1);  // the reaper's thread
  return r;
}

void ChildGroup::StopAll(bool groups) {
  SignalOutlived(SIGTERM);
  if (reaper_.Live() > 0) {
    reaper_.SignalAll(SIGTERM, groups);
    while (!reaper_.WaitNone(kGraceMs)) reaper_.SignalAll(SIGKILL, groups);
  }
  // Not our children: nothing to wait for but their going. The same grace,
  // in short steps, then SIGKILL.
  for (int waited = 0; SignalOutlived(0) && waited < kGraceMs; waited += kGraceStepMs) {
    PauseMs(kGraceStepMs);
  }
  SignalOutlived(SIGKILL);
  reaper_.Close();
  ForgetIdle();
}

void ChildGroup::Outlived(pid_t pgid) {
  {
    std::lock_guard<std::mutex> lock(outlived_mu_);
    outlived_.erase(std::remove_if(outlived_.begin(), outlived_.end(),
                                   [](pid_t g) { return ::kill(-g, 0) < 0 && errno == ESRCH; }),
                    outlived_.end());
    if (::kill(-pgid, 0) == 0) outlived_.push_back(pgid);
  }
  std::lock_guard<std::mutex> lock(idle_mu_);
  for (Watched& w : watched_) {
    if (w.pgid == pgid) w.leader_gone = true;
  }
  if (!watched_.empty()) CheckIdle();  // an empty group's socket is closed at once
}

void ChildGroup::EndWhenIdle(uint32_t ms) {
  idle_ms_ = ms;
  if (ms == 0) return;
  reaper_.Every(static_cast<int>(std::min<uint32_t>(std::max<uint32_t>(ms / 4, 10), 100)), [this] {
    std::lock_guard<std::mutex> lock(idle_mu_);
    CheckIdle();
  });
}

int ChildGroup::WatchIdle(pid_t pgid, int fd) {
  if (idle_ms_ == 0) return 0;
  const int copy = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  if (copy < 0) return -errno;
  std::lock_guard<std::mutex> lock(idle_mu_);
  watched_.push_back({pgid, copy, 0, false});
  return 0;
}

void ChildGroup::CheckIdle() {
  const uint64_t now = MonotonicMs();
  for (auto it = watched_.begin(); it != watched_.end();) {
    Watched& w = *it;
    // Its number is free for reuse from here on: forgotten before it can
    // name another group.
    if (w.leader_gone && ::kill(-w.pgid, 0) < 0 && errno == ESRCH) {
      ::close(w.fd);
      it = watched_.erase(it);
      continue;
    }
    ++it;
    if (w.ended_ms != 0) {
      if (now - w.ended_ms >= static_cast<uint64_t>(kGraceMs)) ::kill(-w.pgid, SIGKILL);
      continue;
    }
    tcp_info info{};
    socklen_t len = sizeof info;
    // Fails only for a socket that is not TCP (an inherited listener of
    // another family): no idle time to read, so it is left alone.
    if (getsockopt(w.fd, IPPROTO_TCP, TCP_INFO, &info, &len) < 0) continue;
    if (std::min(info.tcpi_last_data_recv, info.tcpi_last_data_sent) < idle_ms_) continue;
    // ENOTCONN: the peer is gone already, which the group will see too.
    ::shutdown(w.fd, SHUT_RDWR);
    ::kill(-w.pgid, SIGTERM);
    w.ended_ms = now;
  }
}

void ChildGroup::ForgetIdle() {
  std::lock_guard<std::mutex> lock(idle_mu_);
  for (const Watched& w : watched_) ::close(w.fd);
  watched_.clear();
}

bool ChildGroup::SignalOutlived(int sig) {
  std::lock_guard<std::mutex> lock(outlived_mu_);
  bool any = false;
  for (pid_t g : outlived_) any |= ::kill(-g, sig) == 0;
  return any;
}

}  // namespace nm
