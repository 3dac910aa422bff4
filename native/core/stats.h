// The counters every model keeps. Plain lock-free atomics, so the block can
// live in a MAP_SHARED mapping and be updated by forked children as well.
//
// Invariant once quiescent: accepted == active + closed + rejected.
#pragma once

#include <atomic>
#include <cstdint>
#include <initializer_list>

namespace nm {

struct Stats {
  using Counter = std::atomic<uint64_t>;
  static_assert(Counter::is_always_lock_free, "counters must work in shared memory");

  Counter accepted{0};
  Counter active{0};
  Counter peak_active{0};
  Counter closed{0};
  Counter rejected{0};
  Counter bytes_in{0};
  Counter bytes_out{0};
  Counter reads{0};
  Counter writes{0};
  Counter wakeups{0};
  Counter reaped{0};
  Counter errors{0};

  static void add(Counter& c, uint64_t n) { c.fetch_add(n, std::memory_order_relaxed); }

  // Zeroes every counter: a block handed to a new part (a prefork child
  // taking a dead one's slot). Only while nothing counts into it.
  void reset() {
    for (Counter* c : {&accepted, &active, &peak_active, &closed, &rejected, &bytes_in, &bytes_out,
                       &reads, &writes, &wakeups, &reaped, &errors}) {
      c->store(0, std::memory_order_relaxed);
    }
  }

  // A connection was accepted and will be served.
  void opened() {
    add(accepted, 1);
    const uint64_t now = active.fetch_add(1, std::memory_order_relaxed) + 1;
    uint64_t peak = peak_active.load(std::memory_order_relaxed);
    while (now > peak && !peak_active.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
    }
  }
  // A connection that opened() finished.
  void finished() {
    active.fetch_sub(1, std::memory_order_relaxed);
    add(closed, 1);
  }
  // A connection was accepted and rejected at once (never counted as active).
  void reject() {
    add(accepted, 1);
    add(rejected, 1);
  }
  void received(uint64_t n) {
    add(bytes_in, n);
    add(reads, 1);
  }
  void sent(uint64_t n) {
    add(bytes_out, n);
    add(writes, 1);
  }
};

}  // namespace nm
