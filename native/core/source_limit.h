// maxConnectionsPerSource: open connections counted per remote IP, as
// tcpserver -C, xinetd per_source and systemd MaxConnectionsPerSource do.
//
// One table per model, shared by all its threads (a blocking model's
// connection threads, a fork model's reaper, the loops of a composite), so
// it takes a lock; a model without a limit never touches it. Admit and
// Release are O(1): one hash map keyed by IP, one table indexed by fd that
// remembers which IP each admitted connection counts against, so the code
// that closes a connection needs only its fd.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "core/shared_array.h"

namespace nm {

// A remote IP: IPv6 bits, IPv4 as its v4-mapped form (::ffff:a.b.c.d).
struct SourceKey {
  uint64_t hi = 0, lo = 0;
  bool operator==(const SourceKey& o) const { return hi == o.hi && lo == o.lo; }
};

// The IP of `peer` as a key; false when it is not an IP address.
bool SourceKeyOf(const sockaddr_storage& peer, SourceKey* key);

// A count taken out of the fd table (Detach): released later by key.
struct SourceHold {
  bool held = false;
  SourceKey key;
};

class SourceLimit {
 public:
  explicit SourceLimit(uint32_t max_per_source) : max_(max_per_source) {}
  SourceLimit(const SourceLimit&) = delete;
  SourceLimit& operator=(const SourceLimit&) = delete;

  bool enabled() const { return max_ != 0; }

  // Counts `fd`, just accepted from `peer`, against its IP. False, counting
  // nothing, when that IP already has the maximum open: reject it. Always
  // true when the limit is off or the peer is not an IP address.
  bool Admit(int fd, const sockaddr_storage& peer);
  // The connection on `fd` is over; call before closing `fd` (its number may
  // be reused at once). Nothing for an fd that was not admitted.
  void Release(int fd);
  // Moves `fd`'s count out of the fd table, for a connection that lives on
  // after this process closes `fd` (a forked child's).
  SourceHold Detach(int fd);
  void Release(const SourceHold& hold);

 private:
  struct Hash {
    size_t operator()(const SourceKey& k) const { return std::hash<uint64_t>()(k.hi * 31 + k.lo); }
  };
  struct Slot {
    bool held = false;
    SourceKey key;
  };
  void Drop(const SourceKey& key);  // lock held

  const uint32_t max_;
  std::mutex mu_;
  std::unordered_map<SourceKey, uint32_t, Hash> open_;  // IP -> open connections (> 0)
  std::vector<Slot> by_fd_;
};

// maxConnectionsPerSource across processes that each serve one connection
// at a time and accept for themselves (prefork children): one slot per
// process in a MAP_SHARED mapping, holding the IP it serves.
//
// Admit counts the slots that hold the IP and takes its own if there is
// room, under a spin lock in the mapping whose word names the slot holding
// it: two processes admitting at once cannot both take the last place. A
// process killed at any point leaves nothing held but its slot and perhaps
// the lock, both named by its slot number, which the parent clears when it
// reaps it (Clear). O(slots) per admission, only with a limit set.
class SourceSlots {
 public:
  // Maps `count` free slots, before any fork(). 0 or -errno (mmap).
  int Map(size_t count);
  // Whether slot `i` may serve `peer` with at most `max` (> 0) open per IP
  // (then counted in slot `i`); true for a peer that is not an IP.
  // Async-signal-safe.
  bool Admit(size_t i, const sockaddr_storage& peer, uint32_t max);
  // Slot `i` serves nobody now. Async-signal-safe.
  void Release(size_t i) { slots_.get(i)->held.store(false, std::memory_order_release); }
  // The process of slot `i` is gone: its count, and the lock if it died
  // holding it. From the parent, once it has reaped that process.
  void Clear(size_t i);

 private:
  struct Slot {
    SourceKey key;
    std::atomic<bool> held{false};
  };
  static_assert(std::atomic<uint32_t>::is_always_lock_free, "the lock must work in shared memory");
  SharedArray<std::atomic<uint32_t>> owner_;  // 0: free, else 1 + the slot that holds the lock
  SharedArray<Slot> slots_;
};

}  // namespace nm
