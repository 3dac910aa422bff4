// The accept loop shared by the blocking models (iterative, thread, fork):
// one thread blocks in accept() and hands each connection to Dispatch().
//
// Stop() wakes it without a flag-and-timeout: shutdown() on the listener makes
// a blocked accept() fail with EINVAL, and shutdown() on every client socket
// makes a blocked recv() return 0.
#pragma once

#include "core/connection.h"
#include "core/shutdown_set.h"
#include "models/model.h"

namespace nm {

class BlockingModel : public Model {
 public:
  using Model::Model;
  void Run() final;
  void Stop() override;

 protected:
  bool NonBlockingListener() const final { return false; }
  int Prepare(SysError* error) override;

  // Takes ownership of the accepted, blocking `fd`.
  virtual void Dispatch(int fd) = 0;
  // After the accept loop ends: returns once nothing is being served.
  virtual void Finish() {}

  // Serves `fd` to the end on the calling thread, counting it (in `part`
  // too, when the serving part keeps its own counters), then closes it.
  void ServeClient(int fd, char* buf, size_t cap, Stats* part = nullptr);
  // idleTimeoutMs for a blocking socket: recv() and send() give up after that long.
  void ApplyIdleTimeout(int fd);

  ShutdownSet clients_;

 private:
  Acceptor acceptor_;
};

}  // namespace nm
