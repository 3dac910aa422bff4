// libFuzzer harness for the HTTP/1.1 request framing (native/core/http.cc,
// HandleHttp: the built-in "http" handler), run as plain C++ with no
// sockets. It checks what http.h promises, not only that it does not crash:
//
//   - Output is a sequence of the handler's own replies, nothing else; a
//     reply that closes (Connection: close, or an error) is the last one, and
//     HandleHttp() reports the close exactly when such a reply was sent.
//   - Responses never outnumber complete requests: every complete request
//     holds a CRLFCRLF (its end), so after any prefix of the input the 200s
//     sent are at most the CRLFCRLFs in that prefix. An error reply refuses
//     a request that may be incomplete (a 414 mid-line), and is the last.
//   - The same bytes split anywhere give the same replies and the same
//     verdict: whole, one byte per call, and in pseudo-random pieces.
//   - Memory is bounded: HandleHttp() allocates nothing (malloc hooks), its
//     state is a fixed-size struct, and the output it makes is bounded by the
//     input it was given.
//
// Build and run: npm run fuzz -- -max_total_time=60 (fuzz/run.sh).
#include <sanitizer/allocator_interface.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "core/http.h"

namespace {

static_assert(sizeof(nm::HttpState) <= 128, "the parser's state is small and fixed-size");

[[noreturn]] void Violated(const char* what, size_t at) {
  fprintf(stderr, "invariant violated: %s (at byte %zu)\n", what, at);
  abort();
}

// Allocations made while HandleHttp() runs, by the thread that runs it: per
// thread, because libFuzzer's own threads (the -rss_limit_mb watcher) may
// allocate at any moment, and counting theirs failed a clean seed in CI.
thread_local bool in_handle = false;
thread_local size_t handle_allocations = 0;
void OnMalloc(const volatile void*, size_t) {
  if (in_handle) handle_allocations++;
}
void OnFree(const volatile void*) {}

// The replies the handler may send, byte for byte.
#define HEAD200 "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n"
#define ERROR(code, reason, length) \
  "HTTP/1.1 " code " " reason "\r\nContent-Type: text/plain\r\nContent-Length: " length \
  "\r\nConnection: close\r\n\r\n" reason "\n"
enum Kind { kAnswer, kError, kContinue };
struct Reply {
  const char* bytes;
  Kind kind;
  bool closes;
};
const Reply kReplies[] = {
    {HEAD200 "\r\nHello, world\n", kAnswer, false},
    {HEAD200 "\r\n", kAnswer, false},  // to HEAD
    {HEAD200 "Connection: keep-alive\r\n\r\nHello, world\n", kAnswer, false},
    {HEAD200 "Connection: keep-alive\r\n\r\n", kAnswer, false},
    {HEAD200 "Connection: close\r\n\r\nHello, world\n", kAnswer, true},
    {HEAD200 "Connection: close\r\n\r\n", kAnswer, true},
    {ERROR("400", "Bad Request", "12"), kError, true},
    {ERROR("414", "URI Too Long", "13"), kError, true},
    {ERROR("431", "Request Header Fields Too Large", "32"), kError, true},
    {ERROR("505", "HTTP Version Not Supported", "27"), kError, true},
    {"HTTP/1.1 100 Continue\r\n\r\n", kContinue, false},
};
#undef HEAD200
#undef ERROR

// Collects output in a buffer made before HandleHttp() runs, so collecting
// allocates nothing either.
class Capture final : public nm::Output {
 public:
  void emit(const char* data, size_t len) override {
    if (len == 0) Violated("an empty emit", 0);
    if (len > sizeof buf_ - used_) Violated("output beyond the harness buffer", 0);
    memcpy(buf_ + used_, data, len);
    used_ += len;
  }
  void reset() { used_ = 0; }
  const char* data() const { return buf_; }
  size_t size() const { return used_; }

 private:
  size_t used_ = 0;
  char buf_[1 << 20];
};

// Reads the replies in out[from, to); each must be whole (replies are never
// split across calls). Returns the 200s among them.
size_t CheckReplies(const char* out, size_t from, size_t to, bool* closed_reply, size_t at) {
  size_t answers = 0;
  bool after_continue = false;
  while (from < to) {
    if (*closed_reply) Violated("a reply after the one that closes", at);
    const Reply* found = nullptr;
    for (const Reply& r : kReplies) {
      const size_t n = strlen(r.bytes);
      if (n <= to - from && memcmp(out + from, r.bytes, n) == 0) {
        found = &r;
        from += n;
        break;
      }
    }
    if (found == nullptr) Violated("output that is not one of the handler's replies", at);
    if (found->kind == kContinue && after_continue) Violated("two 100 Continue for one request", at);
    after_continue = found->kind == kContinue;
    if (found->kind == kAnswer) answers++;
    if (found->closes) *closed_reply = true;
  }
  return answers;
}

struct Run {
  const char* out;
  size_t len;
  bool closed;
};

// Feeds data in the pieces `next` chooses; stops, as a connection does, at
// the call that says close. With `per_prefix`, checks the response bound
// after every call.
template <typename Next>
Run Feed(Capture* cap, const uint8_t* data, size_t size, Next next, bool per_prefix) {
  nm::HttpState state;
  size_t off = 0;
  size_t ends = 0;  // CRLFCRLFs in data[0, off)
  size_t answers = 0;
  bool closed = false;
  bool closed_reply = false;
  while (off < size && !closed) {
    size_t n = next(size - off);
    const size_t before = cap->size();
    in_handle = true;
    closed = !nm::HandleHttp(state, reinterpret_cast<const char*>(data) + off, n, *cap);
    in_handle = false;
    if (handle_allocations != 0) Violated("HandleHttp() allocated", off);
    for (size_t i = off; i < off + n; i++) {
      if (i >= 3 && memcmp(data + i - 3, "\r\n\r\n", 4) == 0) ends++;
    }
    off += n;
    answers += CheckReplies(cap->data(), before, cap->size(), &closed_reply, off);
    if (per_prefix && answers > ends) Violated("more responses than complete requests", off);
    if (closed != closed_reply) Violated("HandleHttp() said close without a closing reply, or the reverse", off);
  }
  if (closed) {
    // A closed handler stays closed and silent.
    const size_t before = cap->size();
    in_handle = true;
    const bool more = nm::HandleHttp(state, "G", 1, *cap);
    in_handle = false;
    if (more || cap->size() != before) Violated("a closed handler answered again", off);
  }
  if (answers > ends) Violated("more responses than complete requests", off);
  if (cap->size() > 8 * size + 256) Violated("output out of proportion to the input", off);
  return Run{cap->data(), cap->size(), closed};
}

void Same(const Run& a, const Run& b, const char* how) {
  if (a.closed != b.closed) Violated(how, 0);
  if (a.len != b.len || memcmp(a.out, b.out, a.len) != 0) Violated(how, 0);
}

uint64_t Hash(const uint8_t* data, size_t size) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (size_t i = 0; i < size; i++) h = (h ^ data[i]) * 1099511628211ull;
  return h;
}

Capture whole_cap, bytes_cap, pieces_cap;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  __sanitizer_install_malloc_and_free_hooks(OnMalloc, OnFree);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (1 << 16)) return 0;  // keeps the output bound inside the harness buffer
  whole_cap.reset();
  bytes_cap.reset();
  const Run whole = Feed(&whole_cap, data, size, [](size_t left) { return left; }, false);
  const Run bytes = Feed(&bytes_cap, data, size, [](size_t) { return size_t{1}; }, true);
  Same(whole, bytes, "one byte per call differs from the whole input");
  uint64_t rng = Hash(data, size) | 1;
  for (int round = 0; round < 3; round++) {
    pieces_cap.reset();
    const size_t most = size_t{1} << (round * 3 + 1);  // pieces up to 2, 16, 128 bytes
    const Run pieces = Feed(
        &pieces_cap, data, size,
        [&](size_t left) {
          rng ^= rng << 13;
          rng ^= rng >> 7;
          rng ^= rng << 17;
          const size_t n = 1 + static_cast<size_t>(rng % most);
          return n < left ? n : left;
        },
        false);
    Same(whole, pieces, "pseudo-random pieces differ from the whole input");
  }
  return 0;
}
