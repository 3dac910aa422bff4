// One client connection: read -> handler -> output -> write.
//
// Connection is the non-blocking form used by the event models: replies are
// sent at once when nothing is queued, and whatever the kernel does not take
// is kept in an output buffer and sent when the socket becomes writable. Above
// the high-water mark the connection stops asking to read, so a client that
// never reads cannot make the server's memory grow without bound.
//
// ServeBlocking is the blocking form used by the iterative, thread and fork
// models; it allocates nothing, so it is safe in a forked child.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/fd.h"
#include "core/handler.h"
#include "core/stats.h"

namespace nm {

class Connection final : public Output {
 public:
  Connection(int fd, HandlerKind kind, Stats* stats, size_t high_water);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  int fd() const { return fd_.get(); }

  // Reads once (level-triggered) or until EAGAIN (`drain`, edge-triggered),
  // feeding each chunk through the handler. `scratch` is the loop's shared
  // read buffer. Returns false when the connection is finished.
  bool OnReadable(char* scratch, size_t cap, bool drain);
  // Sends queued output until it is gone or the kernel pushes back.
  bool OnWritable();

  bool WantsRead() const { return !read_done_ && !failed_ && Pending() < high_water_; }
  bool WantsWrite() const { return Pending() > 0 && !failed_; }
  bool Finished() const { return failed_ || (read_done_ && Pending() == 0); }

  void emit(const char* data, size_t len) override;

  // Owned by the event loop: the interest currently registered with its
  // backend, and when the connection last made progress (idle timeout).
  uint32_t registered = 0;
  uint64_t last_active_ms = 0;

 private:
  size_t Pending() const { return out_.size() - out_off_; }
  // Sends [data, data+len); returns the bytes the kernel took.
  size_t SendSome(const char* data, size_t len);

  Fd fd_;
  HandlerState state_;
  Stats* stats_;
  size_t high_water_;
  std::vector<char> out_;
  size_t out_off_ = 0;
  bool read_done_ = false;  // peer sent EOF, or the handler asked to close
  bool failed_ = false;     // the socket is unusable: close without flushing
};

// Serves one client on a blocking socket until EOF, an error, a receive
// timeout (SO_RCVTIMEO, for idleTimeoutMs) or the handler asks to close.
// Does not close `fd`. Uses only recv/send and atomics: async-signal-safe.
void ServeBlocking(int fd, HandlerKind kind, Stats* stats, char* buf, size_t cap);

}  // namespace nm
