// What a connection served by JavaScript (HandlerKind::kJs) keeps besides
// its HandlerState::js, and the rules it follows for JS's ops and for what it
// reports back. Shared by both connection kinds (Connection, which makes its
// own syscalls, and RingConnection, fed completions): they differ in how
// bytes move, not in what JS's ops mean.
#pragma once

#include <cstddef>

#include "core/handler.h"
#include "core/js_sink.h"

namespace nm {

// Where a JS connection's writes go. Bytes JS still holds (JsBytes::keep)
// may be queued as they are rather than copied: a write of hundreds of MiB
// to a slow reader is then in memory once, not twice. By default they are
// copied.
class JsOutput : public Output {
 public:
  virtual void Hold(const JsBytes& bytes) { emit(bytes.data(), bytes.size()); }

 protected:
  ~JsOutput() = default;
};

class JsSide {
 public:
  // Serves `state`'s input to `sink`; the output stays open until JS ends it.
  void Attach(HandlerState* state, JsSink* sink, ConnRef ref, size_t high_water) {
    state->js.sink = sink;
    state->js.ref = ref;
    state->js.high_water = high_water;
    output_open_ = true;
  }

  // Takes one op of a JS turn (`ops` holds the bytes it names): credits the
  // input JS consumed (ending a wait for it: *waiting cleared once below
  // the high-water mark), writes to `out`, notes pause, resume and end;
  // kDestroy sets *failed; socket options are set on `fd`. The connection
  // then calls ShutIfFlushed().
  void Apply(int fd, const JsOps::Op& op, const JsOps& ops, JsState* js, JsOutput& out, bool* waiting,
             bool* failed);
  // After JS's end(), once `pending` is 0: shuts the write side of `fd`.
  // Sets *failed when that fails.
  void ShutIfFlushed(int fd, size_t pending, bool* failed);
  // Tells JS what changed since the last report: the end of input
  // (`input_ended`), the output all sent (when asked), the write side shut.
  void Report(const JsState& js, bool input_ended, size_t pending);

  bool paused() const { return paused_; }
  // JS has not ended its side yet: the peer's EOF alone does not finish the
  // connection.
  bool output_open() const { return output_open_; }

 private:
  bool paused_ = false;        // JS paused reading
  bool output_open_ = false;   // JS has not ended its side yet
  bool shut_pending_ = false;  // JS ended: shut the write side once flushed
  bool output_shut_ = false;   // ... and it is shut
  bool drain_wanted_ = false;  // JS asked for Drained once the output is all sent
  bool ended_sent_ = false;    // what Report() last told JS
  bool shut_sent_ = false;
};

}  // namespace nm
