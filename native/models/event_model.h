// The reactor shared by the select, poll and epoll models, in the manner of
// Redis's ae.c: this base owns accepting, interest bookkeeping and serving
// (LoopBase the connections, timers and inbox); a backend file states only
// how it registers interest and how it waits.
#pragma once

#include <memory>
#include <vector>

#include "core/connection.h"
#include "models/loop_base.h"

namespace nm {

class EventModel : public LoopBase<Connection> {
 public:
  using LoopBase::LoopBase;
  void Run() final;

 protected:
  static constexpr uint32_t kRead = 1;
  static constexpr uint32_t kWrite = 2;
  static constexpr uint32_t kError = 4;  // error or hang-up: let recv/send tell which

  struct Ready {
    int fd;
    uint32_t events;
  };

  // 0 or -errno; called once from Open().
  virtual int BackendOpen(SysError* error) = 0;
  // Sets the interest for `fd` from `old_mask` (0: not registered yet) to a
  // non-zero `new_mask`. 0 or -errno.
  virtual int BackendSet(int fd, uint32_t old_mask, uint32_t new_mask) = 0;
  // `fd` is about to be closed.
  virtual void BackendForget(int fd, uint32_t old_mask) = 0;
  // Waits (timeout -1: forever) and fills `ready`; returns 0 or -errno.
  virtual int BackendWait(int timeout_ms, std::vector<Ready>* ready) = 0;
  // On the loop's thread, before the first wait and after every connection
  // is closed: a backend whose kernel state belongs to the waiting thread
  // (sigio: signals routed to it) sets it up and takes it down there.
  // Enter: 0 or -errno (the loop then serves nothing and ends).
  virtual int BackendEnter() { return 0; }
  virtual void BackendLeave() {}
  // Edge-triggered backends are drained until EAGAIN on every event.
  virtual bool EdgeTriggered() const { return false; }
  // The syscalls named in errors: waiting, and changing interest.
  virtual const char* WaitSyscall() const = 0;
  virtual const char* WatchSyscall() const = 0;

  // On the loop's thread: ends the wait of a connection whose handler said
  // Verdict::kWait, if it still exists.
  void Resume(ConnRef ref) {
    if (Connection* c = Find(ref)) {
      c->Resume();
      Update(c);
    }
  }

 private:
  int Prepare(SysError* error) final;
  void AcceptReady();
  // Stops watching the listener for kAcceptPauseMs: an accept that fails
  // without taking the connection off the queue would otherwise wake us at once.
  void SuspendAccepting();
  void Serve(Connection* c, uint32_t events);
  // Brings the registered interest in line with what `c` wants, or closes it.
  void Update(Connection* c) final;
  void Close(Connection* c) final;
  void Touch(Connection* c) final {
    SlotOf(c).last_active_ms = now_ms_;
    Update(c);
  }
  void ResumeAccepting() final;

  std::vector<Ready> ready_;
  // Edge-triggered connections whose read budget ran out before EAGAIN:
  // no new edge will come for the data they still hold, so they are
  // served again after this round's events (fairness without losing data).
  // Kept by reference: one may be closed and its fd reused meanwhile.
  std::vector<ConnRef> revisit_;
  std::vector<ConnRef> revisit_now_;
  std::unique_ptr<char[]> scratch_;
};

}  // namespace nm
