// What the HTTP/1.1 framing (core/http.cc) reads and writes, apart from its
// state machine: the server's fixed replies, checked at compile time to
// frame themselves; the batch they leave in; the byte classes of RFC 9110
// and the case-insensitive matching of known words. Only http.cc includes it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "core/output.h"

namespace nm::http {

// Replies. Every one states its length, so a client can frame it; the
// error replies close the connection because the request stream can no
// longer be framed.
#define NM_HTTP_HEAD "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n"
inline constexpr char kKeepAlive[] = NM_HTTP_HEAD "\r\nHello, world\n";
inline constexpr char kKeepAlive10[] = NM_HTTP_HEAD "Connection: keep-alive\r\n\r\nHello, world\n";
inline constexpr char kClose[] = NM_HTTP_HEAD "Connection: close\r\n\r\nHello, world\n";
#undef NM_HTTP_HEAD
inline constexpr size_t kBodyLen = 13;  // a reply to HEAD is the same without these last bytes
#define NM_HTTP_ERROR(code, reason, length) \
  "HTTP/1.1 " code " " reason "\r\nContent-Type: text/plain\r\nContent-Length: " length \
  "\r\nConnection: close\r\n\r\n" reason "\n"
inline constexpr char k400[] = NM_HTTP_ERROR("400", "Bad Request", "12");
inline constexpr char k414[] = NM_HTTP_ERROR("414", "URI Too Long", "13");
inline constexpr char k431[] = NM_HTTP_ERROR("431", "Request Header Fields Too Large", "32");
inline constexpr char k505[] = NM_HTTP_ERROR("505", "HTTP Version Not Supported", "27");
#undef NM_HTTP_ERROR
inline constexpr char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";

// Does the Content-Length a reply states match the bytes after its head?
constexpr bool Framed(const char* reply, size_t len) {
  const char kField[] = "Content-Length: ";
  size_t stated = 0;
  for (size_t i = 0; i + 4 <= len; i++) {
    bool field = i + sizeof kField - 1 <= len;
    for (size_t j = 0; field && j + 1 < sizeof kField; j++) field = reply[i + j] == kField[j];
    if (field) {
      for (size_t j = i + sizeof kField - 1; reply[j] >= '0' && reply[j] <= '9'; j++) {
        stated = stated * 10 + static_cast<size_t>(reply[j] - '0');
      }
    }
    if (reply[i] == '\r' && reply[i + 1] == '\n' && reply[i + 2] == '\r' && reply[i + 3] == '\n') {
      return len - (i + 4) == stated;
    }
  }
  return false;
}
static_assert(Framed(kKeepAlive, sizeof kKeepAlive - 1) && Framed(kKeepAlive10, sizeof kKeepAlive10 - 1) &&
                  Framed(kClose, sizeof kClose - 1),
              "Content-Length must match the body");
static_assert(Framed(k400, sizeof k400 - 1) && Framed(k414, sizeof k414 - 1) && Framed(k431, sizeof k431 - 1) &&
                  Framed(k505, sizeof k505 - 1),
              "Content-Length must match the body");

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

// Byte classes, one table lookup each.
enum : uint8_t { kTcharClass = 1, kFieldClass = 2 };

constexpr bool TcharByte(unsigned c) {
  // token = 1*tchar; tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" /
  // "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA (RFC 9110 5.6.2)
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '!' || c == '#' ||
         c == '$' || c == '%' || c == '&' || c == '\'' || c == '*' || c == '+' || c == '-' || c == '.' ||
         c == '^' || c == '_' || c == '`' || c == '|' || c == '~';
}

struct ByteClasses {
  uint8_t of[256];
  constexpr ByteClasses() : of() {
    for (unsigned c = 0; c < 256; c++) {
      // A field value holds VCHAR, obs-text, SP and HTAB.
      const bool field = c >= 0x20 ? c != 0x7f : c == '\t';
      of[c] = static_cast<uint8_t>((TcharByte(c) ? kTcharClass : 0) | (field ? kFieldClass : 0));
    }
  }
};
inline constexpr ByteClasses kClasses;

inline bool IsTchar(unsigned char c) { return (kClasses.of[c] & kTcharClass) != 0; }
inline bool IsFieldByte(unsigned char c) { return (kClasses.of[c] & kFieldClass) != 0; }
inline bool IsSpace(unsigned char c) { return c == ' ' || c == '\t'; }

inline int HexValue(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Narrows `match` to the words whose byte at `pos` is `c` (ASCII
// case-insensitively). A word stops matching one byte past its end, so `pos`
// never indexes beyond a word that is still in the set.
inline uint8_t Narrow(uint8_t match, uint8_t pos, unsigned char c, const char* const* words, size_t count) {
  if (match == 0) return 0;
  const char lower = static_cast<char>((c >= 'A' && c <= 'Z') ? c + 32 : c);
  for (size_t i = 0; i < count; i++) {
    if ((match & (1u << i)) != 0 && words[i][pos] != lower) match = static_cast<uint8_t>(match & ~(1u << i));
  }
  return match;
}

// The 1-based index of the word matched whole, or 0.
inline uint8_t Matched(uint8_t match, uint8_t pos, const char* const* words, size_t count) {
  for (size_t i = 0; i < count; i++) {
    if ((match & (1u << i)) != 0 && strlen(words[i]) == pos) return static_cast<uint8_t>(i + 1);
  }
  return 0;
}

inline uint8_t Saturating(uint8_t n) { return n == UINT8_MAX ? n : static_cast<uint8_t>(n + 1); }

}  // namespace nm::http
