// Time helpers shared by every part of the addon. All async-signal-safe:
// clock_gettime and nanosleep are on the POSIX list, so forked children may
// use them too.
#pragma once

#include <sys/time.h>
#include <time.h>

#include <cstdint>

namespace nm {

// CLOCK_MONOTONIC through the vDSO cannot fail with a valid clock id.
inline int64_t MonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

inline uint64_t MonotonicMs() { return static_cast<uint64_t>(MonotonicNs() / 1'000'000); }

// The coarse clock (jiffy resolution, ~4 ms) is a plain memory read: good
// enough for idle and linger deadlines checked once per loop round. It is
// never mixed with MonotonicMs() in one comparison.
inline uint64_t CoarseMonotonicMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1'000'000;
}

inline timeval MsToTimeval(uint64_t ms) {
  return timeval{static_cast<time_t>(ms / 1000), static_cast<suseconds_t>((ms % 1000) * 1000)};
}

// Sleeps about `ms`: the pause after a failure that would otherwise be
// retried at once and spin the CPU (EMFILE with nothing to shed, fork()
// refused). An interrupting signal just shortens it.
inline void PauseMs(uint64_t ms) {
  timespec ts{static_cast<time_t>(ms / 1000), static_cast<long>((ms % 1000) * 1'000'000)};
  nanosleep(&ts, nullptr);
}

}  // namespace nm
