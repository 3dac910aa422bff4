// What the readiness loops (EventModel: select, poll, epoll) and the
// completion loop (uring) share: the connection table addressed by
// (fd, generation), the inbox, the JS handler's attach and ops, the idle and
// linger sweeps and the accept pause. `Conn` is Connection or RingConnection;
// a loop states only how it serves, updates and closes one.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "core/inbox.h"
#include "core/loop_thread.h"
#include "models/model.h"

namespace nm {

template <class Conn>
class LoopBase : public Model {
 public:
  using Model::Model;
  // One posted message: the loop ends after the round that drains it.
  void Stop() final {
    inbox_.Post([this] { stopping_ = true; });
  }
  // Runs `fn` on the loop's thread (thread-safe). Everything another thread
  // does to this loop goes through here.
  void Post(std::function<void()> fn) { inbox_.Post(std::move(fn)); }
  // A connection accepted elsewhere (non-blocking): served by this loop.
  void Adopt(int fd) final {
    inbox_.Post([this, fd] { AddConnection(fd); });
  }

 protected:
  // Brings what the loop asks of the kernel for `c` in line with what `c`
  // wants, or closes it.
  virtual void Update(Conn* c) = 0;
  // Starts closing `c` (a sweep, the stop).
  virtual void Close(Conn* c) = 0;
  // `c` made progress (a JS op): note it and bring it up to date.
  virtual void Touch(Conn* c) = 0;
  // Accepting again once kAcceptPauseMs after a pause is over.
  virtual void ResumeAccepting() = 0;
  // Whether the loop can serve this fd at all (select: fd < FD_SETSIZE).
  virtual bool CanWatch(int /*fd*/) const { return true; }
  // Whether `c` is already closing (and must not be touched again).
  virtual bool Closing(const Conn* /*c*/) const { return false; }

  // Acceptor, inbox and the JS attach; called from the loop's Prepare().
  int OpenLoop(SysError* error);
  // Serves a new connection, or rejects it (no room, or not watchable).
  virtual void AddConnection(int fd);
  // On the loop's thread: the connection `ref` names, or null if it is gone
  // (its fd may since have been reused by a newer connection).
  Conn* Find(ConnRef ref) const {
    AssertInLoop(__func__);
    if (ref.fd < 0 || static_cast<size_t>(ref.fd) >= conns_.size()) return nullptr;
    Conn* c = conns_[ref.fd].get();
    return c != nullptr && c->ref().generation == ref.generation ? c : nullptr;
  }
  // Counts `c` as lingering once it starts to.
  void NoteLinger(Conn* c) {
    AssertInLoop(__func__);
    if (c->Lingering() && !c->linger_counted) {
      c->linger_counted = true;
      c->linger_since_ms = now_ms_;
      lingering_++;
    }
  }
  // The last of `c`: its counts and its slot (its fd is closed with it).
  void Forget(Conn* c);
  // The end of a round: due timers, then one call into JS.
  void EndRound() {
    AssertInLoop(__func__);
    if (TimersActive()) RunTimers();
    if (js_ != nullptr) js_->Flush();
  }
  // After the loop: takes in what was handed over after the stop message,
  // and closes every connection.
  void CloseAll();
  // Milliseconds until the next timer is due; -1: none.
  int TimerTimeout() const;
  void PauseAccepting() { accept_resume_ms_ = now_ms_ + kAcceptPauseMs; }
  // Counts an accept that failed with `err`. True when it shed (out of
  // descriptors, the acceptor took the connection with its reserve fd and
  // closed it): go on accepting. False: accepting must pause (nothing could
  // be shed, or another error, which is reported).
  bool AcceptFailed(int err, bool shed);

  // The loop's thread, once Run() entered it: methods only it may call
  // (the table, timers, JS ops: everything "on the loop's thread") assert
  // it in the sanitizer build.
  void AssertInLoop(const char* what) const { loop_thread_.Assert(what); }

  LoopThread loop_thread_;
  Acceptor acceptor_;
  Inbox inbox_;
  JsSink* js_ = nullptr;  // handler kJs: this loop's outbox to JS
  bool stopping_ = false;
  std::vector<std::unique_ptr<Conn>> conns_;  // indexed by fd
  // The loop's clock (CoarseMonotonicMs), read once per round before any
  // event is handled: every deadline and timestamp of the loop uses it.
  uint64_t now_ms_ = 0;
  uint64_t accept_resume_ms_ = 0;  // 0: accepting (or there is no listener)

 private:
  // On the loop's thread: what one JS turn asked of this loop's connections.
  void ApplyJs(const JsOps& ops);
  bool TimersActive() const { return opt_.idle_timeout_ms || accept_resume_ms_ || lingering_; }
  void RunTimers();

  uint64_t next_generation_ = 1;
  uint64_t next_sweep_ms_ = 0;
  size_t lingering_ = 0;  // connections with linger_counted set
};

}  // namespace nm
