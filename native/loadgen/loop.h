// What every loop of a load run has, whatever its mode (worker.h: TCP and
// HTTP connections; udp.h: datagram clients): the atomics it publishes for
// progress reports, the results it leaves for the report, and the progress
// snapshot the run's first loop takes for all of them.
#pragma once

#include <atomic>
#include <cstdint>

#include "loadgen/histogram.h"
#include "loadgen/loadgen.h"

namespace nm::loadgen {

class Loop : public Counts {
 public:
  explicit Loop(Shared& shared) : shared_(shared), options_(shared.options) {}
  virtual ~Loop() = default;
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  // The epoll set and what else the loop opens before the run. 0 or -errno.
  virtual int Init() = 0;
  // Until the deadline or Shared::stop. `progress` is non-null on the one
  // loop that reports progress for the whole run.
  virtual void Run(const LoadRun::ProgressFn* progress) = 0;

  // Published after every loop iteration for progress reports (relaxed: each
  // is written by its own loop only, and a progress line may lag a little).
  std::atomic<uint64_t> published_completed{0};
  std::atomic<uint64_t> published_requests{0};
  std::atomic<uint64_t> published_errors{0};

  // Results, valid once Run() has returned: beside this loop's share of
  // the counts, its latencies, and when it stopped.
  Histogram histogram;
  uint64_t http_read_bytes = 0;  // http: response bytes of the counted batches
  int64_t stopped_ns = 0;

 protected:
  void RecordError(int err) {
    ++errors;
    ++error_codes[err];
  }
  void Publish() {
    published_completed.store(completed_, std::memory_order_relaxed);
    published_requests.store(requests, std::memory_order_relaxed);
    published_errors.store(errors, std::memory_order_relaxed);
  }
  // The whole run's snapshot at `now`, from every loop's published counters.
  void EmitProgress(const LoadRun::ProgressFn& progress, int64_t now, Phase phase);

  Shared& shared_;
  const Options& options_;
  uint64_t completed_ = 0;  // every reply, warm-up and mismatches included
  int64_t last_progress_ns_ = 0;
  uint64_t last_progress_completed_ = 0;
};

}  // namespace nm::loadgen
