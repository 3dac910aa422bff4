// The http mode's part of Worker: framing the responses of a batch of
// pipelined GETs, and timing out batches the server leaves unanswered.
#include "loadgen/worker.h"

#include <algorithm>

namespace nm::loadgen {

void Worker::OnHttpReadable(Conn& c) {
  for (;;) {
    const ssize_t n = RecvSome(c, kScratchSize);
    if (n <= 0) return;
    c.reply_bytes += static_cast<uint64_t>(n);
    bool unasked = false;  // a response beyond the batch: no request of ours
    const ptrdiff_t used = c.reply.Feed(scratch_.get(), static_cast<size_t>(n), [&](int status) {
      if (c.answered == options_.pipeline) {
        unasked = true;
        return;
      }
      ++c.answered;
      ++statuses[status];
      if (status >= 200 && status < 300) {
        ++c.ok;
      } else {
        ++non2xx;
      }
    });
    if (used < 0 || unasked || (c.answered == options_.pipeline && c.reply.Partial())) {
      ++mismatches;
      Fail(c, EPROTO);
      return;
    }
    if (c.answered == options_.pipeline) {
      Complete(c);
      return;
    }
    if (static_cast<size_t>(n) < kScratchSize) return;
  }
}

void Worker::ExpireRequests(int64_t now) {
  const int64_t limit = options_.request_timeout_ms * 1'000'000;
  // A scan of every connection, a few times per timeout: O(connections)
  // at most 20 times a second, never per request.
  next_expiry_ns_ = now + std::max<int64_t>(1'000'000, std::min<int64_t>(limit / 4, 50'000'000));
  for (auto& c : conns_) {
    if (c.state != State::kOpen || c.idle || now - c.started_ns < limit) continue;
    ++timeouts;
    Close(c);
    retry_.emplace_back(now + kRetryDelayNs, c.index);
  }
}

}  // namespace nm::loadgen
