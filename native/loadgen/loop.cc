#include "loadgen/loop.h"

namespace nm::loadgen {

void Loop::EmitProgress(const LoadRun::ProgressFn& progress, int64_t now, Phase phase) {
  uint64_t completed = 0;
  Progress p;
  p.phase = phase;
  for (const auto& loop : shared_.loops) {
    completed += loop->published_completed.load(std::memory_order_relaxed);
    p.requests += loop->published_requests.load(std::memory_order_relaxed);
    p.errors += loop->published_errors.load(std::memory_order_relaxed);
  }
  // Requests count in the measured window only; a warm-up snapshot reported
  // late must not carry the window's first ones.
  if (phase != Phase::kMeasure) p.requests = 0;
  p.elapsed_ms = static_cast<double>(now - shared_.start_ns) / 1e6;
  const int64_t span = now - last_progress_ns_;
  if (span > 0) {
    p.rps = static_cast<double>(completed - last_progress_completed_) * 1e9 / static_cast<double>(span);
  }
  last_progress_ns_ = now;
  last_progress_completed_ = completed;
  progress(p);
}

}  // namespace nm::loadgen
