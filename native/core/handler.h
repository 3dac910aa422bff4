// The protocols a server speaks. A handler is a pure function of its input
// and a small fixed-size state: no allocation, no locks, no stdio, so the same
// code runs in a forked child (which may only run async-signal-safe code)
// and in every event loop.
#pragma once

#include <cstddef>
#include <cstdint>

namespace nm {

enum class HandlerKind : uint8_t { kUppercase, kEcho, kDiscard, kHttp };

// Where a handler's replies go. emit() either sends now or queues; the
// connection decides. Implementations must be async-signal-safe when used in
// a forked child.
class Output {
 public:
  virtual void emit(const char* data, size_t len) = 0;

 protected:
  ~Output() = default;
};

struct HttpState {
  uint64_t body_left = 0;       // request body bytes still to skip
  uint64_t content_length = 0;  // of the request being parsed
  uint32_t line_len = 0;        // bytes of the current line so far
  uint32_t line_no = 0;         // 0 while reading the request line
  bool http10 = false;          // request line ended in HTTP/1.0
  bool close = false;           // "Connection: close" seen
  bool keep_alive = false;      // "Connection: keep-alive" seen
  char head[32];                // first bytes of the current line, lowercased
  char tail[8];                 // last bytes of the current line (ring)
};

struct HandlerState {
  HandlerKind kind = HandlerKind::kUppercase;
  HttpState http;
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

// Consumes `len` bytes of input (which it may rewrite in place) and emits the
// replies.
Verdict Handle(HandlerState& state, char* data, size_t len, Output& out);

// "uppercase" | "echo" | "discard" | "http" -> kind; false if unknown.
bool ParseHandlerKind(const char* name, HandlerKind* kind);

}  // namespace nm
