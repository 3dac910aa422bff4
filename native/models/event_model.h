// The reactor shared by the select, poll and epoll models, in the manner of
// Redis's ae.c: this base owns accepting, connections, interest bookkeeping,
// idle timeouts and shutdown; a backend file states only how it registers
// interest and how it waits.
#pragma once

#include <memory>
#include <vector>

#include "core/connection.h"
#include "models/model.h"

namespace nm {

class EventModel : public Model {
 public:
  using Model::Model;
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
  // Edge-triggered backends are drained until EAGAIN on every event.
  virtual bool EdgeTriggered() const { return false; }
  // Whether the backend can watch this fd at all (select: fd < FD_SETSIZE).
  virtual bool CanWatch(int /*fd*/) const { return true; }

 private:
  int Prepare(SysError* error) final;
  void AcceptReady();
  void Serve(Connection* c, uint32_t events);
  // Brings the registered interest in line with what `c` wants, or closes it.
  void Update(Connection* c);
  void Close(Connection* c);
  void SweepIdle();
  int WaitTimeout();

  Acceptor acceptor_;
  std::vector<std::unique_ptr<Connection>> conns_;  // indexed by fd
  std::vector<Ready> ready_;
  std::unique_ptr<char[]> scratch_;
  uint64_t now_ms_ = 0;
  uint64_t next_sweep_ms_ = 0;
};

}  // namespace nm
