#include "core/child.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

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

}  // namespace

int PrepareChild(pid_t parent, int keep, int must_close, const sigset_t* keep_blocked) {
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
  const int err = keep >= 3 ? CloseRange(3, static_cast<unsigned>(keep) - 1) : 0;
  if (err < 0 || CloseRange(keep >= 3 ? keep + 1 : 3, ~0u) < 0) {
    if (must_close >= 0 && must_close != keep) ::close(must_close);
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
}

void ChildGroup::Outlived(pid_t pgid) {
  std::lock_guard<std::mutex> lock(outlived_mu_);
  outlived_.erase(std::remove_if(outlived_.begin(), outlived_.end(),
                                 [](pid_t g) { return ::kill(-g, 0) < 0 && errno == ESRCH; }),
                  outlived_.end());
  if (::kill(-pgid, 0) == 0) outlived_.push_back(pgid);
}

bool ChildGroup::SignalOutlived(int sig) {
  std::lock_guard<std::mutex> lock(outlived_mu_);
  bool any = false;
  for (pid_t g : outlived_) any |= ::kill(-g, sig) == 0;
  return any;
}

}  // namespace nm
