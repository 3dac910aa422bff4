// The counters every model keeps. Plain lock-free atomics, so the block can
// live in a MAP_SHARED mapping and be updated by forked children as well.
//
// Invariant once quiescent: accepted == active + closed + rejected.
#pragma once

#include <cerrno>
#include <atomic>
#include <cstdint>

namespace nm {

// The connection and traffic counters, each by its field here and its key
// in stats() (ServerStats in lib/server.ts says what each counts;
// STATS_COUNTERS in lib/stats-keys.ts lists them for the tests to hold the
// binding's keys against): one list for the counters, their snapshot, reset
// and the binding.
#define NM_COUNTERS(X)                                                                                  \
  X(accepted, "accepted") X(active, "active") X(peak_active, "peakActive") X(closed, "closed")          \
  X(rejected, "rejected") X(bytes_in, "bytesIn") X(bytes_out, "bytesOut") X(reads, "reads")            \
  X(writes, "writes") X(wakeups, "wakeups") X(reaped, "reaped") X(errors, "errors")

// The system calls counted, by name (stats().syscalls; what each counts is
// stated on SyscallStats in lib/server.ts and in the README): one list for
// the counters, their snapshot and the binding.
#define NM_SYSCALLS(X) X(accept) X(recv) X(send) X(wait) X(ctl) X(eagain) X(fork) X(clone)

// stats().syscalls in plain integers.
struct SyscallSnapshot {
#define NM_FIELD(name) uint64_t name = 0;
  NM_SYSCALLS(NM_FIELD)
#undef NM_FIELD
  SyscallSnapshot& operator+=(const SyscallSnapshot& o) {
#define NM_ADD(name) name += o.name;
    NM_SYSCALLS(NM_ADD)
#undef NM_ADD
    return *this;
  }
};

// A copy of every counter at one moment, in plain integers.
struct StatsSnapshot {
#define NM_FIELD(name, key) uint64_t name = 0;
  NM_COUNTERS(NM_FIELD)
#undef NM_FIELD
  SyscallSnapshot syscalls;
  // Adds a part's traffic (a composite's loop): bytes, calls, wakeups and
  // errors; never connections, which the parts count into the whole's block.
  void AddTraffic(const StatsSnapshot& p) {
    bytes_in += p.bytes_in;
    bytes_out += p.bytes_out;
    reads += p.reads;
    writes += p.writes;
    wakeups += p.wakeups;
    errors += p.errors;
    syscalls += p.syscalls;
  }
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

#define NM_COUNTER(name, key) Counter name{0};
  NM_COUNTERS(NM_COUNTER)
#undef NM_COUNTER

  // System calls made (see SyscallSnapshot). Counted where the call is made,
  // one relaxed increment each; never through `group`: a composite sums
  // its parts' blocks.
  struct Syscalls {
#define NM_COUNTER(name) Counter name{0};
    NM_SYSCALLS(NM_COUNTER)
#undef NM_COUNTER
  } sys;

  static void add(Counter& c, uint64_t n) { c.fetch_add(n, std::memory_order_relaxed); }

  // Zeroes every counter: a block handed to a new part (a prefork child
  // taking a dead one's slot). Only while nothing counts into it.
  void reset() {
#define NM_ZERO(name, ...) name.store(0, std::memory_order_relaxed);
    NM_COUNTERS(NM_ZERO)
#undef NM_ZERO
#define NM_ZERO(name) sys.name.store(0, std::memory_order_relaxed);
    NM_SYSCALLS(NM_ZERO)
#undef NM_ZERO
  }

  // A connection was accepted and will be served.
  void opened() {
    add(accepted, 1);
    raise_peak(active.fetch_add(1, std::memory_order_relaxed) + 1);
    if (group != nullptr) group->opened();
  }
  // opened(), unless `max` (0: no limit) connections are open already: the
  // check and the count in one atomic step, for processes that accept side
  // by side with no lock between them (a check, then a count, lets two in
  // at the last place). False, counting nothing, at capacity. Not for a
  // block with a group.
  bool open_below(uint64_t max) {
    uint64_t now = active.load(std::memory_order_relaxed);
    do {
      if (max != 0 && now >= max) return false;
    } while (!active.compare_exchange_weak(now, now + 1, std::memory_order_relaxed));
    add(accepted, 1);
    raise_peak(now + 1);
    return true;
  }
  void raise_peak(uint64_t now) {
    uint64_t peak = peak_active.load(std::memory_order_relaxed);
    while (now > peak && !peak_active.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
    }
  }
  // A connection that opened() finished.
  void finished() {
    active.fetch_sub(1, std::memory_order_relaxed);
    add(closed, 1);
    if (group != nullptr) group->finished();
  }
  // opened(), undone: the connection was rejected after all (its fork failed).
  void revoke() {
    active.fetch_sub(1, std::memory_order_relaxed);
    add(rejected, 1);
    if (group != nullptr) group->revoke();
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
    StatsSnapshot s;
#define NM_GET(name, key) s.name = get(name);
    NM_COUNTERS(NM_GET)
#undef NM_GET
#define NM_GET(name) s.syscalls.name = get(sys.name);
    NM_SYSCALLS(NM_GET)
#undef NM_GET
    return s;
  }
  // A recv/send/accept-like call returned `result` (errno set when negative):
  // counted into `call`, and into sys.eagain when it would have blocked.
  // Reads errno only; async-signal-safe.
  void called(Counter& call, long result) {
    add(call, 1);
    if (result < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) add(sys.eagain, 1);
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

// Where a call or a connection counts: the model's block and, for a part that
// keeps its own (a pool thread, a prefork child), that block too.
// Async-signal-safe: relaxed increments only.
struct Counts {
  Stats* total;
  Stats* part;  // nullptr: none
  void received(uint64_t n) const {
    total->received(n);
    if (part != nullptr) part->received(n);
  }
  void sent(uint64_t n) const {
    total->sent(n);
    if (part != nullptr) part->sent(n);
  }
  // A syscall returned `result` (errno set when negative).
  void called(Stats::Counter Stats::Syscalls::*which, long result) const {
    total->called(total->sys.*which, result);
    if (part != nullptr) part->called(part->sys.*which, result);
  }
  void error() const {
    Stats::add(total->errors, 1);
    if (part != nullptr) Stats::add(part->errors, 1);
  }
};

}  // namespace nm
