#include "core/connection.h"

#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cstring>

#include "core/clock.h"

namespace nm {

namespace {

// Output memory freed since it was last given back. glibc keeps what is
// freed for reuse, and after a large block is freed it serves blocks up to
// that size from heaps it seldom shrinks (its mmap threshold rises): a
// burst of clients that never read, each holding up to highWaterMark of
// output, would leave that much resident for good. So malloc_trim()
// returns the free pages of every arena when the last connection is gone
// (if kTrimAfter was freed since the last trim), and after every
// kTrimEvery freed while connections go on. A trim walks every arena's free
// memory, so it is kept that rare; it runs on the thread that freed the
// memory (a loop, between rounds of I/O).
std::atomic<uint64_t> g_freed{0};
constexpr uint64_t kTrimAfter = 1 << 20;
constexpr uint64_t kTrimEvery = 64 << 20;

void ReturnFreed(uint64_t bytes, bool last) {
  const uint64_t freed = g_freed.fetch_add(bytes, std::memory_order_relaxed) + bytes;
  if (freed < (last ? kTrimAfter : kTrimEvery)) return;
  // One thread trims; the others go on.
  uint64_t expected = freed;
  if (!g_freed.compare_exchange_strong(expected, 0, std::memory_order_relaxed)) return;
#ifdef __GLIBC__
  malloc_trim(0);  // glibc's alone: musl's allocator unmaps freed memory itself
#endif
}

}  // namespace

std::atomic<uint64_t> Connection::live_{0};

Connection::~Connection() {
  const uint64_t bytes = out_.capacity();
  std::vector<char>().swap(out_);
  const bool last = live_.fetch_sub(1, std::memory_order_relaxed) == 1;
  ReturnFreed(bytes, last);
}

size_t Connection::SendSome(const char* data, size_t len) {
  size_t done = 0;
  while (done < len) {
    ssize_t n = NM_RETRY(::send(fd_.get(), data + done, len - done, MSG_NOSIGNAL));
    stats_->called(stats_->sys.send, n);
    if (n > 0) {
      stats_->sent(static_cast<uint64_t>(n));
      done += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (n < 0 && !PeerGone(errno)) Stats::add(stats_->errors, 1);
    if (n < 0) error_ = errno;
    failed_ = true;
    break;
  }
  return done;
}

void Connection::emit(const char* data, size_t len) {
  if (failed_) return;
  if (!held_.empty()) {
    JsBytes copy;
    copy.own.assign(data, len);
    held_bytes_ += len;
    held_.push_back(std::move(copy));
    return;
  }
  if (Pending() == 0) {
    const size_t sent = SendSome(data, len);
    if (failed_) return;
    data += sent;
    len -= sent;
    out_.clear();
    out_off_ = 0;
  }
  if (len > 0) out_.insert(out_.end(), data, data + len);
}

void Connection::Hold(const JsBytes& bytes) {
  if (!bytes.keep) {
    emit(bytes.data(), bytes.size());
    return;
  }
  if (failed_) return;
  size_t sent = 0;
  if (Pending() == 0) {
    sent = SendSome(bytes.data(), bytes.size());
    if (failed_ || sent == bytes.size()) return;
  }
  JsBytes rest;
  rest.held = bytes.data() + sent;
  rest.held_size = bytes.size() - sent;
  rest.keep = bytes.keep;
  held_bytes_ += rest.held_size;
  held_.push_back(std::move(rest));
}

namespace {

// recv() that also asks how many bytes the kernel still holds queued after
// it: *queued is that count (TCP_CM_INQ, see ReportQueuedBytes()), or -1
// when the socket did not say.
ssize_t RecvCounted(int fd, char* buf, size_t cap, int* queued) {
  iovec iov{buf, cap};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  *queued = -1;
  const ssize_t n = ::recvmsg(fd, &msg, 0);
  if (n <= 0) return n;
  for (cmsghdr* h = CMSG_FIRSTHDR(&msg); h != nullptr; h = CMSG_NXTHDR(&msg, h)) {
    if (h->cmsg_level == SOL_TCP && h->cmsg_type == TCP_CM_INQ) memcpy(queued, CMSG_DATA(h), sizeof *queued);
  }
  return n;
}

}  // namespace

bool Connection::OnReadable(char* scratch, size_t cap, int max_reads, bool stop_when_empty) {
  more_to_read_ = false;
  for (int reads = 0;; reads++) {
    // The budget first: MoreToRead() asks WantsRead() itself, so a level
    // loop's one read costs one WantsRead().
    if (reads == max_reads) {
      more_to_read_ = true;
      break;
    }
    if (!WantsRead()) {
      // Stopped by backpressure, not by the socket: more may be queued, and
      // if the same round's write lets reading resume, no interest change
      // and no new edge will say so (MoreToRead() asks WantsRead() again).
      more_to_read_ = true;
      break;
    }
    int queued = -1;
    ssize_t n = stop_when_empty && fills_buffer_
                    ? NM_RETRY(RecvCounted(fd_.get(), scratch, cap, &queued))
                    : NM_RETRY(::recv(fd_.get(), scratch, cap, 0));
    stats_->called(stats_->sys.recv, n);
    if (n > 0) {
      stats_->received(static_cast<uint64_t>(n));
      if (lingering_) continue;
      NoteVerdict(Handle(state_, scratch, static_cast<size_t>(n), *this), &closing_, &waiting_);
      // The queue is empty, so the recv that would only say EAGAIN is
      // skipped: the kernel said so (a FIN still to read counts as a byte),
      // or a TCP recv returned less than `cap`, which it does only when it
      // took all there was. Only a read that fills `cap` (a 64 KiB request
      // into a 64 KiB buffer) needs the count; asking for it costs every
      // read a little (recvmsg and its control message instead of recv), so
      // it is asked for once this connection's reads have filled the buffer.
      if (static_cast<size_t>(n) == cap) fills_buffer_ = true;
      if (stop_when_empty && (queued >= 0 ? queued == 0 : static_cast<size_t>(n) < cap)) break;
      continue;
    }
    if (n == 0) {
      read_done_ = true;
    } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
      if (!PeerGone(errno)) Stats::add(stats_->errors, 1);
      error_ = errno;
      failed_ = true;
    }
    break;
  }
  Linger();
  return !Finished();
}

// Closing a socket whose receive queue holds unread bytes makes Linux send
// a reset, and a reset destroys the reply the peer has not read yet (a
// pipelined request after "Connection: close", say). So once the reply is
// out, only the write side is shut (the peer sees EOF after the reply) and
// input is read and dropped until the peer closes; the loop bounds this to
// kLingerMs. This is nginx's lingering close.
void Connection::Linger() {
  if (!closing_ || lingering_ || failed_ || Pending() > 0) return;
  lingering_ = true;
  if (read_done_) return;  // the peer is gone already: Finished()
  if (::shutdown(fd_.get(), SHUT_WR) < 0) failed_ = true;
}

bool Connection::OnWritable() {
  if (Pending() == 0) return !Finished();
  if (Queued() > 0) {
    out_off_ += SendSome(out_.data() + out_off_, Queued());
    if (Queued() == 0) {
      out_.clear();
      out_off_ = 0;
      // A drained buffer that grew large is given back, so an idle
      // connection does not keep a high-water mark's worth of memory.
      if (out_.capacity() > 64 * 1024) {
        const uint64_t bytes = out_.capacity();
        std::vector<char>().swap(out_);
        ReturnFreed(bytes, false);
      }
    } else if (out_off_ >= out_.size() / 2) {
      out_.erase(out_.begin(), out_.begin() + static_cast<std::ptrdiff_t>(out_off_));
      out_off_ = 0;
    }
  }
  while (Queued() == 0 && !held_.empty() && !failed_) {
    const JsBytes& front = held_.front();
    held_off_ += SendSome(front.data() + held_off_, front.size() - held_off_);
    if (held_off_ < front.size()) break;
    held_bytes_ -= front.size();
    held_off_ = 0;
    held_.pop_front();  // a held Buffer goes back to JS from here
  }
  if (Pending() == 0) {
    Linger();
    js_.ShutIfFlushed(fd_.get(), 0, &failed_);
  }
  return !Finished();
}

namespace {

// Sends everything, blocking; remembers a failure so the caller stops.
class BlockingOutput final : public Output {
 public:
  BlockingOutput(int fd, Counts counts) : fd_(fd), counts_(counts) {}
  void emit(const char* data, size_t len) override {
    while (len > 0 && !failed) {
      ssize_t n = ::send(fd_, data, len, MSG_NOSIGNAL);
      counts_.called(&Stats::Syscalls::send, n);
      if (n > 0) {
        counts_.sent(static_cast<uint64_t>(n));
        data += n;
        len -= static_cast<size_t>(n);
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else {
        if (n < 0 && !PeerGone(errno) && errno != EAGAIN) counts_.error();
        failed = true;
      }
    }
  }
  bool failed = false;

 private:
  int fd_;
  Counts counts_;
};

// The blocking form of Connection::Linger(): shut the write side, then read
// and drop input until the peer closes or kLingerMs have passed.
void LingerBlocking(int fd, Counts counts, char* buf, size_t cap) {
  if (::shutdown(fd, SHUT_WR) < 0) return;
  const uint64_t deadline = MonotonicMs() + kLingerMs;
  const timeval tv = MsToTimeval(kLingerMs);
  if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0) return;
  while (MonotonicMs() < deadline) {
    ssize_t n = ::recv(fd, buf, cap, 0);
    counts.called(&Stats::Syscalls::recv, n);
    if (n > 0) {
      counts.received(static_cast<uint64_t>(n));
    } else if (!(n < 0 && errno == EINTR)) {
      return;
    }
  }
}

}  // namespace

void ServeBlocking(int fd, HandlerKind kind, Stats* stats, char* buf, size_t cap, Stats* part) {
  HandlerState state;
  state.kind = kind;
  const Counts counts{stats, part};
  BlockingOutput out(fd, counts);
  while (!out.failed) {
    ssize_t n = ::recv(fd, buf, cap, 0);
    counts.called(&Stats::Syscalls::recv, n);
    if (n > 0) {
      counts.received(static_cast<uint64_t>(n));
      if (Handle(state, buf, static_cast<size_t>(n), out) == Verdict::kClose) {
        if (!out.failed) LingerBlocking(fd, counts, buf, cap);
        break;
      }
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    // EAGAIN here is SO_RCVTIMEO expiring: the client was idle too long.
    if (n < 0 && !PeerGone(errno) && errno != EAGAIN && errno != EWOULDBLOCK) counts.error();
    break;
  }
}

int SetIdleTimeout(int fd, uint32_t ms) {
  const timeval tv = MsToTimeval(ms);
  // Both directions: a client that sends but never reads would otherwise
  // hold a blocking send() forever.
  if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0 ||
      setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) < 0) {
    return -errno;
  }
  return 0;
}

}  // namespace nm
