#include "loadgen/udp.h"

#include <sys/epoll.h>
#include <sys/socket.h>

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
    : shared_(shared), options_(shared.options), clients_(clients) {}

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
    ev.events = EPOLLIN;
    ev.data.u64 = i;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd.get(), &ev) < 0) return -errno;
    clients_[i].fd = std::move(fd);
  }
  const size_t size = options_.message_size;
  out_.reset(new char[size]);
  expect_.reset(new char[size]);
  in_.reset(new char[size + 1]);  // one more: a longer reply is seen as one
  return 0;
}

void UdpWorker::Fill(const std::string& pattern, uint64_t seq, char* out) const {
  const size_t size = options_.message_size;
  std::memcpy(out, pattern.data() + seq % 26, size);
  uint64_t n = seq;
  for (size_t i = std::min(size, kSeqDigits); i-- > 0; n /= 10) out[i] = static_cast<char>('0' + n % 10);
}

void UdpWorker::Send(uint32_t index, int64_t now) {
  Client& c = clients_[index];
  c.seq++;
  c.sent_ns = now;
  c.waiting = true;
  Fill(shared_.send_pattern, c.seq, out_.get());
  // A datagram the kernel refuses is an error, and, never answered, lost.
  if (NM_RETRY(send(c.fd.get(), out_.get(), options_.message_size, MSG_NOSIGNAL)) < 0) RecordError(errno);
  due_.push_back({now + options_.timeout_ms * 1'000'000, index, c.seq});
}

void UdpWorker::OnReadable(uint32_t index, int64_t now) {
  Client& c = clients_[index];
  const size_t size = options_.message_size;
  for (;;) {
    const ssize_t r = recv(c.fd.get(), in_.get(), size + 1, MSG_TRUNC);
    if (r < 0) {
      if (errno == EAGAIN || errno == EINTR) {
        if (errno == EAGAIN) return;
        continue;
      }
      // ECONNREFUSED: nothing listens on the port (an ICMP answer to an
      // earlier datagram). The datagram in flight stays timed.
      RecordError(errno);
      return;
    }
    uint64_t seq = 0;
    for (size_t i = 0; i < std::min({size, kSeqDigits, static_cast<size_t>(r)}); ++i) {
      seq = seq * 10 + static_cast<uint64_t>(in_[i] - '0');
    }
    uint64_t modulus = 1;
    for (size_t i = 0; i < std::min(size, kSeqDigits); ++i) modulus *= 10;
    const bool current = c.waiting && seq == c.seq % modulus;
    if (!current) {
      late++;
      continue;
    }
    Fill(options_.expect == Expect::kUppercase ? shared_.expect_pattern : shared_.send_pattern, c.seq,
         expect_.get());
    const bool ok = static_cast<size_t>(r) == size && std::memcmp(in_.get(), expect_.get(), size) == 0;
    c.waiting = false;
    completed_++;
    if (!ok) {
      mismatches++;
    } else if (c.sent_ns >= measure_ns_) {
      requests++;
      histogram.Record(static_cast<uint64_t>(now - c.sent_ns));
    }
    Send(index, now);
  }
}

void UdpWorker::Expire(int64_t now) {
  while (!due_.empty() && due_.front().due <= now) {
    const Due d = due_.front();
    due_.pop_front();
    Client& c = clients_[d.index];
    if (!c.waiting || c.seq != d.seq) continue;  // answered in time
    c.waiting = false;
    if (c.sent_ns >= measure_ns_) lost++;
    Send(d.index, now);
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
  for (uint32_t i = 0; i < clients_.size(); ++i) Send(i, now);
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
    published_completed.store(completed_, std::memory_order_relaxed);
    published_requests.store(requests, std::memory_order_relaxed);
    published_errors.store(errors, std::memory_order_relaxed);
  }
  stopped_ns = std::min(now, deadline);
  clients_open = clients_.size();
  clients_.clear();
}

void UdpWorker::EmitProgress(const LoadRun::ProgressFn& progress, int64_t now, Phase phase) {
  uint64_t completed = 0;
  Progress p;
  p.phase = phase;
  for (const auto& w : shared_.udp_workers) {
    completed += w->published_completed.load(std::memory_order_relaxed);
    p.requests += w->published_requests.load(std::memory_order_relaxed);
    p.errors += w->published_errors.load(std::memory_order_relaxed);
  }
  p.elapsed_ms = static_cast<double>(now - shared_.start_ns) / 1e6;
  const int64_t span = now - last_progress_ns_;
  if (span > 0) {
    p.rps = static_cast<double>(completed - last_progress_completed_) * 1e9 / static_cast<double>(span);
  }
  last_progress_ns_ = now;
  last_progress_completed_ = completed;
  progress(p);
}

void UdpWorker::RecordError(int err) {
  ++errors;
  ++error_codes[err];
}

}  // namespace nm::loadgen
