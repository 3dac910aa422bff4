// The load generator engine: plain C++, no N-API. One LoadRun drives a
// server from one or more native threads (one epoll loop each) and reports
// once, from whichever thread finishes last.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <sys/socket.h>

#include "core/fd.h"
#include "core/wakeup.h"

namespace nm::loadgen {

enum class Mode { kRequestReply, kHold, kChurn, kUdp, kHttp };
enum class Expect { kUppercase, kEcho, kNone };

struct Options {
  std::string host = "127.0.0.1";  // IPv4 or IPv6 literal
  int port = 0;
  Mode mode = Mode::kRequestReply;
  Expect expect = Expect::kUppercase;
  uint32_t connections = 64;  // rr and churn: concurrent slots
  uint32_t idle = 0;          // hold: idle connections beside the one active
  size_t message_size = 64;
  int64_t duration_ms = 3000;  // the measured window, after the warm-up
  int64_t warmup_ms = 0;
  // A connect() still pending after this long fails with ETIMEDOUT. It also
  // bounds rr's and hold's set-up (see Shared::unsettled).
  int64_t connect_timeout_ms = 3000;
  uint32_t threads = 1;
  int64_t progress_interval_ms = 250;
  // rr: requests per second over the whole run, each connection sending on
  // its own schedule of intended times (open loop, as wrk2); 0: each
  // connection sends as soon as its last reply came (closed loop).
  uint32_t rate = 0;
  // udp: a datagram unanswered after this long is lost; its client goes on.
  int64_t timeout_ms = 200;
  // http: each connection sends `pipeline` GETs of `http_path` at once
  // (keep-alive) and waits for every response before the next batch; a
  // batch unanswered after request_timeout_ms is a timeout (the connection
  // is closed and retried).
  std::string http_path = "/";
  uint32_t pipeline = 1;
  int64_t request_timeout_ms = 10000;
};

// Pseudo-errno recorded when the server closed a connection early.
constexpr int kErrEof = 0;

// Where a run is: rr and hold start in set-up (connecting), then every run
// has its warm-up (skipped when warmup_ms is 0) and its measured window.
enum class Phase : uint8_t { kSetup, kWarmup, kMeasure };

// A snapshot is reported every progress_interval_ms and also at once when
// the run enters a phase (its start included): the first kMeasure one is
// taken as soon as the measured window has begun, so a caller can sample
// the server at the window's start.
struct Progress {
  Phase phase = Phase::kSetup;
  double elapsed_ms = 0;  // since the start: set-up and warm-up included
  uint64_t requests = 0;  // counted so far (measured window only)
  double rps = 0;         // completions per second over the last interval
  uint64_t errors = 0;
};

struct LatencySummary {  // microseconds
  double min = 0, mean = 0, stdev = 0;
  double p50 = 0, p75 = 0, p90 = 0, p975 = 0, p99 = 0, p999 = 0, p9999 = 0, max = 0;
};

// What a run counts: the report's counters, and each loop's share of them
// (a Loop is one; Finish() adds them up).
struct Counts {
  uint64_t connected = 0;  // connections established and open at the end
  // Connections never attempted because the run ended first: churn slots
  // still waiting for a connect slot (kMaxConnecting in flight per loop), or
  // any connection of a run stopped during set-up. The run's end is not an
  // error: neither these nor a connect() it interrupted count in `errors`.
  // rr and hold settle every connection before the clock starts, so a run
  // that reaches its deadline never leaves one unstarted there.
  uint64_t unstarted = 0;
  uint64_t requests = 0;   // verified replies completed in the measured window
  uint64_t errors = 0;
  uint64_t mismatches = 0;
  std::map<int, uint64_t> error_codes;  // errno (or kErrEof) -> count
  uint64_t lost = 0;  // udp: datagrams of the window unanswered within timeout_ms
  uint64_t late = 0;  // udp: replies that came after their datagram was lost
  // http: responses by status and those not 2xx (whole run, warm-up
  // included; only 2xx ones count in `requests`), and batches that timed out.
  std::map<int, uint64_t> statuses;
  uint64_t non2xx = 0;
  uint64_t timeouts = 0;

  void Add(const Counts& o) {
    connected += o.connected;
    unstarted += o.unstarted;
    requests += o.requests;
    errors += o.errors;
    mismatches += o.mismatches;
    for (const auto& [err, count] : o.error_codes) error_codes[err] += count;
    lost += o.lost;
    late += o.late;
    for (const auto& [status, count] : o.statuses) statuses[status] += count;
    non2xx += o.non2xx;
    timeouts += o.timeouts;
  }
};

struct Report : Counts {
  double rps = 0;
  double bytes_per_sec = 0;  // payload sent + received by counted requests
  double read_bytes_per_sec = 0;     // payload received (wrk's Transfer/sec)
  double written_bytes_per_sec = 0;  // payload sent
  double duration_ms = 0;    // the measured window actually run
  LatencySummary latency_us;
  bool setup_cut = false;  // see Shared::last_established_ns
};

class Loop;

// State every worker of one run reads; immutable once the threads start,
// except the atomics.
struct Shared {
  Options options;
  sockaddr_storage addr{};
  socklen_t addr_len = 0;
  std::string send_pattern;    // "abc...zabc..." messageSize + 26 bytes long
  std::string expect_pattern;  // what the server must return for it
  Wakeup stop_wakeup;  // its eventfd is in every worker's epoll set
  std::atomic<bool> stop{false};
  int64_t start_ns = 0;  // CLOCK_MONOTONIC
  // Set-up: connections (rr: all of them; hold: the idle ones) whose first
  // connect() has not settled yet, i.e. neither established nor failed
  // (refused, timed out after connect_timeout_ms...). No request is sent
  // before it reaches zero: connecting is set-up, not measurement, and a
  // connect completion never waits behind big sends. The loop that settles
  // the last one sets the window (warm-up, then the measured duration, from
  // that moment), then sets setup_done and signals setup_wakeup.
  std::atomic<int64_t> unsettled{0};
  // Set-up's budget: once no connection has been established for
  // connect_timeout_ms while others wait for a connect slot, the server has
  // stopped accepting (an iterative server busy with its first client, a
  // full backlog dropping SYNs). The loops then drop the connections not yet
  // tried (counted `unstarted`) instead of timing them out 128 at a time:
  // 30,000 connections would take ten minutes that way.
  std::atomic<int64_t> last_established_ns{0};
  std::atomic<bool> setup_cut{false};
  std::atomic<bool> setup_done{false};
  Wakeup setup_wakeup;  // in every worker's epoll set until it sees setup_done
  // Written once before setup_done is released; read after acquiring it.
  std::atomic<int64_t> measure_ns{0};  // start of the measured window
  std::atomic<int64_t> deadline_ns{0};
  std::vector<std::unique_ptr<Loop>> loops;  // one per thread: Worker, or UdpWorker in udp mode
};

// Ends set-up at `now`: sets measure_ns and deadline_ns, releases setup_done
// and wakes every loop. Called exactly once per run.
void SetWindow(Shared& shared, int64_t now);

class LoadRun {
 public:
  using ProgressFn = std::function<void(const Progress&)>;
  using DoneFn = std::function<void(Report&&)>;

  explicit LoadRun(Options options);
  ~LoadRun();  // Stop() + Join()
  LoadRun(const LoadRun&) = delete;
  LoadRun& operator=(const LoadRun&) = delete;

  // Resolves the address and creates every descriptor the loops need.
  // Returns 0 or -errno; `syscall` names the call that failed.
  int Prepare(const char** syscall);

  // Starts the threads. `done` is called exactly once, on the last thread to
  // finish, if and only if this returns 0. `progress` (may be empty) is called
  // from the first thread every options.progress_interval_ms.
  int Start(ProgressFn progress, DoneFn done);

  // Ends the run early (process exit). Safe from any thread, any time.
  void Stop();
  // Waits for the threads. Only from the thread that called Start().
  void Join();

 private:
  void ThreadMain(size_t index);
  void Finish();

  Shared shared_;
  ProgressFn progress_;
  DoneFn done_;
  std::vector<std::thread> threads_;
  std::atomic<size_t> running_{0};
  std::mutex go_mutex_;
  std::condition_variable go_cv_;
  bool go_ = false;
  bool abort_start_ = false;
};

}  // namespace nm::loadgen
