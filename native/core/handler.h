// The protocols a server speaks. A handler is a pure function of its input
// and a small fixed-size state: no allocation, no locks, no stdio, so the same
// code runs in a forked child (which may only run async-signal-safe code)
// and in every event loop.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/js_sink.h"

namespace nm {

// kJs: the bytes go to a JavaScript handler through the connection's loop,
// which fills in HandlerState::js.
enum class HandlerKind : uint8_t { kUppercase, kEcho, kDiscard, kHttp, kJs };

// Where a handler's replies go. emit() either sends now or queues; the
// connection decides. Implementations must be async-signal-safe when used in
// a forked child.
class Output {
 public:
  virtual void emit(const char* data, size_t len) = 0;

 protected:
  ~Output() = default;
};

// Where an HTTP/1.1 request stream stands. The parser (handler.cc, RFC 9112)
// reads one byte at a time and never buffers input, so this is all the
// memory a connection's HTTP parsing ever takes, whatever the client sends.
// Every field is handler.cc's to interpret.
struct HttpState {
  uint64_t body_left = 0;       // content or chunk-data bytes still to skip
  uint64_t number = 0;          // the Content-Length or chunk size being read
  uint64_t content_length = 0;  // the request's Content-Length, once seen
  uint32_t line_len = 0;        // bytes of the request line or chunk-size line
  uint32_t section_len = 0;     // bytes of the header or trailer section
  uint16_t fields = 0;          // fields in the header or trailer section
  uint8_t phase = 0;            // which part of the request is being read
  uint8_t step = 0;             // where inside the current line
  uint8_t value_step = 0;       // where inside a field value or list element
  uint8_t pos = 0;              // bytes matched of a name, element or version (saturates)
  uint8_t match = 0;            // bit set: known names or list elements still matching
  uint8_t field = 0;            // which known header the current line is
  uint8_t te_codings = 0;       // transfer codings listed (saturates)
  bool cr = false;              // a CR was read: only LF may follow
  bool http10 = false;          // the request line said HTTP/1.0
  bool head = false;            // the method is HEAD: the reply has no body
  bool close = false;           // a "close" connection option
  bool keep_alive = false;      // a "keep-alive" connection option
  bool cl_seen = false;         // a Content-Length field was read
  bool te_seen = false;         // a Transfer-Encoding field was read
  bool te_other = false;        // a transfer coding other than chunked was listed
  bool expect_continue = false; // "Expect: 100-continue"
};

// The limits a request must keep (bytes exclude the line's CRLF). Beyond
// them the reply is an error and the connection closes.
constexpr uint32_t kHttpMaxRequestLine = 8192;       // 414 URI Too Long
constexpr uint32_t kHttpMaxHeaderSection = 16384;    // 431, header fields with their CRLFs
constexpr uint16_t kHttpMaxHeaderFields = 100;       // 431
constexpr uint32_t kHttpMaxChunkLine = 4096;         // 400, chunk size with extensions

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
