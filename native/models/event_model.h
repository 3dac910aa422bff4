// The reactor shared by the select, poll and epoll models, in the manner of
// Redis's ae.c: this base owns accepting, connections, interest bookkeeping,
// idle timeouts and shutdown; a backend file states only how it registers
// interest and how it waits.
#pragma once

#include <memory>
#include <vector>

#include "core/connection.h"
#include "core/inbox.h"
#include "models/model.h"

namespace nm {

class EventModel : public Model {
 public:
  using Model::Model;
  void Run() final;
  // One posted message: the loop ends after the round that drains it.
  void Stop() final {
    inbox_.Post([this] { stopping_ = true; });
  }
  // Runs `fn` on the loop's thread (thread-safe). Everything another thread
  // does to this loop goes through here.
  void Post(std::function<void()> fn) { inbox_.Post(std::move(fn)); }
  // A connection accepted elsewhere (non-blocking): served by this loop.
  void Adopt(int fd) final;

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
  // Edge-triggered backends are drained until EAGAIN on every event.
  virtual bool EdgeTriggered() const { return false; }
  // The syscalls named in errors: waiting, and changing interest.
  virtual const char* WaitSyscall() const = 0;
  virtual const char* WatchSyscall() const = 0;
  // Whether the backend can watch this fd at all (select: fd < FD_SETSIZE).
  virtual bool CanWatch(int /*fd*/) const { return true; }

  // On the loop's thread: the connection `ref` names, or null if it is gone
  // (its fd may since have been reused by a newer connection).
  Connection* Find(ConnRef ref) const {
    if (ref.fd < 0 || static_cast<size_t>(ref.fd) >= conns_.size()) return nullptr;
    Connection* c = conns_[ref.fd].get();
    return c != nullptr && c->ref().generation == ref.generation ? c : nullptr;
  }
  // On the loop's thread: ends the wait of a connection whose handler said
  // Verdict::kWait, if it still exists.
  void Resume(ConnRef ref) {
    if (Connection* c = Find(ref)) {
      c->Resume();
      Update(c);
    }
  }

 private:
  // On the loop's thread: what one JS turn asked of this loop's connections.
  void ApplyJs(const JsOps& ops);

  int Prepare(SysError* error) final;
  void AcceptReady();
  // Serves a new connection, or rejects it (no room, or not watchable).
  void AddConnection(int fd);
  // Stops watching the listener for kAcceptPauseMs: an accept that fails
  // without taking the connection off the queue would otherwise wake us at once.
  void SuspendAccepting();
  void Serve(Connection* c, uint32_t events);
  // Brings the registered interest in line with what `c` wants, or closes it.
  void Update(Connection* c);
  void Close(Connection* c);
  void RunTimers();
  int WaitTimeout() const;
  bool TimersActive() const { return opt_.idle_timeout_ms || accept_resume_ms_ || lingering_; }

  Acceptor acceptor_;
  Inbox inbox_;
  JsSink* js_ = nullptr;  // handler kJs: this loop's outbox to JS
  bool stopping_ = false;
  std::vector<std::unique_ptr<Connection>> conns_;  // indexed by fd
  uint64_t next_generation_ = 1;
  std::vector<Ready> ready_;
  // Edge-triggered connections whose read budget ran out before EAGAIN:
  // no new edge will come for the data they still hold, so they are
  // served again after this round's events (fairness without losing data).
  // Kept by reference: one may be closed and its fd reused meanwhile.
  std::vector<ConnRef> revisit_;
  std::vector<ConnRef> revisit_now_;
  std::unique_ptr<char[]> scratch_;
  // The loop's clock (CoarseMonotonicMs), read once per round before any
  // event is handled: every deadline and timestamp of the loop uses it.
  uint64_t now_ms_ = 0;
  uint64_t next_sweep_ms_ = 0;
  uint64_t accept_resume_ms_ = 0;  // 0: the listener is watched
  size_t lingering_ = 0;           // connections with linger_counted set
};

}  // namespace nm
