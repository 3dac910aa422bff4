#include "core/http.h"

#include <cstring>

#include "core/http_syntax.h"

namespace nm {

namespace {

using namespace http;  // the replies, byte classes and word matching of http_syntax.h

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
        return StartSection(kHeaders);
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
          return true;
        }
        return StartSection(kTrailers);  // the last chunk
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

  // A header or trailer section starts: field lines up to an empty line.
  bool StartSection(Phase phase) {
    s_.phase = phase;
    s_.step = kLineStart;
    s_.fields = 0;
    s_.section_len = 0;
    return true;
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
