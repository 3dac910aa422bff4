// One thread's queue of real-time signals, as signal-driven I/O uses it
// (the sigio model): the signal sockets raise (F_SETSIG) and the thread that
// dequeues them synchronously.
//
// - The number: the highest real-time signal whose disposition is the
//   default (looked up, never changed). Default means no handler of Node,
//   libuv or the program uses it, and nobody sends it to the process (it
//   would kill it). Any number of queues may share it: a thread-directed
//   signal is queued for its thread alone, and each queue dequeues only its
//   own thread's signals.
// - Overflow: the queue is bounded by RLIMIT_SIGPENDING (counted per user).
//   When it is full the kernel sends a plain SIGIO instead, which is never
//   lost (one stays pending however many are sent), so SIGIO is dequeued
//   too and reported as `overflow`.
// Nothing here touches N-API; failures are -errno.
#pragma once

#include <signal.h>
#include <sys/signalfd.h>
#include <sys/types.h>

#include <mutex>
#include <vector>

#include "core/fd.h"
#include "core/stats.h"

namespace nm {

class SignalQueue {
 public:
  struct Signal {
    int code;  // si_code: POLL_IN...POLL_HUP from a socket, SI_QUEUE from Post()
    int fd;    // si_fd
    long band; // si_band: the poll events
  };

  // Picks the number; with `bulk`, dequeues through signalfd reads (many
  // per call) instead of sigwaitinfo (one per call). Every dequeue call is
  // counted in `waits`. 0 or -errno, with the failed call in `*syscall`.
  int Open(bool bulk, Stats::Counter* waits, const char** syscall);
  int signo() const { return sig_; }

  // On the thread that will dequeue: blocks the signal and SIGIO there and
  // lets Post() reach it. 0 or -errno.
  int Attach();
  // On that thread, at its end: from here no Post() signals it; what is
  // queued is dequeued and dropped, and the thread's mask restored.
  void Detach();
  // The attached thread (for F_SETOWN_EX); 0 before Attach().
  pid_t tid() const { return tid_; }

  // Any thread: queues the signal to the attached thread (SI_QUEUE), or a
  // plain SIGIO when the queue is full. Nothing before Attach() or after
  // Detach(). Keeps errno.
  void Post();

  // On the attached thread: waits up to `timeout_ms` (-1: forever; 0: not
  // at all) and appends what it dequeued to `out`; sets `*overflow` when a
  // SIGIO came. 0 (also on timeout) or -errno.
  int Wait(int timeout_ms, std::vector<Signal>* out, bool* overflow);
  // Dequeues and drops everything queued now, without waiting.
  void Drain();

 private:
  void Take(int signo, int code, int fd, long band, std::vector<Signal>* out, bool* overflow);

  bool bulk_ = false;
  int sig_ = 0;
  sigset_t set_;         // sig_ and SIGIO
  sigset_t saved_mask_;  // the attached thread's mask before Attach()
  Stats::Counter* waits_ = nullptr;
  pid_t pid_ = 0;
  std::mutex mu_;
  pid_t tid_ = 0;    // guarded by mu_ (written only by the attached thread)
  Fd sfd_, sfd_nb_;  // bulk: blocking, and non-blocking for timed waits and drains
  std::vector<signalfd_siginfo> batch_;
};

}  // namespace nm
