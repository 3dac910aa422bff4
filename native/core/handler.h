// The protocols a server speaks. A handler is a pure function of its input
// and a small fixed-size state: no allocation, no locks, no stdio, so the same
// code runs in a forked child (which may only run async-signal-safe code)
// and in every event loop.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/http.h"
#include "core/js_sink.h"
#include "core/output.h"

namespace nm {

// kJs: the bytes go to a JavaScript handler through the connection's loop,
// which fills in HandlerState::js.
enum class HandlerKind : uint8_t { kUppercase, kEcho, kDiscard, kHttp, kJs };

// A connection served by a JavaScript handler: its input goes to the sink,
// and reading stops once `unacked` (delivered, not yet taken by JS) reaches
// the high-water mark. Never used in a forked child.
struct JsState {
  JsSink* sink = nullptr;
  ConnRef ref{-1, 0};
  uint64_t unacked = 0;
  uint64_t high_water = 0;
};

struct HandlerState {
  HandlerKind kind = HandlerKind::kUppercase;
  HttpState http;
  JsState js;
};

// What the connection does after a chunk of input was handled.
enum class Verdict : uint8_t {
  kMore,   // go on reading
  kClose,  // close once the output is flushed (HTTP "Connection: close");
           // input after that point is ignored
  kWait,   // read nothing more until the connection is resumed: the answer
           // comes from elsewhere (another thread). The built-in handlers
           // never wait; only a handler that hands input to another thread does.
};

// What a verdict asks of the connection that got it: to close once flushed,
// or to stop reading until resumed. Both connection kinds keep these flags.
inline void NoteVerdict(Verdict v, bool* closing, bool* waiting) {
  if (v == Verdict::kClose) *closing = true;
  if (v == Verdict::kWait) *waiting = true;
}

// Consumes `len` bytes of input (which it may rewrite in place) and emits the
// replies. kClose once the connection must close after its output is
// flushed (HTTP "Connection: close", or a request the server refused); input
// after that point is ignored, and later calls emit nothing and answer kClose.
Verdict Handle(HandlerState& state, char* data, size_t len, Output& out);

// "uppercase" | "echo" | "discard" | "http" | "js" -> kind; false if unknown.
bool ParseHandlerKind(const char* name, HandlerKind* kind);

}  // namespace nm
