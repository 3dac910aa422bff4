#include "loadgen/worker.h"

#include "core/clock.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <limits>

namespace nm::loadgen {

namespace {

constexpr int kMaxEvents = 256;
// Connects in flight per loop. Thousands of simultaneous SYNs overflow a
// server's accept queue; the dropped ones are retransmitted only after a
// second or more, which would stall hold mode's set-up for no good reason.
constexpr uint32_t kMaxConnecting = 128;
constexpr uint64_t kStopToken = std::numeric_limits<uint64_t>::max();
constexpr uint64_t kSetupToken = kStopToken - 1;
constexpr uint32_t kConnEvents = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;

}  // namespace

Worker::Worker(Shared& shared, uint32_t slots, bool active)
    : Loop(shared), conns_(slots + (active ? 1 : 0)) {
  const bool hold = options_.mode == Mode::kHold;
  for (uint32_t i = 0; i < conns_.size(); ++i) {
    conns_[i].index = i;
    conns_[i].idle = hold && i < slots;
    // Counted in Shared::unsettled: rr's connections and hold's idle ones.
    conns_[i].settled = options_.mode == Mode::kChurn || (hold && i >= slots);
  }
  if (active) gated_ = slots;
  // Each connection carries rate / connections of the load.
  if (options_.rate > 0 && options_.mode == Mode::kRequestReply) {
    interval_ns_ = std::max<int64_t>(1, static_cast<int64_t>(
        static_cast<double>(options_.connections) * 1e9 / static_cast<double>(options_.rate)));
  }
}

int Worker::Init() {
  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) return -errno;
  epoll_.reset(ep);
  epoll_event ev{};
  ev.events = EPOLLIN;  // level-triggered: once signalled, every loop sees it
  ev.data.u64 = kStopToken;
  if (epoll_ctl(ep, EPOLL_CTL_ADD, shared_.stop_wakeup.fd(), &ev) < 0) return -errno;
  ev.data.u64 = kSetupToken;  // level-triggered too; BeginWindow() removes it
  if (epoll_ctl(ep, EPOLL_CTL_ADD, shared_.setup_wakeup.fd(), &ev) < 0) return -errno;
  scratch_.reset(new char[kScratchSize]);
  return 0;
}

void Worker::Run(const LoadRun::ProgressFn* progress) {
  const int64_t interval_ns = options_.progress_interval_ms * 1'000'000;
  int64_t now = MonotonicNs();
  last_progress_ns_ = shared_.start_ns;
  int64_t next_progress =
      progress ? shared_.start_ns + interval_ns : std::numeric_limits<int64_t>::max();
  bool reported = false;  // a snapshot of `reported_phase` has been emitted
  Phase reported_phase = Phase::kSetup;
  for (auto& c : conns_) {
    if (static_cast<int64_t>(c.index) != gated_) pending_.push_back(c.index);
  }
  epoll_event events[kMaxEvents];
  for (;;) {
    if (setup_ && shared_.setup_done.load(std::memory_order_acquire)) {
      BeginWindow();
      now = MonotonicNs();
    }
    if (setup_) CutSetup(now);
    StartPending(now);
    FireDue(now);
    Publish();
    if (progress) {
      const Phase phase = PhaseAt(now);
      // A thread descheduled for the whole warm-up (a busy machine) sees set-up
      // end and the window begin at once; the warm-up is still reported, at
      // the moment the window began, so every phase is seen, in order.
      if (reported && reported_phase == Phase::kSetup && phase == Phase::kMeasure && options_.warmup_ms > 0) {
        EmitProgress(*progress, measure_ns_, Phase::kWarmup);
        reported_phase = Phase::kWarmup;
      }
      if (!reported || phase != reported_phase || now >= next_progress) {
        EmitProgress(*progress, now, phase);
        reported = true;
        reported_phase = phase;
        while (next_progress <= now) next_progress += interval_ns;
      }
    }

    int64_t wake = std::min(deadline_ns_, next_progress);
    // The reporting loop wakes when the measured window begins, to report it
    // then rather than at the next tick.
    if (progress && !setup_ && reported_phase != Phase::kMeasure) wake = std::min(wake, measure_ns_);
    if (!retry_.empty()) wake = std::min(wake, retry_.front().first);
    if (!due_.empty()) wake = std::min(wake, due_.top().at);
    if (!connect_due_.empty()) wake = std::min(wake, connect_due_.front().due);
    if (options_.mode == Mode::kHttp && !setup_) wake = std::min(wake, next_expiry_ns_);
    // Round up: waking a hair early would only spin through a 0 ms wait.
    int64_t timeout_ms = wake <= now ? 0 : (wake - now + 999'999) / 1'000'000;
    timeout_ms = std::min<int64_t>(timeout_ms, std::numeric_limits<int>::max());
    const int n = epoll_wait(epoll_.get(), events, kMaxEvents, static_cast<int>(timeout_ms));
    if (n < 0) {
      if (errno == EINTR) {
        now = MonotonicNs();
        continue;
      }
      // Only a broken epoll fd gets here; report it and end this loop.
      RecordError(errno);
      break;
    }
    now = MonotonicNs();
    if (shared_.stop.load(std::memory_order_acquire) || now >= deadline_ns_) break;
    for (int i = 0; i < n; ++i) {
      const uint64_t token = events[i].data.u64;
      if (token >= kSetupToken) continue;  // the flags are authoritative
      Conn& c = conns_[static_cast<uint32_t>(token)];
      if (c.gen != static_cast<uint32_t>(token >> 32) || c.state == State::kClosed) continue;
      OnEvent(c, events[i].events);
    }
    now = MonotonicNs();
    ExpireConnects(now);
    ExpireRetries(now);
    if (options_.mode == Mode::kHttp && !setup_ && now >= next_expiry_ns_) ExpireRequests(now);
  }
  stopped_ns = std::min(now, deadline_ns_);
  connected = open_;
  CountUnestablished();
  Publish();
  conns_.clear();  // closes every socket; close() also drops it from the epoll set
}

void Worker::Launch(Conn& c, int64_t now) {
  if (connecting_ < kMaxConnecting) {
    StartConnect(c, now);
  } else {
    pending_.push_back(c.index);
  }
}

void Worker::StartConnect(Conn& c, int64_t now) {
  c.started_ns = now;
  c.attempted = true;
  const int fd = socket(shared_.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    Fail(c, errno);  // EMFILE/ENFILE land here and are retried like a refusal
    return;
  }
  c.fd.reset(fd);
  ++c.gen;
  const int one = 1;
  if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0) {
    Fail(c, errno);
    return;
  }
  if (options_.mode == Mode::kChurn) {
    // Churn closes with RST (linger 0), which leaves no TIME_WAIT behind. A
    // graceful close from the client side parks every used port in TIME_WAIT
    // for 60 s: the ~14k ports connect() may pick run out within a second
    // and connect() then stalls. The server sees ECONNRESET (or EOF) on the
    // read after its reply, a normal end of a connection for any server.
    const linger lg{1, 0};
    if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) < 0) {
      Fail(c, errno);
      return;
    }
  }
  int rc = connect(fd, reinterpret_cast<const sockaddr*>(&shared_.addr), shared_.addr_len);
  // An interrupted connect() carries on asynchronously, exactly like
  // EINPROGRESS; calling it again would only report EALREADY.
  const bool in_progress = rc < 0 && (errno == EINPROGRESS || errno == EINTR);
  if (rc < 0 && !in_progress) {
    Fail(c, errno);
    return;
  }
  // Registered after connect(): an unconnected TCP socket polls as EPOLLHUP.
  // Edge-triggered and registered once for both directions, so the hot path
  // never calls epoll_ctl: a reply is read until a short read, and EPOLLOUT
  // only matters while a request is partly sent.
  epoll_event ev{};
  ev.events = kConnEvents;
  ev.data.u64 = Token(c);
  if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) < 0) {
    Fail(c, errno);
    return;
  }
  if (in_progress) {
    c.state = State::kConnecting;
    ++connecting_;
    connect_due_.push_back({now + options_.connect_timeout_ms * 1'000'000, c.index, c.gen});
  } else {
    OnConnected(c);
  }
}

void Worker::OnEvent(Conn& c, uint32_t events) {
  const uint32_t gen = c.gen;
  if (c.state == State::kConnecting) {
    if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c.fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
    if (err != 0) {
      Fail(c, err);
      return;
    }
    --connecting_;
    OnConnected(c);
    if (c.gen != gen || c.state != State::kOpen) return;
  }
  // During set-up an open rr connection is as quiet as an idle one.
  const bool quiet = c.idle || setup_;
  if ((events & EPOLLOUT) && !quiet && c.sent < options_.message_size) {
    if (!TrySend(c)) return;
  }
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
    if (quiet) {
      DrainIdle(c);
    } else {
      OnReadable(c);
    }
  }
}

void Worker::OnConnected(Conn& c) {
  c.state = State::kOpen;
  c.established = true;
  ++open_;
  if (setup_) shared_.last_established_ns.store(MonotonicNs(), std::memory_order_relaxed);
  const uint32_t gen = c.gen;
  Settle(c);
  // Settling the last connection starts the window, but this loop starts
  // its requests from BeginWindow(), all together.
  if (c.idle || setup_ || c.gen != gen) return;
  // Churn measures the whole cycle from connect(); rr one request at a time
  // (open loop: a reconnected connection restarts its schedule now).
  const int64_t now = MonotonicNs();
  c.intended_ns = now;
  StartRequest(c, options_.mode == Mode::kChurn ? c.started_ns : now);
}

void Worker::StartRequest(Conn& c, int64_t started_ns) {
  ++c.seq;
  // A different rotation of the alphabet for consecutive requests of one
  // connection (7 is prime to 26), and for neighbouring connections, so a
  // stale or misrouted reply never verifies.
  c.rot = options_.mode == Mode::kHttp ? 0 : static_cast<uint32_t>((uint64_t{c.index} * 11 + c.seq * 7) % 26);
  c.reply.Reset();
  c.answered = 0;
  c.ok = 0;
  c.reply_bytes = 0;
  c.sent = 0;
  c.received = 0;
  c.mismatch = false;
  c.started_ns = started_ns;
  TrySend(c);
}

bool Worker::TrySend(Conn& c) {
  const char* base = shared_.send_pattern.data() + c.rot;
  const size_t size = options_.message_size;
  while (c.sent < size) {
    const ssize_t n = send(c.fd.get(), base + c.sent, size - c.sent, MSG_NOSIGNAL);
    if (n >= 0) {
      c.sent += static_cast<size_t>(n);
    } else if (errno == EINTR) {
      continue;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      return true;  // the next EPOLLOUT edge resumes
    } else {
      Fail(c, errno);
      return false;
    }
  }
  return true;
}

void Worker::OnReadable(Conn& c) {
  if (options_.mode == Mode::kHttp) {
    OnHttpReadable(c);
    return;
  }
  const size_t size = options_.message_size;
  const bool verify = options_.expect != Expect::kNone;
  for (;;) {
    const size_t want = std::min(size - c.received, kScratchSize);
    const ssize_t n = RecvSome(c, want);
    if (n <= 0) return;
    const size_t got = static_cast<size_t>(n);
    if (verify && !c.mismatch &&
        std::memcmp(scratch_.get(), shared_.expect_pattern.data() + c.rot + c.received, got) != 0) {
      c.mismatch = true;
    }
    c.received += got;
    if (c.received == size) {
      Complete(c);
      return;
    }
    // A short TCP read means the receive queue was empty; any byte that
    // arrives later raises a new edge.
    if (got < want) return;
  }
}

// An idle connection (or an rr one during set-up) that the server closes
// (its connection limit, say) is failed with EOF by RecvSome.
void Worker::DrainIdle(Conn& c) {
  while (RecvSome(c, kScratchSize) > 0) {
    ++mismatches;  // an idle connection never asked for anything
  }
}

ssize_t Worker::RecvSome(Conn& c, size_t want) {
  for (;;) {
    const ssize_t n = recv(c.fd.get(), scratch_.get(), want, 0);
    if (n > 0) return n;
    if (n == 0) {
      Fail(c, kErrEof);
      return -1;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
    Fail(c, errno);
    return -1;
  }
}

void Worker::Complete(Conn& c) {
  const int64_t t = MonotonicNs();
  ++completed_;
  if (c.sent < options_.message_size) {
    // The whole reply came back before the whole request left: not an echo.
    Fail(c, EPROTO);
    return;
  }
  if (c.mismatch) {
    ++mismatches;
  } else if (c.started_ns >= measure_ns_ && t < deadline_ns_) {
    // Only requests wholly inside the measured window: one that began in
    // the warm-up would carry warm-up latency into the histogram. An http
    // batch counts its 2xx responses; its latency is the batch's.
    requests += options_.mode == Mode::kHttp ? c.ok : 1;
    if (options_.mode == Mode::kHttp) http_read_bytes += c.reply_bytes;
    histogram.Record(static_cast<uint64_t>(t - c.started_ns));
  }
  if (options_.mode == Mode::kChurn) {
    Close(c);
    Launch(c, t);
  } else {
    Next(c, t);
  }
}

// Open loop: latency counts from the intended time, so a server that stalls
// is charged for every request it delayed, not just the ones in flight
// (closed-loop percentiles hide that: coordinated omission). A request
// already late when its predecessor's reply comes is sent at once.
void Worker::Next(Conn& c, int64_t now) {
  if (interval_ns_ == 0) {
    StartRequest(c, now);
    return;
  }
  c.intended_ns += interval_ns_;
  if (c.intended_ns <= now) {
    StartRequest(c, c.intended_ns);
  } else {
    due_.push(Due{c.intended_ns, c.index, c.gen});
  }
}

void Worker::FireDue(int64_t now) {
  while (!due_.empty() && due_.top().at <= now) {
    const Due d = due_.top();
    due_.pop();
    Conn& c = conns_[d.index];
    if (c.gen != d.gen || c.state != State::kOpen) continue;
    StartRequest(c, d.at);
  }
}

void Worker::Close(Conn& c) {
  if (c.state == State::kConnecting) --connecting_;
  if (c.state == State::kOpen) --open_;
  c.state = State::kClosed;
  c.fd.reset();
  ++c.gen;
}

void Worker::Fail(Conn& c, int err) {
  RecordError(err);
  Close(c);
  Settle(c);  // a failed first connect is settled: its error says why
  if (c.idle) return;  // idle connections are opened once: the count held is the result
  retry_.emplace_back(MonotonicNs() + kRetryDelayNs, c.index);
}

void Worker::Settle(Conn& c) {
  if (c.settled) return;
  c.settled = true;
  if (shared_.unsettled.fetch_sub(1, std::memory_order_acq_rel) == 1) SetWindow(shared_, MonotonicNs());
}

void Worker::StartPending(int64_t now) {
  while (!pending_.empty() && connecting_ < kMaxConnecting) {
    const uint32_t index = pending_.front();
    pending_.pop_front();
    StartConnect(conns_[index], now);
  }
}

void Worker::CutSetup(int64_t now) {
  if (pending_.empty()) return;
  const int64_t quiet = now - shared_.last_established_ns.load(std::memory_order_relaxed);
  if (!shared_.setup_cut.load(std::memory_order_relaxed) && quiet < options_.connect_timeout_ms * 1'000'000) return;
  shared_.setup_cut.store(true, std::memory_order_relaxed);
  // Never tried: settled here, and counted `unstarted` at the end. A retry
  // waiting here was settled by its first attempt, whose error was counted.
  while (!pending_.empty()) {
    Settle(conns_[pending_.front()]);
    pending_.pop_front();
  }
}

void Worker::ExpireRetries(int64_t now) {
  while (!retry_.empty() && retry_.front().first <= now) {
    const uint32_t index = retry_.front().second;
    retry_.pop_front();
    Launch(conns_[index], now);
  }
}

bool Worker::Pending(const ConnectDue& d) const {
  const Conn& c = conns_[d.index];
  return c.gen == d.gen && c.state == State::kConnecting;
}

// Only connects are timed: a pending one is failed with ETIMEDOUT here (and,
// in rr and churn, retried like any failure). Entries of attempts that have
// settled since are dropped on the way.
void Worker::ExpireConnects(int64_t now) {
  while (!connect_due_.empty()) {
    const ConnectDue d = connect_due_.front();
    const bool pending = Pending(d);
    if (pending && d.due > now) break;
    connect_due_.pop_front();
    if (pending) Fail(conns_[d.index], ETIMEDOUT);
  }
  // Settled entries behind a pending front would otherwise wait for it: one
  // dropped SYN in churn would hold a connect timeout's worth of entries.
  // Only connecting_ entries are live, so the queue is swept once it holds
  // kMaxConnecting more than twice that: each sweep removes at least half of
  // it, O(1) per entry over the run.
  if (connect_due_.size() > 2 * size_t{connecting_} + kMaxConnecting) {
    connect_due_.erase(std::remove_if(connect_due_.begin(), connect_due_.end(),
                                      [this](const ConnectDue& d) { return !Pending(d); }),
                       connect_due_.end());
  }
}

// Every connection of the run has settled: requests start on this loop's
// open connections, and hold's active connection is launched.
void Worker::BeginWindow() {
  setup_ = false;
  measure_ns_ = shared_.measure_ns.load(std::memory_order_relaxed);
  deadline_ns_ = shared_.deadline_ns.load(std::memory_order_relaxed);
  // Level-triggered and never drained (every loop must see it): it leaves
  // the set so that it cannot spin the loop.
  if (epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, shared_.setup_wakeup.fd(), nullptr) < 0) RecordError(errno);
  const int64_t now = MonotonicNs();
  // Open loop: the connections' schedules are spread over one interval, so
  // the load arrives evenly rather than in bursts of every connection.
  const size_t n = conns_.size();
  for (size_t i = 0; i < n; ++i) {
    Conn& c = conns_[i];
    if (c.state != State::kOpen || c.idle) continue;
    c.intended_ns = now + (interval_ns_ > 0 ? static_cast<int64_t>(i) * interval_ns_ / static_cast<int64_t>(n) : 0);
    if (c.intended_ns <= now) {
      StartRequest(c, now);
    } else {
      due_.push(Due{c.intended_ns, c.index, c.gen});
    }
  }
  if (gated_ >= 0) {
    Conn& c = conns_[static_cast<size_t>(gated_)];
    gated_ = -1;
    Launch(c, now);
  }
}

Phase Worker::PhaseAt(int64_t now) const {
  if (setup_) return Phase::kSetup;
  return now < measure_ns_ ? Phase::kWarmup : Phase::kMeasure;
}

// The run's end is not an error: a connect() it interrupts has not timed
// out (ExpireConnects counts those that did), and a connection it kept from
// being tried is only `unstarted`. rr and hold never get here with either
// unless the run was stopped during set-up.
void Worker::CountUnestablished() {
  for (const Conn& c : conns_) {
    if (!c.established && !c.attempted) ++unstarted;
  }
}

}  // namespace nm::loadgen
