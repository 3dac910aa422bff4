// HTTP/1.1 request framing (RFC 9112) for the built-in "http" handler. The
// reply is fixed, so the parser's only job is to find where each request
// ends, exactly as a proxy in front of this server would: anything whose
// framing is ambiguous is refused with an error reply and the connection
// closes, so one byte stream can never be read as a different sequence of
// requests here and there. The reply to a request goes out once the whole
// request (body included) has been read.
//
// Strictness that follows from that: lines end in CRLF (a bare CR or LF is
// an error); no whitespace before a field's colon or at the start of a field
// line (obs-fold); field values hold no control bytes but HTAB; the only
// transfer coding is chunked, alone, and never beside Content-Length or in
// an HTTP/1.0 request; Content-Length is 1*DIGIT, and repeated only with
// the same value.
//
// Like every built-in handler it allocates nothing, takes no lock and
// writes no stdio, so it runs in a forked child as in an event loop.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/output.h"

namespace nm {

// Where an HTTP/1.1 request stream stands. The parser (http.cc)
// reads one byte at a time and never buffers input, so this is all the
// memory a connection's HTTP parsing ever takes, whatever the client sends.
// Every field is http.cc's to interpret.
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

// Reads `len` bytes of a request stream and emits the replies to the
// requests completed in them. False once the connection must close after
// its output is flushed ("Connection: close", or a request refused with an
// error reply); input after that point is ignored, and later calls emit
// nothing and answer false. The same bytes cut anywhere give the same
// replies.
bool HandleHttp(HttpState& state, const char* data, size_t len, Output& out);

}  // namespace nm
