// What a child forked from this multi-threaded process does before it serves
// a client or execs a program, and the counters it shares with its parent.
//
// Between fork() and _exit()/execve() the child may only run
// async-signal-safe code: another thread may have held the malloc lock, a V8
// lock or a stdio lock at the moment of the fork, and that lock stays held
// forever in the child. So everything here is raw syscalls on memory that
// existed before fork().
#pragma once

#include <signal.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/reaper.h"
#include "core/shared_array.h"
#include "core/stats.h"

namespace nm {

// Makes the freshly forked child a clean process: every handled signal back
// to SIG_DFL (ignored ones stay ignored, as execve() does), SIGKILL when the
// forking thread dies (a killed Node process leaves no child serving; that
// thread must outlive its children), every descriptor from 3 up closed
// except `keep` and `keep_also` (-1: none), and every signal unblocked. The
// parent's other sockets, eventfds and pidfds must not live on in the
// child: a listener kept open by a child would keep the port open after
// stop(). On kernels without close_range (before 5.9) only `must_close` is
// closed. The signals in `keep_blocked` (nullptr: none) stay blocked, so a
// child that handles one can install its handler first and unblock it
// after: one sent early stays pending instead of killing the child.
//
// Returns 0; 1 when the parent died before the child was set up (leave
// quietly); -errno when a syscall failed (count it, leave).
int PrepareChild(pid_t parent, int keep, int must_close, const sigset_t* keep_blocked = nullptr,
                 int keep_also = -1);

// In a child that PrepareChild() left with `sig` blocked: runs `handler` on
// it, without SA_RESTART so that it interrupts a blocking call, and unblocks
// it. 0 or -errno; async-signal-safe.
int CatchInChild(int sig, void (*handler)(int));

// The children a process model (fork, prefork) forks: the counters they
// share with it (block 0 the totals), the reaper that waits for exactly
// them, and how they are stopped. Used from the model's thread; `on_exit`
// runs on the reaper thread, so whatever it touches must outlive this.
class ChildGroup {
 public:
  explicit ChildGroup(Reaper::OnExit on_exit) : reaper_(std::move(on_exit)) {}
  ~ChildGroup() {
    reaper_.Close();  // before the counters it reports into go away
    ForgetIdle();
  }

  // Maps `blocks` zeroed Stats blocks and starts the reaper (`mode`:
  // "sigchld", else pidfd). 0 or -errno, the failing syscall in *syscall.
  int Open(size_t blocks, const std::string& mode, const char** syscall);
  Stats* stats(size_t i = 0) const { return shared_.get(i); }
  Reaper& reaper() { return reaper_; }
  // What the reaper really does: after a pidfd -> sigchld fallback this
  // differs from what was asked.
  const char* mode() const { return reaper_.mode() == Reaper::Mode::kPidfd ? "pidfd" : "sigchld"; }

  // fork() from a model thread (every signal blocked, and so the child until
  // PrepareChild() resets the dispositions). The child runs `child(parent)`,
  // which never returns; the parent gets the pid, or -errno after a short
  // pause (EAGAIN from RLIMIT_NPROC, ENOMEM) so a shortage cannot spin it.
  template <class F>
  pid_t Fork(F&& child) {
    const pid_t parent = getpid();
    const pid_t pid = fork();
    if (pid == 0) child(parent);
    Stats::add(stats()->sys.fork, 1);
    if (pid > 0) return pid;
    const int err = errno;
    PauseMs(kForkBackOffMs);
    return -err;
  }
  // Hands a forked child to the reaper. Without a pidfd it is swept
  // instead: counted as an error, still reaped.
  void Watch(pid_t pid) {
    if (reaper_.Watch(pid) < 0) Stats::add(stats()->errors, 1);
  }
  // Once nothing forks any more: asks every child to leave (SIGTERM),
  // insists after a grace period (SIGKILL), returns once all are reaped
  // and the reaper thread is gone. With `groups` (children that lead a
  // process group each, named by their pid), their groups get the same
  // signals, and so do the groups that outlived their leader (Outlived):
  // what a program started in the background goes with it.
  void StopAll(bool groups = false);
  // `pgid`, the group of a child just reaped, is remembered while it still
  // has members, for StopAll(). From the reaper thread.
  void Outlived(pid_t pgid);

  // Before Open(): the connections of children that lead a group each
  // (exec) are watched for `ms` without data either way (TCP_INFO's last
  // data sent and received), and one found idle is ended: the socket shut
  // both ways (the client gets EOF at once, whoever else holds it), the
  // group sent SIGTERM, then SIGKILL after the stop grace. A program's own
  // socket timeout cannot do it: what it left in the background holds the
  // socket without reading it. The check runs on the reaper's thread every
  // ms/4 (10 to 100 ms), so the bound is `ms` plus that period.
  void EndWhenIdle(uint32_t ms);
  // After fork(), for a child leading group `pgid` and serving `fd`: keeps
  // a copy of the socket (close-on-exec) until the group is gone. While
  // what the program left in the background outlives it, the client's EOF
  // waits for the next check after the last of them exits. 0, or -errno
  // from the dup (the connection is then not watched).
  int WatchIdle(pid_t pgid, int fd);

 private:
  static constexpr uint64_t kForkBackOffMs = 20;
  // Signals the outliving groups still there; true if any was.
  bool SignalOutlived(int sig);
  // The idle check (reaper thread, its lock held), and the copies of the
  // sockets closed once nothing is left to watch.
  void CheckIdle();
  void ForgetIdle();
  SharedArray<Stats> shared_;
  Reaper reaper_;
  std::mutex outlived_mu_;
  // Groups whose leader was reaped. Pruned of empty ones as leaders exit:
  // a group's number is free for reuse once its last member is gone, and a
  // stale entry could then name someone else's group.
  std::vector<pid_t> outlived_;

  struct Watched {
    pid_t pgid;
    int fd;             // the parent's copy of the client socket
    uint64_t ended_ms;  // when it was found idle and ended; 0 while it is not
    bool leader_gone;   // the child that leads the group was reaped
  };
  uint32_t idle_ms_ = 0;
  std::mutex idle_mu_;  // WatchIdle on the model's thread, the rest on the reaper's
  std::vector<Watched> watched_;
};

}  // namespace nm
