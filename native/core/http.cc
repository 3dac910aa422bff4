#include "core/http.h"

#include <cstring>

namespace nm {

namespace {

// Replies. Every one states its length, so a client can frame it; the
// error replies close the connection because the request stream can no
// longer be framed.
#define NM_HTTP_HEAD "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n"
constexpr char kKeepAlive[] = NM_HTTP_HEAD "\r\nHello, world\n";
constexpr char kKeepAlive10[] = NM_HTTP_HEAD "Connection: keep-alive\r\n\r\nHello, world\n";
constexpr char kClose[] = NM_HTTP_HEAD "Connection: close\r\n\r\nHello, world\n";
#undef NM_HTTP_HEAD
constexpr size_t kBodyLen = 13;  // a reply to HEAD is the same without these last bytes
#define NM_HTTP_ERROR(code, reason, length) \
  "HTTP/1.1 " code " " reason "\r\nContent-Type: text/plain\r\nContent-Length: " length \
  "\r\nConnection: close\r\n\r\n" reason "\n"
constexpr char k400[] = NM_HTTP_ERROR("400", "Bad Request", "12");
constexpr char k414[] = NM_HTTP_ERROR("414", "URI Too Long", "13");
constexpr char k431[] = NM_HTTP_ERROR("431", "Request Header Fields Too Large", "32");
constexpr char k505[] = NM_HTTP_ERROR("505", "HTTP Version Not Supported", "27");
#undef NM_HTTP_ERROR
constexpr char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";

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

// Where the parser is in a request.
enum Phase : uint8_t {
  kIdle,         // before a request line; empty lines are skipped
  kRequestLine,  // method SP request-target SP HTTP-version
  kHeaders,      // field lines up to an empty line
  kBody,         // Content-Length bytes
  kChunkLine,    // chunk-size [chunk-ext] CRLF
  kChunkData,    // chunk-size bytes
  kChunkEnd,     // the CRLF after chunk data
  kTrailers,     // field lines after the last chunk, up to an empty line
  kDone,         // the connection is closing: input is ignored
};

// Steps inside a line.
enum Step : uint8_t {
  kNoStep,  // before a request line
  // request line
  kMethod,
  kTarget,
  kVersion,
  // field line
  kLineStart,
  kName,
  kValue,
  // chunk-size line: chunk-size *( BWS ";" BWS name [ BWS "=" BWS value ] )
  kSize,
  kSizeSpace,   // BWS after the size: ";" must follow
  kExtStart,    // BWS after ";"
  kExtName,
  kExtNameSpace,
  kExtValueStart,
  kExtToken,
  kExtQuoted,
  kExtEscape,   // after a backslash inside the quoted string
  kExtQuotedEnd,
  kExtValueSpace,
};

// The fields that frame a request or ask for something; bit i of
// HttpState::match is kFieldNames[i], and Field is that index + 1.
enum Field : uint8_t { kOther, kContentLength, kTransferEncoding, kConnection, kExpect };
constexpr const char* kFieldNames[] = {"content-length", "transfer-encoding", "connection", "expect"};
constexpr uint8_t kAllFieldNames = (1u << (sizeof kFieldNames / sizeof kFieldNames[0])) - 1;

// The list elements that mean something in those fields. An element of any
// of them is matched against all of these; Element is the 1-based index.
enum Element : uint8_t { kNoElement, kChunked, kCloseOption, kKeepAliveOption, k100Continue };
constexpr const char* kElements[] = {"chunked", "close", "keep-alive", "100-continue"};
constexpr uint8_t kAllElements = (1u << (sizeof kElements / sizeof kElements[0])) - 1;

constexpr uint64_t kMaxLength = UINT64_C(0x7fffffffffffffff);  // bigger is refused, not wrapped

// Value steps inside a field value.
enum ValueStep : uint8_t { kBefore, kInside, kAfter };

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
constexpr ByteClasses kClasses;

bool IsTchar(unsigned char c) { return (kClasses.of[c] & kTcharClass) != 0; }
bool IsFieldByte(unsigned char c) { return (kClasses.of[c] & kFieldClass) != 0; }
bool IsSpace(unsigned char c) { return c == ' ' || c == '\t'; }

int HexValue(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Narrows `match` to the words whose byte at `pos` is `c` (ASCII
// case-insensitively). A word stops matching one byte past its end, so `pos`
// never indexes beyond a word that is still in the set.
uint8_t Narrow(uint8_t match, uint8_t pos, unsigned char c, const char* const* words, size_t count) {
  if (match == 0) return 0;
  const char lower = static_cast<char>((c >= 'A' && c <= 'Z') ? c + 32 : c);
  for (size_t i = 0; i < count; i++) {
    if ((match & (1u << i)) != 0 && words[i][pos] != lower) match = static_cast<uint8_t>(match & ~(1u << i));
  }
  return match;
}

// The 1-based index of the word matched whole, or 0.
uint8_t Matched(uint8_t match, uint8_t pos, const char* const* words, size_t count) {
  for (size_t i = 0; i < count; i++) {
    if ((match & (1u << i)) != 0 && strlen(words[i]) == pos) return static_cast<uint8_t>(i + 1);
  }
  return 0;
}

uint8_t Saturating(uint8_t n) { return n == UINT8_MAX ? n : static_cast<uint8_t>(n + 1); }

// Is a method whose byte `pos` is `c` still "HEAD" so far (1) or not (0)?
// Methods are case-sensitive, so "head" is some other method.
uint8_t NarrowHead(uint8_t head, uint8_t pos, unsigned char c) {
  return head != 0 && pos < 4 && static_cast<unsigned char>("HEAD"[pos]) == c;
}

// Narrows `match` to the known field names (kFieldNames).
uint8_t NarrowFieldName(uint8_t match, uint8_t pos, unsigned char c) {
  return Narrow(match, pos, c, kFieldNames, sizeof kFieldNames / sizeof kFieldNames[0]);
}

class Parser {
 public:
  Parser(HttpState& s, Batch& batch) : s_(s), batch_(batch) {}

  // Reads [data, data+len); false once the connection must close.
  bool Feed(const char* data, size_t len) {
    const auto* p = reinterpret_cast<const unsigned char*>(data);
    size_t i = 0;
    while (i < len) {
      if (s_.phase == kBody || s_.phase == kChunkData) {
        const size_t skip = len - i < s_.body_left ? len - i : static_cast<size_t>(s_.body_left);
        s_.body_left -= skip;
        i += skip;
        if (s_.body_left > 0) continue;
        if (s_.phase == kBody) {
          if (!Complete()) return false;
        } else {
          s_.phase = kChunkEnd;
        }
        continue;
      }
      i += Run(p + i, len - i);
      if (i < len && !Byte(p[i++])) return false;
    }
    return true;
  }

 private:
  // Takes a run of bytes that Byte() would take one by one with no change
  // of step: the rest of a method, request target, field name or a value
  // that frames nothing, or a whole "HTTP/1.x". The byte that ends the run,
  // or would pass a limit, is left to Byte(). Returns the bytes taken. Only
  // speed depends on it: requests are read the same with or without it.
  size_t Run(const unsigned char* p, size_t len) {
    if (s_.cr) return 0;
    // Steps are distinct across phases: kName and kValue are only ever a
    // field line's; kMethod, kTarget and kVersion the request line's.
    const uint8_t step = s_.step;
    if (step == kName) return TokenRun<NarrowFieldName>(p, len, kHttpMaxHeaderSection, &s_.section_len);
    if (step == kValue) {
      if (s_.field != kOther) return 0;
      const size_t room = kHttpMaxHeaderSection - s_.section_len;
      const size_t end = len < room ? len : room;
      size_t n = 0;
      while (n < end && IsFieldByte(p[n])) n++;
      s_.section_len += static_cast<uint32_t>(n);
      return n;
    }
    if (step == kMethod) return TokenRun<NarrowHead>(p, len, kHttpMaxRequestLine, &s_.line_len);
    if (step == kVersion) {
      // The usual versions whole; anything else byte by byte.
      if (s_.pos != 0 || len < 8 || kHttpMaxRequestLine - s_.line_len < 8) return 0;
      if (memcmp(p, "HTTP/1.1", 8) == 0) {
        s_.number = 11;
      } else if (memcmp(p, "HTTP/1.0", 8) == 0) {
        s_.number = 10;
      } else {
        return 0;
      }
      s_.pos = 8;
      s_.line_len += 8;
      return 8;
    }
    if (step == kTarget) {
      const size_t room = kHttpMaxRequestLine - s_.line_len;
      const size_t end = len < room ? len : room;
      size_t n = 0;
      while (n < end && p[n] > ' ' && p[n] != 0x7f) n++;
      s_.line_len += static_cast<uint32_t>(n);
      if (n > 0) s_.pos = 1;
      return n;
    }
    return 0;
  }

  // Takes the tchars at p as Byte() would one by one, `narrow` keeping
  // s_.match, up to where *counted would pass `limit`. A template argument,
  // so each scan compiles to its own loop with the matcher inlined.
  template <uint8_t (*narrow)(uint8_t, uint8_t, unsigned char)>
  size_t TokenRun(const unsigned char* p, size_t len, uint32_t limit, uint32_t* counted) {
    const size_t room = limit - *counted;
    const size_t end = len < room ? len : room;
    uint8_t match = s_.match;
    uint8_t pos = s_.pos;
    size_t n = 0;
    for (; n < end && IsTchar(p[n]); n++) {
      match = narrow(match, pos, p[n]);
      pos = Saturating(pos);
    }
    s_.match = match;
    s_.pos = pos;
    *counted += static_cast<uint32_t>(n);
    return n;
  }

  bool Fail(const char* reply, size_t len) {
    batch_.put(reply, len);
    s_.phase = kDone;
    return false;
  }
  bool BadRequest() { return Fail(k400, sizeof k400 - 1); }

  bool Byte(unsigned char c) {
    if (s_.phase == kHeaders || s_.phase == kTrailers) {
      if (++s_.section_len > kHttpMaxHeaderSection) return Fail(k431, sizeof k431 - 1);
    }
    if (s_.cr) {
      if (c != '\n') return BadRequest();
      s_.cr = false;
      return EndLine();
    }
    if (c == '\r') {
      s_.cr = true;
      return true;
    }
    if (c == '\n') return BadRequest();
    switch (s_.phase) {
      case kIdle:
        s_.phase = kRequestLine;
        s_.step = kMethod;
        s_.match = 1;  // "HEAD"
        s_.pos = 0;
        s_.line_len = 0;
        return RequestLine(c);
      case kRequestLine:
        return RequestLine(c);
      case kHeaders:
      case kTrailers:
        return FieldLine(c);
      case kChunkLine:
        return ChunkLine(c);
      case kChunkEnd:
        return BadRequest();  // chunk data longer than its size
      default:
        return false;  // kDone; kBody and kChunkData never reach here
    }
  }

  bool RequestLine(unsigned char c) {
    if (++s_.line_len > kHttpMaxRequestLine) return Fail(k414, sizeof k414 - 1);
    switch (s_.step) {
      case kMethod:
        if (c == ' ' && s_.pos > 0) {
          s_.head = s_.match != 0 && s_.pos == 4;
          s_.step = kTarget;
          s_.pos = 0;
          return true;
        }
        if (!IsTchar(c)) return BadRequest();
        s_.match = NarrowHead(s_.match, s_.pos, c);
        s_.pos = Saturating(s_.pos);
        return true;
      case kTarget:
        if (c == ' ' && s_.pos > 0) {
          s_.step = kVersion;
          s_.pos = 0;
          s_.number = 0;  // the version's digits
          return true;
        }
        if (c <= ' ' || c == 0x7f) return BadRequest();
        s_.pos = 1;
        return true;
      case kVersion: {
        // HTTP-version = "HTTP/" DIGIT "." DIGIT, case-sensitive.
        static constexpr char kShape[] = "HTTP/0.0";
        const uint8_t at = s_.pos;
        if (at >= sizeof kShape - 1) return BadRequest();
        if (kShape[at] == '0') {
          if (c < '0' || c > '9') return BadRequest();
          s_.number = s_.number * 10 + (c - '0');
        } else if (c != static_cast<unsigned char>(kShape[at])) {
          return BadRequest();
        }
        s_.pos = static_cast<uint8_t>(at + 1);
        return true;
      }
      default:
        return BadRequest();
    }
  }

  bool FieldLine(unsigned char c) {
    switch (s_.step) {
      case kLineStart:
        // Whitespace here is obs-fold (or whitespace before the first field),
        // which a recipient must refuse rather than guess at.
        if (!IsTchar(c)) return BadRequest();
        if (++s_.fields > kHttpMaxHeaderFields) return Fail(k431, sizeof k431 - 1);
        s_.step = kName;
        s_.match = s_.phase == kHeaders ? kAllFieldNames : 0;  // trailers never frame
        s_.pos = 0;
        [[fallthrough]];
      case kName:
        if (c == ':') {
          StartValue(Matched(s_.match, s_.pos, kFieldNames, sizeof kFieldNames / sizeof kFieldNames[0]));
          return true;
        }
        if (!IsTchar(c)) return BadRequest();  // no whitespace before the colon
        s_.match = NarrowFieldName(s_.match, s_.pos, c);
        s_.pos = Saturating(s_.pos);
        return true;
      case kValue:
        if (!IsFieldByte(c)) return BadRequest();
        return Value(c);
      default:
        return BadRequest();
    }
  }

  void StartValue(uint8_t field) {
    s_.step = kValue;
    s_.field = field;
    s_.value_step = kBefore;
    s_.number = 0;
    if (field == kTransferEncoding) s_.te_seen = true;
  }

  bool Value(unsigned char c) {
    switch (s_.field) {
      case kContentLength:
        // Content-Length = 1*DIGIT, with optional whitespace around it.
        if (IsSpace(c)) {
          if (s_.value_step == kInside) s_.value_step = kAfter;
          return true;
        }
        if (c < '0' || c > '9' || s_.value_step == kAfter) return BadRequest();
        if (s_.number > (kMaxLength - (c - '0')) / 10) return BadRequest();
        s_.number = s_.number * 10 + (c - '0');
        s_.value_step = kInside;
        return true;
      case kTransferEncoding:
      case kConnection:
      case kExpect:
        // #element lists: elements separated by commas with optional
        // whitespace; an element is compared whole, case-insensitively.
        if (c == ',') return EndElement();
        if (IsSpace(c)) {
          if (s_.value_step == kInside) s_.value_step = kAfter;
          return true;
        }
        if (s_.value_step == kBefore) {
          s_.match = kAllElements;
          s_.pos = 0;
        } else if (s_.value_step == kAfter) {
          s_.match = 0;  // whitespace inside an element: it is none of ours
        }
        s_.value_step = kInside;
        s_.match = Narrow(s_.match, s_.pos, c, kElements, sizeof kElements / sizeof kElements[0]);
        s_.pos = Saturating(s_.pos);
        return true;
      default:
        return true;
    }
  }

  bool EndElement() {
    if (s_.value_step != kBefore) {
      const uint8_t element = Matched(s_.match, s_.pos, kElements, sizeof kElements / sizeof kElements[0]);
      switch (s_.field) {
        case kTransferEncoding:
          s_.te_codings = Saturating(s_.te_codings);
          if (element != kChunked) s_.te_other = true;
          break;
        case kConnection:
          if (element == kCloseOption) s_.close = true;
          if (element == kKeepAliveOption) s_.keep_alive = true;
          break;
        case kExpect:
          if (element == k100Continue) s_.expect_continue = true;
          break;
        default:
          break;
      }
    }
    s_.value_step = kBefore;
    return true;
  }

  bool ChunkLine(unsigned char c) {
    if (++s_.line_len > kHttpMaxChunkLine) return BadRequest();
    switch (s_.step) {
      case kSize: {
        const int digit = HexValue(c);
        if (digit >= 0) {
          if (s_.number > (kMaxLength >> 4)) return BadRequest();
          s_.number = (s_.number << 4) | static_cast<uint64_t>(digit);
          s_.pos = 1;
          return true;
        }
        if (s_.pos == 0) return BadRequest();
        if (c == ';') return Step(kExtStart);
        return IsSpace(c) ? Step(kSizeSpace) : BadRequest();
      }
      case kSizeSpace:
        if (c == ';') return Step(kExtStart);
        return IsSpace(c) || BadRequest();
      case kExtStart:
        if (IsSpace(c)) return true;
        return IsTchar(c) ? Step(kExtName) : BadRequest();
      case kExtName:
        if (IsTchar(c)) return true;
        [[fallthrough]];
      case kExtNameSpace:
        if (c == ';') return Step(kExtStart);
        if (c == '=') return Step(kExtValueStart);
        return IsSpace(c) ? Step(kExtNameSpace) : BadRequest();
      case kExtValueStart:
        if (IsSpace(c)) return true;
        if (c == '"') return Step(kExtQuoted);
        return IsTchar(c) ? Step(kExtToken) : BadRequest();
      case kExtToken:
        if (IsTchar(c)) return true;
        [[fallthrough]];
      case kExtQuotedEnd:
      case kExtValueSpace:
        if (c == ';') return Step(kExtStart);
        return IsSpace(c) ? Step(kExtValueSpace) : BadRequest();
      case kExtQuoted:
        // qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text
        if (c == '"') return Step(kExtQuotedEnd);
        if (c == '\\') return Step(kExtEscape);
        return IsFieldByte(c) || BadRequest();
      case kExtEscape:
        return IsFieldByte(c) ? Step(kExtQuoted) : BadRequest();
      default:
        return BadRequest();
    }
  }

  bool Step(uint8_t step) {
    s_.step = step;
    return true;
  }

  // A CRLF ended the current line.
  bool EndLine() {
    switch (s_.phase) {
      case kIdle:
        return true;  // empty lines before a request line are ignored
      case kRequestLine:
        if (s_.step != kVersion || s_.pos != 8) return BadRequest();
        if (s_.number / 10 != 1) return Fail(k505, sizeof k505 - 1);
        s_.http10 = s_.number == 10;
        s_.phase = kHeaders;
        s_.step = kLineStart;
        s_.fields = 0;
        s_.section_len = 0;
        return true;
      case kHeaders:
      case kTrailers:
        if (s_.step == kLineStart) return s_.phase == kHeaders ? EndHeaders() : Complete();
        if (s_.step != kValue) return BadRequest();  // a field line without a colon
        s_.step = kLineStart;
        return EndValue();
      case kChunkLine:
        switch (s_.step) {
          case kSize:
            if (s_.pos == 0) return BadRequest();
            break;
          case kExtName:
          case kExtToken:
          case kExtQuotedEnd:
            break;
          default:
            return BadRequest();  // inside an extension, or whitespace with no ";" after
        }
        if (s_.number > 0) {
          s_.body_left = s_.number;
          s_.phase = kChunkData;
        } else {
          s_.phase = kTrailers;
          s_.step = kLineStart;
          s_.fields = 0;
          s_.section_len = 0;
        }
        return true;
      case kChunkEnd:
        StartChunk();
        return true;
      default:
        return false;
    }
  }

  bool EndValue() {
    switch (s_.field) {
      case kContentLength:
        if (s_.value_step == kBefore) return BadRequest();  // no digits
        if (s_.cl_seen && s_.number != s_.content_length) return BadRequest();
        s_.cl_seen = true;
        s_.content_length = s_.number;
        return true;
      case kTransferEncoding:
      case kConnection:
      case kExpect:
        return EndElement();
      default:
        return true;
    }
  }

  void StartChunk() {
    s_.phase = kChunkLine;
    s_.step = kSize;
    s_.number = 0;
    s_.pos = 0;
    s_.line_len = 0;
  }

  // The header section is complete: how is the body framed?
  bool EndHeaders() {
    bool chunked = false;
    if (s_.te_seen) {
      // Anything but a lone "chunked" leaves the body length unknowable, and
      // a Transfer-Encoding beside Content-Length or in an HTTP/1.0 request
      // is how one request is made to look like two (RFC 9112 6.1, 6.3).
      if (s_.cl_seen || s_.http10 || s_.te_codings != 1 || s_.te_other) return BadRequest();
      chunked = true;
    }
    const bool body = chunked || s_.content_length > 0;
    if (body && s_.expect_continue && !s_.http10) batch_.put(kContinue, sizeof kContinue - 1);
    if (chunked) {
      StartChunk();
    } else if (body) {
      s_.body_left = s_.content_length;
      s_.phase = kBody;
    } else {
      return Complete();
    }
    return true;
  }

  // The request, body included, has been read: reply, then expect the next.
  bool Complete() {
    const bool close = s_.close || (s_.http10 && !s_.keep_alive);
    const size_t cut = s_.head ? kBodyLen : 0;
    if (close) {
      batch_.put(kClose, sizeof kClose - 1 - cut);
    } else if (s_.http10) {
      batch_.put(kKeepAlive10, sizeof kKeepAlive10 - 1 - cut);
    } else {
      batch_.put(kKeepAlive, sizeof kKeepAlive - 1 - cut);
    }
    s_ = HttpState();
    if (close) s_.phase = kDone;
    return !close;
  }

  HttpState& s_;
  Batch& batch_;
};

}  // namespace

bool HandleHttp(HttpState& s, const char* data, size_t len, Output& out) {
  if (s.phase == kDone) return false;
  Batch batch(out);
  return Parser(s, batch).Feed(data, len);
}

}  // namespace nm
