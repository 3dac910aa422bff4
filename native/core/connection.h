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

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

#include "core/fd.h"
#include "core/handler.h"
#include "core/js_side.h"
#include "core/stats.h"

namespace nm {

// Errors a client causes by going away; they end a connection quietly
// (not counted in stats().errors).
inline bool PeerGone(int err) { return err == ECONNRESET || err == EPIPE || err == ETIMEDOUT; }

// What both kinds of loop connection (Connection, RingConnection) are: the
// socket and its generation, the handler's state, the JS side, and the
// protocol state whose rules they share.
class ConnectionBase : public JsOutput {
 public:
  ConnectionBase(const ConnectionBase&) = delete;
  ConnectionBase& operator=(const ConnectionBase&) = delete;

  int fd() const { return fd_.get(); }
  ConnRef ref() const { return {fd_.get(), generation_}; }
  // A connection served by JavaScript (HandlerKind::kJs). Its output stays
  // open until JS ends it, so the peer's EOF alone does not finish it.
  void AttachJs(JsSink* sink) { js_.Attach(&state_, sink, ref(), high_water_); }
  // The handler asked to close and the reply is out: the write side is shut
  // and input is being discarded until the peer closes.
  bool Lingering() const { return lingering_; }

 protected:
  ConnectionBase(int fd, uint64_t generation, HandlerKind kind, Stats* stats, size_t high_water)
      : fd_(fd), generation_(generation), stats_(stats), high_water_(high_water) {
    state_.kind = kind;
  }
  ~ConnectionBase() = default;

  // Whether reading may go on while the peer has `backlog` bytes to take:
  // until EOF or failure; while lingering, to discard; otherwise unless
  // closing, waiting, paused by JS or above the high-water mark.
  bool MayRead(size_t backlog) const {
    return !read_done_ && !failed_ &&
           (lingering_ || (!closing_ && !waiting_ && !js_.paused() && backlog < high_water_));
  }

  Fd fd_;
  uint64_t generation_;
  HandlerState state_;
  JsSide js_;  // kJs only
  Stats* stats_;
  size_t high_water_;
  bool read_done_ = false;  // the peer sent EOF
  bool closing_ = false;    // the handler asked to close once output is flushed
  bool waiting_ = false;    // the handler asked to wait: no reading until Resume()
  bool lingering_ = false;  // closing, flushed, write side shut: discarding input
  bool failed_ = false;     // the socket is unusable: close without flushing
  int error_ = 0;           // the errno of the recv or send that failed, if one did

 public:
  // What broke the connection: 0, or the errno a recv or send failed with.
  int Error() const { return error_; }
};

class Connection final : public ConnectionBase {
 public:
  Connection(int fd, uint64_t generation, HandlerKind kind, Stats* stats, size_t high_water)
      : ConnectionBase(fd, generation, kind, stats, high_water) {
    live_.fetch_add(1, std::memory_order_relaxed);
  }
  // Frees the output buffer and, after a burst, gives freed memory back to
  // the system (see ReturnFreed in connection.cc).
  ~Connection();

  // Gives the fd back to the caller, who closes it (a blocking model's
  // connection thread, which must unregister it first).
  int ReleaseFd() { return fd_.release(); }

  // Reads up to `max_reads` times (1 for level-triggered loops; more for
  // edge-triggered ones, which must reach EAGAIN) feeding each chunk through
  // the handler. `scratch` is the loop's shared read buffer. Returns false
  // when the connection is finished. If the budget ran out before EAGAIN,
  // MoreToRead() is true, and an edge-triggered loop must come back without
  // a new event (a level-triggered one is told again by its backend).
  // `stop_when_empty`: the caller knows no end of stream or error is pending
  // (an edge-triggered event without a hang-up), so a read that leaves the
  // receive queue empty ends the loop as EAGAIN would; data that comes later
  // raises a new edge. Empty: by the kernel's count of bytes left when the
  // socket reports it (TCP_INQ, see ReportQueuedBytes()), else by a read
  // shorter than `cap`.
  bool OnReadable(char* scratch, size_t cap, int max_reads, bool stop_when_empty = false);
  // Sends queued output until it is gone or the kernel pushes back.
  bool OnWritable();
  // Ends a wait the handler asked for (Verdict::kWait): reading may go on.
  // The loop then brings the interest up to date (an edge-triggered
  // backend re-checks readiness when read interest is re-armed).
  void Resume() { waiting_ = false; }

  bool IsJs() const { return state_.kind == HandlerKind::kJs; }
  // One op of a JS turn for this connection (`ops` holds the bytes it names).
  void Apply(const JsOps::Op& op, const JsOps& ops) {
    js_.Apply(fd_.get(), op, ops, &state_.js, *this, &waiting_, &failed_);
    js_.ShutIfFlushed(fd_.get(), Pending(), &failed_);
  }
  // Tells JS what changed since the last report: end of input, output all
  // sent (when asked), the write side shut after end().
  void ReportToJs() { js_.Report(state_.js, read_done_, Pending()); }

  bool WantsRead() const { return MayRead(Backlog()); }
  bool WantsWrite() const { return Pending() > 0 && !failed_; }
  bool Finished() const { return failed_ || (read_done_ && !js_.output_open() && Pending() == 0); }
  bool MoreToRead() const { return more_to_read_ && WantsRead(); }

  void emit(const char* data, size_t len) override;
  // A JS write JS still holds: what the kernel does not take at once is
  // queued as it is (held_), not copied.
  void Hold(const JsBytes& bytes) override;

 private:
  size_t Queued() const { return out_.size() - out_off_; }
  size_t Pending() const { return Queued() + held_bytes_ - held_off_; }
  // What this connection holds that the peer has not read: pending output,
  // plus input a JS handler was given and has not taken yet (its replies
  // are still to come).
  size_t Backlog() const { return Pending() + state_.js.unacked; }
  // Sends [data, data+len); returns the bytes the kernel took.
  size_t SendSome(const char* data, size_t len);
  void Linger();

  // Connections alive in this process, to know when the last of a burst is gone.
  static std::atomic<uint64_t> live_;

  std::vector<char> out_;
  size_t out_off_ = 0;
  // Output after out_, in order: JS writes sent from JS's memory, and
  // whatever was emitted after one of them (copied into `own`, after it).
  // Empty unless a held write did not go out at once.
  std::deque<JsBytes> held_;
  size_t held_off_ = 0;    // bytes of held_.front() sent
  size_t held_bytes_ = 0;  // bytes in held_
  bool more_to_read_ = false;  // the last OnReadable() stopped on its budget or on backpressure
  bool fills_buffer_ = false;  // a read has filled the loop's buffer: ask for the count of bytes left
};

// How long a connection the server closes may linger discarding input.
constexpr uint64_t kLingerMs = 2000;

// Serves one client on a blocking socket until EOF, an error, a timeout
// (SO_RCVTIMEO/SO_SNDTIMEO, for idleTimeoutMs) or the handler asks to close
// (then it lingers, as Connection does). Does not close `fd`. Uses only
// syscalls and atomics: async-signal-safe. `kind` is a built-in handler,
// which never answers Verdict::kWait. A part of a model that keeps its own
// counters as well (a pool thread, a prefork child) passes them as `part`:
// every byte, read, write and error is counted in both blocks.
void ServeBlocking(int fd, HandlerKind kind, Stats* stats, char* buf, size_t cap,
                   Stats* part = nullptr);

// SO_RCVTIMEO and SO_SNDTIMEO of `ms` on a blocking socket (idleTimeoutMs):
// recv() and send() give up after that long. 0 or -errno; async-signal-safe.
int SetIdleTimeout(int fd, uint32_t ms);

}  // namespace nm
