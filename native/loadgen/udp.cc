#include "loadgen/udp.h"

#include <sys/epoll.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>

#include "core/clock.h"

namespace nm::loadgen {

namespace {

constexpr int kMaxEvents = 256;
constexpr uint64_t kStopToken = std::numeric_limits<uint64_t>::max();
// Leading bytes of a datagram that carry its sequence number in decimal
// (digits survive the uppercase handler), so a reply to an earlier datagram
// of the same client, arriving after it was counted lost, is told apart
// from a wrong reply. Shorter datagrams carry what fits.
constexpr size_t kSeqDigits = 10;

}  // namespace

UdpWorker::UdpWorker(Shared& shared, uint32_t clients)
    : Loop(shared), depth_(std::max<uint32_t>(1, shared.options.pipeline)), clients_(clients) {}

int UdpWorker::Init() {
  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) return -errno;
  epoll_.reset(ep);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kStopToken;
  if (epoll_ctl(ep, EPOLL_CTL_ADD, shared_.stop_wakeup.fd(), &ev) < 0) return -errno;
  for (uint32_t i = 0; i < clients_.size(); ++i) {
    Fd fd(socket(shared_.addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd.valid()) return -errno;
    // Connected: only the server's datagrams reach it, and send() needs no address.
    if (connect(fd.get(), reinterpret_cast<const sockaddr*>(&shared_.addr), shared_.addr_len) < 0) {
      return -errno;
    }
    // Level-triggered: replies beyond one recvmmsg() are reported again.
    ev.events = EPOLLIN;
    ev.data.u64 = i;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd.get(), &ev) < 0) return -errno;
    clients_[i].fd = std::move(fd);
  }
  slots_.resize(clients_.size() * size_t{depth_});
  const size_t size = options_.message_size;
  for (size_t i = 0; i < std::min<size_t>(size, kSeqDigits); ++i) modulus_ *= 10;
  out_.reset(new char[depth_ * size]);
  in_.reset(new char[depth_ * (size + 1)]);
  expect_.reset(new char[size]);
  out_iov_.resize(depth_);
  in_iov_.resize(depth_);
  out_msgs_.resize(depth_);
  in_msgs_.resize(depth_);
  for (size_t i = 0; i < depth_; ++i) {
    out_iov_[i] = {out_.get() + i * size, size};
    in_iov_[i] = {in_.get() + i * (size + 1), size + 1};
    out_msgs_[i].msg_hdr = {nullptr, 0, &out_iov_[i], 1, nullptr, 0, 0};
    in_msgs_[i].msg_hdr = {nullptr, 0, &in_iov_[i], 1, nullptr, 0, 0};
  }
  return 0;
}

void UdpWorker::Fill(const std::string& pattern, uint64_t seq, char* out) const {
  const size_t size = options_.message_size;
  std::memcpy(out, pattern.data() + seq % 26, size);
  uint64_t n = seq;
  for (size_t i = std::min(size, kSeqDigits); i-- > 0; n /= 10) out[i] = static_cast<char>('0' + n % 10);
}

void UdpWorker::Refill(uint32_t index, int64_t now) {
  Client& c = clients_[index];
  const size_t size = options_.message_size;
  unsigned n = 0;
  while (n < depth_ && !SlotOf(index, c.seq + 1).waiting) {
    c.seq++;
    SlotOf(index, c.seq) = {c.seq, now, true};
    Fill(shared_.send_pattern, c.seq, out_.get() + n * size);
    due_.push_back({now + options_.timeout_ms * 1'000'000, index, c.seq});
    n++;
  }
  for (unsigned done = 0; done < n;) {
    const int sent = sendmmsg(c.fd.get(), out_msgs_.data() + done, n - done, MSG_NOSIGNAL);
    if (sent >= 0) {
      done += static_cast<unsigned>(sent);
    } else if (errno != EINTR) {
      // A datagram the kernel refuses is an error, and, never answered, lost.
      RecordError(errno);
      done++;
    }
  }
}

void UdpWorker::OnReadable(uint32_t index, int64_t now) {
  const int n = NM_RETRY(recvmmsg(clients_[index].fd.get(), in_msgs_.data(), depth_, 0, nullptr));
  if (n < 0) {
    // ECONNREFUSED: nothing listens on the port (an ICMP answer to an
    // earlier datagram). The datagrams in flight stay timed.
    if (errno != EAGAIN) RecordError(errno);
    return;
  }
  for (int i = 0; i < n; ++i) {
    OnReply(index, static_cast<const char*>(in_iov_[i].iov_base), in_msgs_[i].msg_len, now);
  }
  Refill(index, now);
}

void UdpWorker::OnReply(uint32_t index, const char* data, size_t len, int64_t now) {
  const size_t size = options_.message_size;
  uint64_t digits = 0;
  for (size_t i = 0; i < std::min({size, kSeqDigits, len}); ++i) {
    digits = digits * 10 + static_cast<uint64_t>(static_cast<unsigned char>(data[i]) - '0');
  }
  // The latest seq of this client that ends in these digits.
  const uint64_t last = clients_[index].seq;
  const uint64_t back = (last % modulus_ + modulus_ - digits % modulus_) % modulus_;
  Slot& s = SlotOf(index, last - back);
  if (back >= depth_ || back >= last || !s.waiting || s.seq != last - back) {
    late++;
    return;
  }
  Fill(options_.expect == Expect::kUppercase ? shared_.expect_pattern : shared_.send_pattern, s.seq, expect_.get());
  const bool ok = len == size && std::memcmp(data, expect_.get(), size) == 0;
  s.waiting = false;
  completed_++;
  if (!ok) {
    mismatches++;
  } else if (s.sent_ns >= measure_ns_) {
    requests++;
    histogram.Record(static_cast<uint64_t>(now - s.sent_ns));
  }
}

void UdpWorker::Expire(int64_t now) {
  while (!due_.empty() && due_.front().due <= now) {
    const Due d = due_.front();
    due_.pop_front();
    Slot& s = SlotOf(d.index, d.seq);
    if (!s.waiting || s.seq != d.seq) continue;  // answered in time
    s.waiting = false;
    if (s.sent_ns >= measure_ns_) lost++;
    Refill(d.index, now);
  }
}

void UdpWorker::Run(const LoadRun::ProgressFn* progress) {
  // udp mode has no set-up: LoadRun::Start set the window before it let
  // the threads go.
  measure_ns_ = shared_.measure_ns.load(std::memory_order_relaxed);
  const int64_t deadline = shared_.deadline_ns.load(std::memory_order_relaxed);
  const int64_t interval = options_.progress_interval_ms * 1'000'000;
  int64_t now = MonotonicNs();
  last_progress_ns_ = now;
  Phase reported = Phase::kSetup;
  int64_t next_progress = now;
  for (uint32_t i = 0; i < clients_.size(); ++i) Refill(i, now);
  epoll_event events[kMaxEvents];
  bool stop = false;
  while (!stop && now < deadline && !shared_.stop.load(std::memory_order_acquire)) {
    Expire(now);
    const Phase phase = now < measure_ns_ ? Phase::kWarmup : Phase::kMeasure;
    if (progress && (now >= next_progress || phase != reported)) {
      EmitProgress(*progress, now, phase);
      reported = phase;
      while (next_progress <= now) next_progress += interval;
    }
    int64_t wake = std::min(deadline, progress ? next_progress : deadline);
    if (progress && reported != Phase::kMeasure) wake = std::min(wake, measure_ns_);
    if (!due_.empty()) wake = std::min(wake, due_.front().due);
    int64_t timeout_ms = wake <= now ? 0 : (wake - now + 999'999) / 1'000'000;
    timeout_ms = std::min<int64_t>(timeout_ms, std::numeric_limits<int>::max());
    const int n = epoll_wait(epoll_.get(), events, kMaxEvents, static_cast<int>(timeout_ms));
    now = MonotonicNs();
    if (n < 0) {
      if (errno == EINTR) continue;
      RecordError(errno);
      break;
    }
    for (int i = 0; i < n; ++i) {
      if (events[i].data.u64 == kStopToken) {
        stop = true;
        break;
      }
      OnReadable(static_cast<uint32_t>(events[i].data.u64), now);
    }
    Publish();
  }
  stopped_ns = std::min(now, deadline);
  connected = clients_.size();
  clients_.clear();
}

}  // namespace nm::loadgen
