// Frames HTTP/1.1 responses on a keep-alive connection for the load
// generator's http mode: where each response ends (Content-Length, chunked,
// or no body for 1xx/204/304) and its status. Bytes arrive in any split; a
// line is kept only up to kMaxLine, bodies are skipped without copying.
// It frames what the server sent, it does not judge it: a response that
// cannot be framed (no length on a keep-alive reply, a malformed status or
// chunk line) is a protocol error and the connection is dropped.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace nm::loadgen {

class HttpReply {
 public:
  // Feeds `len` bytes. Calls done(status) for each response completed (1xx
  // interim responses are skipped). Returns the bytes consumed (all of them
  // unless a protocol error stopped it: then -1).
  template <typename Done>
  ptrdiff_t Feed(const char* data, size_t len, Done&& done);

  void Reset() { *this = HttpReply(); }
  // A response has begun and is not complete.
  bool Partial() const { return phase_ != Phase::kStatus || !line_.empty(); }

 private:
  enum class Phase : uint8_t { kStatus, kHeaders, kBody, kChunkSize, kChunkData, kChunkEnd, kTrailers };
  static constexpr size_t kMaxLine = 16384;

  bool StatusLine();
  bool HeaderLine();
  // The end of the header section: where the body starts, or the response ends.
  template <typename Done>
  void HeadersDone(Done& done);

  Phase phase_ = Phase::kStatus;
  std::string line_;
  int status_ = 0;
  uint64_t left_ = 0;  // body or chunk bytes still to skip
  bool has_length_ = false;
  bool chunked_ = false;
};

namespace http_reply_detail {
inline bool IEquals(const std::string& a, size_t len, const char* b) {
  size_t i = 0;
  for (; i < len && b[i] != '\0'; ++i) {
    char c = a[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != b[i]) return false;
  }
  return i == len && b[i] == '\0';
}
}  // namespace http_reply_detail

inline bool HttpReply::StatusLine() {
  // "HTTP/1.x SSS reason"
  if (line_.size() < 12 || line_.compare(0, 7, "HTTP/1.") != 0 || line_[8] != ' ') return false;
  int status = 0;
  for (size_t i = 9; i < 12; ++i) {
    if (line_[i] < '0' || line_[i] > '9') return false;
    status = status * 10 + (line_[i] - '0');
  }
  status_ = status;
  has_length_ = false;
  chunked_ = false;
  left_ = 0;
  return status >= 100;
}

inline bool HttpReply::HeaderLine() {
  const size_t colon = line_.find(':');
  if (colon == std::string::npos || colon == 0) return false;
  size_t v = colon + 1;
  while (v < line_.size() && (line_[v] == ' ' || line_[v] == '\t')) ++v;
  if (http_reply_detail::IEquals(line_, colon, "content-length")) {
    uint64_t n = 0;
    size_t digits = 0;
    for (; v < line_.size() && line_[v] >= '0' && line_[v] <= '9'; ++v, ++digits) {
      if (n > (UINT64_MAX - 9) / 10) return false;
      n = n * 10 + static_cast<uint64_t>(line_[v] - '0');
    }
    if (digits == 0) return false;
    has_length_ = true;
    left_ = n;
  } else if (http_reply_detail::IEquals(line_, colon, "transfer-encoding")) {
    // Only "chunked" as the final coding frames a response.
    std::string value = line_.substr(v);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.pop_back();
    chunked_ = value.size() >= 7 && http_reply_detail::IEquals(value.substr(value.size() - 7), 7, "chunked");
  }
  return true;
}

template <typename Done>
void HttpReply::HeadersDone(Done& done) {
  if (status_ < 200) {  // interim: another response follows
    phase_ = Phase::kStatus;
    return;
  }
  if (status_ == 204 || status_ == 304 || (!chunked_ && has_length_ && left_ == 0)) {
    phase_ = Phase::kStatus;
    done(status_);
    return;
  }
  phase_ = chunked_ ? Phase::kChunkSize : Phase::kBody;
}

template <typename Done>
ptrdiff_t HttpReply::Feed(const char* data, size_t len, Done&& done) {
  size_t i = 0;
  while (i < len) {
    if (phase_ == Phase::kBody || phase_ == Phase::kChunkData) {
      const size_t take = left_ < len - i ? static_cast<size_t>(left_) : len - i;
      left_ -= take;
      i += take;
      if (left_ > 0) break;
      if (phase_ == Phase::kBody) {
        phase_ = Phase::kStatus;
        done(status_);
      } else {
        phase_ = Phase::kChunkEnd;
      }
      continue;
    }
    // A line: up to LF; CR before it dropped.
    const char c = data[i++];
    if (c != '\n') {
      if (line_.size() >= kMaxLine) return -1;
      line_.push_back(c);
      continue;
    }
    if (!line_.empty() && line_.back() == '\r') line_.pop_back();
    switch (phase_) {
      case Phase::kStatus:
        if (!StatusLine()) return -1;
        phase_ = Phase::kHeaders;
        break;
      case Phase::kHeaders:
        if (line_.empty()) {
          // No length on a keep-alive response: it would end only at EOF.
          if (status_ >= 200 && status_ != 204 && status_ != 304 && !chunked_ && !has_length_) return -1;
          HeadersDone(done);
        } else if (!HeaderLine()) {
          return -1;
        }
        break;
      case Phase::kChunkSize: {
        uint64_t n = 0;
        size_t digits = 0;
        for (char h : line_) {
          int d = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
          if (d < 0) break;  // a chunk extension, or the end of the size
          if (n > (UINT64_MAX >> 4)) return -1;
          n = n * 16 + static_cast<uint64_t>(d);
          ++digits;
        }
        if (digits == 0) return -1;
        left_ = n;
        phase_ = n == 0 ? Phase::kTrailers : Phase::kChunkData;
        break;
      }
      case Phase::kChunkEnd:
        if (!line_.empty()) return -1;
        phase_ = Phase::kChunkSize;
        break;
      case Phase::kTrailers:
        if (line_.empty()) {
          phase_ = Phase::kStatus;
          done(status_);
        }
        break;
      case Phase::kBody:
      case Phase::kChunkData:
        break;
    }
    line_.clear();
  }
  return static_cast<ptrdiff_t>(i);
}

}  // namespace nm::loadgen
