// The counters every model keeps. Plain lock-free atomics, so the block can
// live in a MAP_SHARED mapping and be updated by forked children as well.
//
// Invariant once quiescent: accepted == active + closed + rejected.
#pragma once

#include <atomic>
#include <cstdint>
#include <initializer_list>

namespace nm {

// A copy of every counter at one moment, in plain integers.
struct StatsSnapshot {
  uint64_t accepted = 0, active = 0, peak_active = 0, closed = 0, rejected = 0, bytes_in = 0,
           bytes_out = 0, reads = 0, writes = 0, wakeups = 0, reaped = 0, errors = 0;
};

// Each block starts its own 128 bytes (two cache lines, the pair the
// adjacent-line prefetcher fetches together): blocks side by side in an array
// (a composite's loops, prefork children's slots) are written by different
// threads or processes for every request, and must not share a line.
struct alignas(128) Stats {
  using Counter = std::atomic<uint64_t>;
  static_assert(Counter::is_always_lock_free, "counters must work in shared memory");

  // A composite's parts (loops of one server) each count their own traffic,
  // and also count connections into the composite's block: the whole
  // server's active count (maxConnections) and its peak cannot be derived
  // from the parts' counts. Per connection, never per byte. Not for blocks
  // in shared memory (the pointer is process-local).
  Stats* group = nullptr;

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
    if (group != nullptr) group->opened();
  }
  // A connection that opened() finished.
  void finished() {
    active.fetch_sub(1, std::memory_order_relaxed);
    add(closed, 1);
    if (group != nullptr) group->finished();
  }
  // A connection was accepted and rejected at once (never counted as active).
  void reject() {
    add(accepted, 1);
    add(rejected, 1);
    if (group != nullptr) group->reject();
  }
  // Open connections of the whole server this block belongs to.
  uint64_t server_active() const {
    return (group != nullptr ? group : this)->active.load(std::memory_order_relaxed);
  }

  StatsSnapshot snapshot() const {
    auto get = [](const Counter& c) { return c.load(std::memory_order_relaxed); };
    return {get(accepted), get(active), get(peak_active), get(closed),  get(rejected), get(bytes_in),
            get(bytes_out), get(reads), get(writes),  get(wakeups), get(reaped), get(errors)};
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
