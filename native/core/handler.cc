#include "core/handler.h"

#include <cstring>

namespace nm {

namespace {

constexpr char kBody[] = "Hello, world\n";
#define NM_HTTP_HEAD "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n"
constexpr char kKeepAlive[] = NM_HTTP_HEAD "\r\nHello, world\n";
constexpr char kKeepAlive10[] = NM_HTTP_HEAD "Connection: keep-alive\r\n\r\nHello, world\n";
constexpr char kClose[] = NM_HTTP_HEAD "Connection: close\r\n\r\nHello, world\n";
#undef NM_HTTP_HEAD
static_assert(sizeof kBody - 1 == 13, "Content-Length must match the body");

// ASCII toupper without the locale lookup, written so the compiler vectorises it.
void Uppercase(char* data, size_t len) {
  auto* p = reinterpret_cast<unsigned char*>(data);
  for (size_t i = 0; i < len; i++) {
    const unsigned char c = p[i];
    p[i] = static_cast<unsigned char>(c - ((static_cast<unsigned char>(c - 'a') < 26) ? 32 : 0));
  }
}

bool StartsWith(const HttpState& s, const char* prefix) {
  const size_t n = strlen(prefix);
  const size_t have = s.line_len < sizeof s.head ? s.line_len : sizeof s.head;
  return have >= n && memcmp(s.head, prefix, n) == 0;
}

// Is `word` in the header value after the colon (within the bytes kept)?
bool ValueHas(const HttpState& s, const char* word) {
  const size_t have = s.line_len < sizeof s.head ? s.line_len : sizeof s.head;
  const size_t n = strlen(word);
  for (size_t i = 0; i + n <= have; i++) {
    if (memcmp(s.head + i, word, n) == 0) return true;
  }
  return false;
}

bool TailIs(const HttpState& s, const char* suffix) {
  const size_t n = strlen(suffix);
  if (s.line_len < n || n > sizeof s.tail) return false;
  for (size_t i = 0; i < n; i++) {
    if (s.tail[(s.line_len - n + i) % sizeof s.tail] != suffix[i]) return false;
  }
  return true;
}

// Replies are gathered in a small buffer so pipelined requests leave in one send.
class Batch {
 public:
  explicit Batch(Output& out) : out_(out) {}
  ~Batch() { flush(); }
  void put(const char* data, size_t len) {
    if (used_ + len > sizeof buf_) flush();
    memcpy(buf_ + used_, data, len);
    used_ += len;
  }
  void flush() {
    if (used_ > 0) out_.emit(buf_, used_);
    used_ = 0;
  }

 private:
  Output& out_;
  size_t used_ = 0;
  char buf_[4096];
};

// Ends one header line; returns false after a request that closes the connection.
bool EndLine(HttpState& s, Batch& batch) {
  if (s.line_len == 0) {
    if (s.line_no == 0) return true;  // tolerate blank lines between requests
    const bool close = s.close || (s.http10 && !s.keep_alive);
    if (close) {
      batch.put(kClose, sizeof kClose - 1);
    } else if (s.http10) {
      batch.put(kKeepAlive10, sizeof kKeepAlive10 - 1);
    } else {
      batch.put(kKeepAlive, sizeof kKeepAlive - 1);
    }
    s.body_left = s.content_length;
    s.content_length = 0;
    s.line_no = 0;
    s.http10 = s.close = s.keep_alive = false;
    return !close;
  }
  if (s.line_no == 0) {
    s.http10 = TailIs(s, "HTTP/1.0");
  } else if (StartsWith(s, "connection:")) {
    if (ValueHas(s, "close")) s.close = true;
    if (ValueHas(s, "keep-alive")) s.keep_alive = true;
  } else if (StartsWith(s, "content-length:")) {
    uint64_t n = 0;
    const size_t have = s.line_len < sizeof s.head ? s.line_len : sizeof s.head;
    for (size_t i = strlen("content-length:"); i < have; i++) {
      if (s.head[i] >= '0' && s.head[i] <= '9') n = n * 10 + static_cast<uint64_t>(s.head[i] - '0');
    }
    s.content_length = n;
  }
  s.line_no++;
  s.line_len = 0;
  return true;
}

bool HandleHttp(HttpState& s, const char* data, size_t len, Output& out) {
  Batch batch(out);
  size_t i = 0;
  while (i < len) {
    if (s.body_left > 0) {
      const size_t skip = len - i < s.body_left ? len - i : static_cast<size_t>(s.body_left);
      s.body_left -= skip;
      i += skip;
      continue;
    }
    const char c = data[i++];
    if (c == '\n') {
      if (!EndLine(s, batch)) return false;
    } else if (c != '\r') {
      if (s.line_len < sizeof s.head) {
        s.head[s.line_len] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
      }
      s.tail[s.line_len % sizeof s.tail] = c;
      s.line_len++;
    }
  }
  return true;
}

}  // namespace

Verdict Handle(HandlerState& state, char* data, size_t len, Output& out) {
  switch (state.kind) {
    case HandlerKind::kUppercase:
      Uppercase(data, len);
      out.emit(data, len);
      return Verdict::kMore;
    case HandlerKind::kEcho:
      out.emit(data, len);
      return Verdict::kMore;
    case HandlerKind::kDiscard:
      return Verdict::kMore;
    case HandlerKind::kHttp:
      return HandleHttp(state.http, data, len, out) ? Verdict::kMore : Verdict::kClose;
  }
  return Verdict::kMore;
}

bool ParseHandlerKind(const char* name, HandlerKind* kind) {
  static const struct {
    const char* name;
    HandlerKind kind;
  } kKinds[] = {{"uppercase", HandlerKind::kUppercase},
                {"echo", HandlerKind::kEcho},
                {"discard", HandlerKind::kDiscard},
                {"http", HandlerKind::kHttp}};
  for (const auto& k : kKinds) {
    if (strcmp(name, k.name) == 0) {
      *kind = k.kind;
      return true;
    }
  }
  return false;
}

}  // namespace nm
