// The signal mask the addon's threads start with.
//
// Process signals (SIGINT, SIGTERM, SIGCHLD for a reaper...) belong to the
// threads that expect them: Node's own, and the reaper's. A thread created
// while a BlockAllSignals is alive inherits a mask that blocks everything,
// so no signal is ever delivered to a model, loop or load-generator thread.
#pragma once

#include <pthread.h>
#include <signal.h>

namespace nm {

class BlockAllSignals {
 public:
  BlockAllSignals() {
    sigset_t all;
    sigfillset(&all);
    err_ = pthread_sigmask(SIG_SETMASK, &all, &saved_);
  }
  ~BlockAllSignals() {
    if (err_ == 0) pthread_sigmask(SIG_SETMASK, &saved_, nullptr);  // a valid set: cannot fail
  }
  BlockAllSignals(const BlockAllSignals&) = delete;
  BlockAllSignals& operator=(const BlockAllSignals&) = delete;

  // 0, or the positive error of pthread_sigmask (then nothing was changed).
  int error() const { return err_; }
  // The mask before, for code that restores a variation of it (fork: the
  // accept thread keeps SIGCHLD blocked afterwards).
  const sigset_t& saved() const { return saved_; }

 private:
  sigset_t saved_;
  int err_;
};

}  // namespace nm
