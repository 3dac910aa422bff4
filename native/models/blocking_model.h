// The accept loop shared by the blocking models (iterative, thread,
// threadpool, fork):
// one thread blocks in accept() and hands each connection to Dispatch().
//
// Stop() wakes it without a flag-and-timeout: shutdown() on the listener makes
// a blocked accept() fail with EINVAL, and shutdown() on every client socket
// makes a blocked recv() return 0. An inherited listener (opt_.listen_fd) is
// never shut down (see Stop()): there the loop waits in poll() on it and an
// eventfd, and accepts without blocking.
#pragma once

#include <atomic>

#include "core/connection.h"
#include "core/shutdown_set.h"
#include "core/wakeup.h"
#include "models/model.h"

namespace nm {

class BlockingModel : public Model {
 public:
  using Model::Model;
  void Run() final;
  void Stop() override;

 protected:
  bool NonBlockingListener() const final { return Inherited(); }
  int Prepare(SysError* error) override;

  // Takes ownership of the accepted, blocking `fd`; peer() says who it is.
  // Whoever closes `fd` releases it from sources_ first (ServeClient and
  // Reject do).
  virtual void Dispatch(int fd) = 0;
  // After the accept loop ends: returns once nothing is being served.
  virtual void Finish() {}

  // Serves `fd` to the end on the calling thread, counting it (in `part`
  // too, when the serving part keeps its own counters), then closes it.
  void ServeClient(int fd, char* buf, size_t cap, Stats* part = nullptr);
  // idleTimeoutMs for a blocking socket: recv() and send() give up after that long.
  void ApplyIdleTimeout(int fd);

  // The remote address of the connection being dispatched (accept thread).
  const sockaddr_storage& peer() const { return peer_; }

  ShutdownSet clients_;

 private:
  // Serves `fd` for a JavaScript handler: the thread becomes a small event
  // loop of one connection (the socket and an inbox for JS's ops), so JS's
  // writes are sent by this thread as they come, without waiting for input.
  void ServeJs(int fd, char* buf, size_t cap);

  // Whether the listener is a duplicate of one others hold (ModelOptions::listen_fd).
  bool Inherited() const { return opt_.listen_fd >= 0; }
  // Inherited listener: waits until it is readable (true) or Stop() was called (false).
  bool AwaitListener();

  std::atomic<uint64_t> next_generation_{1};
  Wakeup stop_;  // inherited listener only: Stop() signals it
  Acceptor acceptor_;
  sockaddr_storage peer_{};
};

}  // namespace nm
