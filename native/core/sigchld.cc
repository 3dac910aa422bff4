#include "core/sigchld.h"

#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <mutex>

namespace nm {

namespace {

constexpr int kSlots = 64;
std::atomic<int> g_slots[kSlots];
std::atomic<int> g_in_handler{0};
std::mutex g_mu;  // guards installation, the previous action and g_users
int g_users = 0;

// The action ours replaced, published through an atomic pointer so a handler
// never reads a half-written struct: a new value goes into the other buffer.
struct sigaction g_prev_buffers[2];
std::atomic<const struct sigaction*> g_prev{nullptr};

void SetPrev(const struct sigaction& sa) {
  struct sigaction* next = g_prev.load() == &g_prev_buffers[0] ? &g_prev_buffers[1] : &g_prev_buffers[0];
  *next = sa;
  g_prev.store(next);
}

bool SameAction(const struct sigaction& a, const struct sigaction& b) {
  return a.sa_handler == b.sa_handler && a.sa_flags == b.sa_flags;
}

bool IsDflOrIgn(const struct sigaction& sa) {
  return sa.sa_handler == SIG_DFL || sa.sa_handler == SIG_IGN;
}

void OnSigchld(int sig, siginfo_t* info, void* context) {
  const int saved = errno;
  g_in_handler.fetch_add(1);
  for (auto& slot : g_slots) {
    const int v = slot.load();
    if (v <= 0) continue;
    const uint64_t one = 1;
    ssize_t r;
    do {
      r = ::write(v - 1, &one, sizeof one);
    } while (r < 0 && errno == EINTR);
    // EAGAIN: the counter is full, so a wakeup is pending anyway.
  }
  // SIG_DFL and SIG_IGN need no call: for SIGCHLD both mean "nothing".
  const struct sigaction* prev = g_prev.load();
  if (prev != nullptr && !IsDflOrIgn(*prev)) {
    if (prev->sa_flags & SA_SIGINFO) {
      prev->sa_sigaction(sig, info, context);
    } else {
      prev->sa_handler(sig);
    }
  }
  g_in_handler.fetch_sub(1);
  errno = saved;
}

bool OursInstalled(const struct sigaction& current) {
  return (current.sa_flags & SA_SIGINFO) && current.sa_sigaction == &OnSigchld;
}

void WaitForHandlers() {
  while (g_in_handler.load() != 0) sched_yield();
}

}  // namespace

int AcquireSigchld(int fd, int* slot) {
  std::lock_guard<std::mutex> lock(g_mu);
  struct sigaction current;
  if (sigaction(SIGCHLD, nullptr, &current) < 0) return -errno;
  // SIG_IGN (or SA_NOCLDWAIT) tells the kernel to reap every child at once.
  // Replacing it would turn the host's other children into zombies nobody
  // waits for, so it is left alone: our children then vanish by themselves
  // and the sweep sees ECHILD for each.
  const bool host_autoreaps = current.sa_handler == SIG_IGN || (current.sa_flags & SA_NOCLDWAIT);
  // Installs when nobody has, and again when someone replaced ours (libuv
  // does on the first spawn): the new handler becomes the one we chain to.
  if (!host_autoreaps && !OursInstalled(current)) {
    WaitForHandlers();
    SetPrev(current);
    struct sigaction sa = {};
    sa.sa_sigaction = &OnSigchld;
    sa.sa_mask = current.sa_mask;  // the chained handler runs under the mask it asked for
    sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_NOCLDSTOP;
    struct sigaction replaced;
    if (sigaction(SIGCHLD, &sa, &replaced) < 0) return -errno;
    // Another thread (a worker's libuv spawning) may have installed its own
    // handler between the query and ours: chain to that one instead, or it
    // would never hear of its children again.
    if (!SameAction(replaced, current)) SetPrev(replaced);
  }
  ++g_users;
  *slot = -1;
  for (int i = 0; i < kSlots && *slot < 0; ++i) {
    int expected = 0;
    if (g_slots[i].compare_exchange_strong(expected, fd + 1)) *slot = i;
  }
  return 0;
}

void ReleaseSigchld(int slot) {
  std::lock_guard<std::mutex> lock(g_mu);
  if (slot >= 0) g_slots[slot].store(0);
  WaitForHandlers();  // after this, no handler can still write to the slot's fd
  if (--g_users > 0) return;
  struct sigaction current;
  if (sigaction(SIGCHLD, nullptr, &current) == 0 && OursInstalled(current)) {
    sigaction(SIGCHLD, g_prev.load(), nullptr);  // cannot fail: it came from the kernel
  }
}

}  // namespace nm
