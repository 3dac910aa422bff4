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

#include "core/stats.h"

namespace nm {

// Makes the freshly forked child a clean process: every handled signal back
// to SIG_DFL (ignored ones stay ignored, as execve() does), SIGKILL when the
// forking thread dies (a killed Node process leaves no child serving; that
// thread must outlive its children), every descriptor from 3 up closed
// except `keep` (-1: none), and every signal unblocked. The parent's other
// sockets, eventfds and pidfds must not live on in the child: a listener
// kept open by a child would keep the port open after stop(). On kernels
// without close_range (before 5.9) only `must_close` is closed. The signals
// in `keep_blocked` (nullptr: none) stay blocked, so a child that handles
// one can install its handler first and unblock it after: one sent early
// stays pending instead of killing the child.
//
// Returns 0; 1 when the parent died before the child was set up (leave
// quietly); -errno when a syscall failed (count it, leave).
int PrepareChild(pid_t parent, int keep, int must_close, const sigset_t* keep_blocked = nullptr);

// A Stats block in a MAP_SHARED anonymous mapping: children count into it
// and the parent reads it at once. Created before any fork().
class SharedStats {
 public:
  SharedStats() = default;
  ~SharedStats();
  SharedStats(const SharedStats&) = delete;
  SharedStats& operator=(const SharedStats&) = delete;

  // `count` blocks, zeroed. 0 or -errno (mmap).
  int Map(size_t count = 1);
  Stats* get(size_t i = 0) const { return blocks_ + i; }

 private:
  Stats* blocks_ = nullptr;
  size_t count_ = 0;
};

}  // namespace nm
