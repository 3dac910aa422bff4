// Reaps the children this library forked, and only those: it never calls
// waitpid(-1) or wait(), so it cannot steal the exit status of a child that
// Node's child_process (libuv) or any other code in the process spawned.
//
// Two ways to learn that a child exited:
//   kPidfd    one pidfd per child, watched with epoll by the reaper thread and
//             reaped with waitid(P_PIDFD). No signal is involved, so nothing
//             else in the process can interfere. Needs Linux 5.4; on an older
//             kernel (or a sandbox that refuses the calls) Open() falls back
//             to kSigchld and mode() says so.
//   kSigchld  a process-wide SIGCHLD handler, shared by every Reaper in this
//             mode (installed by the first, restored by the last), that chains
//             to the previous handler and only writes to each reaper's
//             eventfd. The reaper thread then calls waitpid(pid, WNOHANG) for
//             each pid it owns. Another library may replace the handler later
//             (Node 20's libuv installs its own whenever it spawns with no
//             live child, and resets SIG_DFL when its last child is gone), so
//             the thread also sweeps its pids every kSweepMs while it has any.
//
// A child that is gone without a status (ECHILD: the host set SIGCHLD to
// SIG_IGN, so the kernel reaped it) counts as reaped, status unknown.
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "core/fd.h"
#include "core/wakeup.h"

namespace nm {

class Reaper {
 public:
  enum class Mode { kPidfd, kSigchld };

  // How a child ended: exit_code >= 0 if it exited, signal > 0 if a signal
  // killed it, both -1 when the status is unknown (ECHILD).
  struct Exit {
    pid_t pid;
    int exit_code;
    int signal;
  };
  // Runs on the reaper thread with the reaper's lock held: keep it short and
  // do not call back into the Reaper.
  using OnExit = std::function<void(const Exit&)>;

  static constexpr int kSweepMs = 100;

  explicit Reaper(OnExit on_exit) : on_exit_(std::move(on_exit)) {}
  ~Reaper() { Close(); }
  Reaper(const Reaper&) = delete;
  Reaper& operator=(const Reaper&) = delete;

  // Sets up the chosen mode and starts the reaper thread. 0 or -errno, with
  // the failing syscall's name in *syscall.
  int Open(Mode mode, const char** syscall);
  // Stops the thread and, in kSigchld mode, releases the shared handler.
  // Children still owned are left alone: call it once Live() is 0.
  void Close();

  Mode mode() const { return mode_; }

  // Takes ownership of a child just forked by the calling process. Returns 0,
  // or -errno when the child could not be given a pidfd; it is then swept
  // with waitpid(pid, WNOHANG) instead, so it is still reaped.
  int Watch(pid_t pid);

  size_t Live();
  // Sends `sig` to every child not yet reaped. Holding the lock that reaping
  // takes, so a pid is never signalled after it was reaped (and reused).
  // With `groups`, also to each child's process group, for children that
  // lead one named by their pid: a pid not yet reaped names no other group.
  void SignalAll(int sig, bool groups = false);
  // Sends `sig` to one child, under the same lock, if it is still ours.
  // 0, or -ESRCH when it was already reaped (or never watched).
  int Signal(pid_t pid, int sig);
  // Waits until no child is left, or `ms` passes (-1: forever). True if none is left.
  bool WaitNone(int ms);
  // Before Open(): the thread also runs `tick` every `ms` (about: at most
  // once per wakeup), with the lock that reaping takes held, so no child is
  // reaped while it runs. The same rules as OnExit.
  void Every(int ms, std::function<void()> tick) {
    tick_ms_ = ms;
    tick_ = std::move(tick);
  }

 private:
  void Loop();
  // Tries to reap `pid`; true if it is gone (and reported). Lock held.
  bool TryReap(pid_t pid, int pidfd);
  void Sweep();  // waitpid(pid, WNOHANG) for each child without a pidfd; lock held
  void Forget(std::unordered_map<pid_t, int>::iterator it, const Exit& exit);  // lock held

  OnExit on_exit_;
  std::function<void()> tick_;
  int tick_ms_ = -1;
  Mode mode_ = Mode::kPidfd;
  Fd epoll_;
  Wakeup wakeup_;
  int slot_ = -1;  // kSigchld: this reaper's slot in the shared handler
  bool open_ = false;
  bool closing_ = false;  // guarded by mu_
  std::thread thread_;

  std::mutex mu_;
  std::condition_variable none_left_;
  std::unordered_map<pid_t, int> children_;  // pid -> pidfd, or -1: swept
  size_t unwatched_ = 0;                      // children without a pidfd (all, in kSigchld)
};

}  // namespace nm
