#include "loadgen/loadgen.h"

#include <netdb.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <system_error>

#include "core/clock.h"
#include "core/signals.h"
#include "loadgen/udp.h"
#include "loadgen/worker.h"

namespace nm::loadgen {

namespace {

int ResolveNumeric(const Options& o, sockaddr_storage* addr, socklen_t* len) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  // Literals only: a run must never stall on DNS. Scoped IPv6 ("fe80::1%eth0")
  // is understood too.
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const std::string port = std::to_string(o.port);
  const int rc = getaddrinfo(o.host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0) return rc == EAI_SYSTEM ? -errno : -EINVAL;
  std::memcpy(addr, res->ai_addr, res->ai_addrlen);
  *len = res->ai_addrlen;
  freeaddrinfo(res);
  return 0;
}

// Thousands of held connections need more descriptors than the usual soft
// limit of 1024. The soft limit is raised to the hard one (never past it);
// if that is refused, the connections that cannot be opened are counted as
// EMFILE errors, which is the honest result.
void RaiseFdLimit(uint64_t needed) {
  rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) < 0) return;
  if (rl.rlim_cur >= needed || rl.rlim_cur == rl.rlim_max) return;
  rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ? needed : rl.rlim_max;
  (void)setrlimit(RLIMIT_NOFILE, &rl);
}

}  // namespace

void SetWindow(Shared& shared, int64_t now) {
  const int64_t measure = now + shared.options.warmup_ms * 1'000'000;
  shared.measure_ns.store(measure, std::memory_order_relaxed);
  shared.deadline_ns.store(measure + shared.options.duration_ms * 1'000'000, std::memory_order_relaxed);
  shared.setup_done.store(true, std::memory_order_release);
  shared.setup_wakeup.signal();
}

LoadRun::LoadRun(Options options) { shared_.options = std::move(options); }

LoadRun::~LoadRun() {
  Stop();
  Join();
}

int LoadRun::Prepare(const char** syscall) {
  Options& o = shared_.options;
  *syscall = "getaddrinfo";
  if (int rc = ResolveNumeric(o, &shared_.addr, &shared_.addr_len); rc < 0) return rc;

  // Requests are windows into one long alphabet, so building a request costs
  // nothing and verifying a reply is one memcmp against the matching window.
  const size_t span = o.message_size + 26;
  shared_.send_pattern.resize(span);
  shared_.expect_pattern.resize(span);
  for (size_t i = 0; i < span; ++i) {
    const char ch = static_cast<char>('a' + i % 26);
    shared_.send_pattern[i] = ch;
    shared_.expect_pattern[i] = o.expect == Expect::kUppercase ? static_cast<char>(ch - 'a' + 'A') : ch;
  }

  if (o.mode == Mode::kHttp) {
    // Every batch is the same bytes: `pipeline` keep-alive GETs.
    std::string host = o.host.find(':') != std::string::npos ? "[" + o.host + "]" : o.host;
    const std::string one = "GET " + o.http_path + " HTTP/1.1\r\nHost: " + host + ":" + std::to_string(o.port) + "\r\n\r\n";
    shared_.send_pattern.clear();
    for (uint32_t i = 0; i < o.pipeline; ++i) shared_.send_pattern += one;
    o.message_size = shared_.send_pattern.size();
  }

  const bool hold = o.mode == Mode::kHold;
  const uint64_t total = hold ? uint64_t{o.idle} + 1 : o.connections;
  const uint32_t threads =
      static_cast<uint32_t>(std::max<uint64_t>(1, std::min<uint64_t>(o.threads, total)));
  RaiseFdLimit(total + 2 * threads + 64);

  *syscall = "eventfd";
  if (int rc = shared_.stop_wakeup.open(); rc < 0) return rc;
  if (int rc = shared_.setup_wakeup.open(); rc < 0) return rc;

  const bool udp = o.mode == Mode::kUdp;
  shared_.unsettled.store(o.mode == Mode::kChurn || udp ? 0 : hold ? o.idle : o.connections);
  const uint64_t slots = hold ? o.idle : o.connections;
  *syscall = "epoll_create1";
  for (uint32_t i = 0; i < threads; ++i) {
    const uint32_t share = static_cast<uint32_t>(slots / threads + (i < slots % threads ? 1 : 0));
    if (udp) {
      shared_.loops.push_back(std::make_unique<UdpWorker>(shared_, share));
    } else {
      shared_.loops.push_back(std::make_unique<Worker>(shared_, share, hold && i == 0));
    }
    if (int rc = shared_.loops.back()->Init(); rc < 0) return rc;
  }
  return 0;
}

int LoadRun::Start(ProgressFn progress, DoneFn done) {
  progress_ = std::move(progress);
  done_ = std::move(done);
  const size_t n = shared_.loops.size();
  running_.store(n);
  // The workers start with every signal blocked (they inherit this mask):
  // process signals, SIGCHLD for the fork model's reaper among them, are
  // for the threads that expect them.
  {
    BlockAllSignals masked;
    try {
      for (size_t i = 0; i < n; ++i) threads_.emplace_back(&LoadRun::ThreadMain, this, i);
    } catch (const std::system_error& e) {
      {
        std::lock_guard<std::mutex> lock(go_mutex_);
        abort_start_ = true;
        go_ = true;
      }
      go_cv_.notify_all();
      Join();
      const int err = e.code().value();
      return -(err > 0 ? err : EAGAIN);
    }
  }
  // The clock starts once every thread exists, so thread creation never eats
  // into the warm-up or the measured window. With connections to settle
  // first, the loop that settles the last one starts it instead.
  shared_.start_ns = MonotonicNs();
  shared_.last_established_ns.store(shared_.start_ns, std::memory_order_relaxed);
  if (shared_.unsettled.load() == 0) SetWindow(shared_, shared_.start_ns);
  {
    std::lock_guard<std::mutex> lock(go_mutex_);
    go_ = true;
  }
  go_cv_.notify_all();
  return 0;
}

void LoadRun::ThreadMain(size_t index) {
  {
    std::unique_lock<std::mutex> lock(go_mutex_);
    go_cv_.wait(lock, [this] { return go_; });
    if (abort_start_) return;
  }
  const ProgressFn* progress = index == 0 && progress_ ? &progress_ : nullptr;
  shared_.loops[index]->Run(progress);
  // acq_rel: the last thread out reads every other loop's results.
  if (running_.fetch_sub(1, std::memory_order_acq_rel) == 1) Finish();
}

void LoadRun::Finish() {
  Report r;
  Histogram merged;
  int64_t stopped = shared_.start_ns;
  uint64_t http_read_bytes = 0;
  for (const auto& w : shared_.loops) {
    merged.Merge(w->histogram);
    http_read_bytes += w->http_read_bytes;
    r.Add(*w);
    stopped = std::max(stopped, w->stopped_ns);
  }
  // A run stopped during set-up has no window: measure_ns is still 0 or far
  // in the future.
  const int64_t measure = shared_.setup_done.load(std::memory_order_acquire)
                              ? shared_.measure_ns.load(std::memory_order_relaxed)
                              : stopped;
  const int64_t window = std::max<int64_t>(0, stopped - measure);
  r.duration_ms = static_cast<double>(window) / 1e6;
  r.setup_cut = shared_.setup_cut.load(std::memory_order_relaxed);
  if (window > 0) {
    const double seconds = static_cast<double>(window) / 1e9;
    r.rps = static_cast<double>(r.requests) / seconds;
    // Every counted rr request sent message_size bytes and was answered with
    // as many (a reply is verified against the request's length); an http
    // batch sent message_size bytes for `pipeline` requests and read what
    // its responses held.
    const Options& o = shared_.options;
    const double requests = static_cast<double>(r.requests);
    if (o.mode == Mode::kHttp) {
      r.written_bytes_per_sec = requests * static_cast<double>(o.message_size) / o.pipeline / seconds;
      r.read_bytes_per_sec = static_cast<double>(http_read_bytes) / seconds;
    } else {
      r.read_bytes_per_sec = requests * static_cast<double>(o.message_size) / seconds;
      r.written_bytes_per_sec = r.read_bytes_per_sec;
    }
    r.bytes_per_sec = r.read_bytes_per_sec + r.written_bytes_per_sec;
  }
  auto us = [](uint64_t ns) { return static_cast<double>(ns) / 1e3; };
  r.latency_us.min = us(merged.min());
  r.latency_us.mean = merged.mean() / 1e3;
  r.latency_us.stdev = merged.stdev() / 1e3;
  r.latency_us.p50 = us(merged.ValueAt(0.50));
  r.latency_us.p75 = us(merged.ValueAt(0.75));
  r.latency_us.p90 = us(merged.ValueAt(0.90));
  r.latency_us.p975 = us(merged.ValueAt(0.975));
  r.latency_us.p99 = us(merged.ValueAt(0.99));
  r.latency_us.p999 = us(merged.ValueAt(0.999));
  r.latency_us.p9999 = us(merged.ValueAt(0.9999));
  r.latency_us.max = us(merged.max());
  done_(std::move(r));
}

void LoadRun::Stop() {
  shared_.stop.store(true, std::memory_order_release);
  if (shared_.stop_wakeup.fd() >= 0) shared_.stop_wakeup.signal();
}

void LoadRun::Join() {
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

}  // namespace nm::loadgen
