// PreforkServer: processes forked up front (Apache's prefork MPM,
// Net::Server::PreFork) block in accept() on the one shared listener (the
// kernel wakes one waiter per connection), serve with the blocking loop, and
// accept again. The parent never accepts: its model thread forks, replaces
// and retires children, and returns from Run() only once all are reaped:
// PR_SET_PDEATHSIG fires when the forking thread dies, so it must outlive them.
//
// Each child counts into the shared totals and its own slot, whose `active`
// says whether it is serving. Once a second the spare rules run: fewer than
// minSpareWorkers idle -> fork up to maxWorkers, 1, 2, 4 ... (at most 32) a
// second, so a burst cannot fork-bomb the host; more than maxSpareWorkers
// idle while more than `workers` live -> retire one. A child that exits
// (maxRequestsPerChild, crash, SIGKILL) is replaced at once below `workers`,
// unless children die young: one that fails (a signal, an exit code) within
// kYoungMs of its fork delays every fork after it, 10 ms doubling to 1 s
// while they keep dying young (a crash loop forks once a second, not
// hundreds of times), counted in diedYoung and shown in respawnDelayMs.
//
// The children accept for themselves, so the limits are enforced where
// they accept, on the shared mapping: maxConnections in one atomic step
// (Stats::open_below), maxConnectionsPerSource on a slot per child
// (SourceSlots), which the parent clears when it reaps the child. While
// someone listens to 'drop', a child writes each connection it refuses for
// maxConnections to a pipe the model thread reads and reports (DropPipe:
// never a wait for the child, a record lost to a full pipe counted in
// dropEventsLost).
//
// Retiring never cuts a client off: SIGUSR1 sets a flag, and the child leaves
// when accept() is interrupted or its client is done. Sent just before the
// child blocks in accept(), it is repeated on the next round.
#include <poll.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <memory>
#include <mutex>
#include <vector>

#include "core/child.h"
#include "core/clock.h"
#include "core/connection.h"
#include "core/drop_pipe.h"
#include "core/shared_array.h"
#include "core/wakeup.h"
#include "models/model.h"

namespace nm {

namespace {

constexpr uint64_t kTickMs = 1000;      // how often the spare rules run (Apache's)
constexpr size_t kMaxSpawnRate = 32;    // children forked per tick at most (Apache's)
constexpr uint64_t kYoungMs = 1000;     // a child failing sooner died young
constexpr uint64_t kFirstDelayMs = 10;  // forks wait this long after the first
constexpr uint64_t kMaxDelayMs = 1000;  // and at most this long

// In a child: set by SIGUSR1, the parent's request to leave once idle.
volatile sig_atomic_t g_retire = 0;
void OnRetire(int) { g_retire = 1; }

class PreforkModel final : public Model {
 public:
  explicit PreforkModel(const ModelOptions& options)
      : Model(options), children_([this](const Reaper::Exit& e) { OnExit(e); }) {}

  void Run() override {
    uint64_t next_tick = MonotonicMs() + kTickMs;
    for (;;) {
      Reap(true);
      // Forking a large pool takes seconds: refusals are reported meanwhile.
      while (Count().working < workers_ && MonotonicMs() >= fork_after_ && Spawn()) ReportDrops();
      if (MonotonicMs() >= next_tick) {
        Maintain();
        next_tick = MonotonicMs() + kTickMs;
      }
      const uint64_t now = MonotonicMs();
      uint64_t until = next_tick;
      if (fork_after_ > now && Count().working < workers_) until = std::min(until, fork_after_);
      if (Wait(until > now ? until - now : 0)) break;
    }
    children_.StopAll();  // nothing forks any more
    Reap(false);
    ReportDrops();  // what the children refused before they left
  }

  void Stop() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    wake_.signal();
  }

  void Workers(std::vector<WorkerStats>* out) override {
    for (size_t i = 0; i < max_workers_; i++) {
      const pid_t pid = slots_[i].pid.load(std::memory_order_acquire);
      if (pid < 0) continue;
      WorkerStats w = SnapshotWorker(*Own(i));
      w.pid = pid;
      w.state = w.active > 0 ? "busy" : "idle";
      out->push_back(w);
    }
  }

  // The children send drop records only while someone listens.
  void WantEvents(bool on) override {
    Model::WantEvents(on);
    drops_.Want(on);
  }

  void Describe(std::vector<std::pair<const char*, std::string>>* out) override {
    out->emplace_back("reaper", children_.mode());
  }

  void Counters(std::vector<std::pair<const char*, uint64_t>>* out) override {
    out->emplace_back("diedYoung", died_young_.load(std::memory_order_relaxed));
    out->emplace_back("respawnDelayMs", delay_ms_.load(std::memory_order_relaxed));
    out->emplace_back("dropEventsLost", drops_.lost());
  }

 private:
  struct Slot {
    std::atomic<pid_t> pid{-1};  // -1: free; read by Workers() on the JS thread
    bool retiring = false;       // model thread only
    uint64_t forked_ms = 0;      // model thread only
  };
  struct Counts {
    size_t live = 0;     // slots taken, retiring children included
    size_t working = 0;  // not retiring
    size_t idle = 0;     // not retiring, not serving
  };

  bool NonBlockingListener() const override { return false; }

  int Prepare(SysError* error) override {
    // Block 0 holds the totals, block 1 + i the counters of the child in slot i.
    const int r = children_.Open(1 + max_workers_, opt_.String("reaper"), &error->syscall);
    if (r < 0) return error->err = r;
    stats_ = children_.stats();
    slots_.reset(new Slot[max_workers_]);
    if (opt_.max_per_source != 0 && (error->err = source_slots_.Map(max_workers_)) < 0) {
      error->syscall = "mmap";
      return error->err;
    }
    // maxConnections where the children read it, so that a change while
    // running reaches the children already forked.
    if ((error->err = shared_limit_.Map(1)) < 0) {
      error->syscall = "mmap";
      return error->err;
    }
    shared_limit_.get()->store(opt_.max_connections, std::memory_order_relaxed);
    UseLimit(shared_limit_.get());
    if ((error->err = wake_.open()) < 0) {
      error->syscall = "eventfd";
      return error->err;
    }
    return error->err = drops_.Open(&error->syscall);
  }

  Stats* Own(size_t i) const { return children_.stats(1 + i); }
  bool Idle(size_t i) const { return Own(i)->active.load(std::memory_order_relaxed) == 0; }

  // On the reaper thread, with its lock held: hand the exit to the model thread.
  void OnExit(const Reaper::Exit& e) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      exits_.push_back(e);
    }
    wake_.signal();
  }

  // Up to `ms` for an exit or Stop(), reporting the drops that come
  // meanwhile; true once stopping.
  bool Wait(uint64_t ms) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_ || !exits_.empty()) return stopping_;
    }
    pollfd fds[2] = {{wake_.fd(), POLLIN, 0}, {drops_.fd(), POLLIN, 0}};
    if (poll(fds, 2, static_cast<int>(ms)) < 0 && errno != EINTR) {
      ReportError(-errno, "poll");
      PauseMs(kFirstDelayMs);  // at once again would spin
    }
    if (fds[0].revents != 0) wake_.drain();
    if (fds[1].revents != 0) ReportDrops();
    std::lock_guard<std::mutex> lock(mu_);
    return stopping_;
  }

  // Emits what the drop pipe holds now (those sent before the last listener
  // left are read and discarded).
  void ReportDrops() {
    const int r = drops_.Drain([this](const DropRecord& d) {
      if (WantsEvents()) Emit(DropEvent(&d.local.sa, &d.remote.sa));
    });
    if (r < 0) ReportError(r, "read");
  }

  // Frees the slots of the children reaped. One killed while serving took its
  // connection with it (the kernel closed the socket): that one is closed.
  // A child that died of a signal or exit code is an error, unless stopping.
  void Reap(bool running) {
    std::vector<Reaper::Exit> exits;
    {
      std::lock_guard<std::mutex> lock(mu_);
      exits.swap(exits_);
    }
    for (const Reaper::Exit& e : exits) {
      Stats::add(stats_->reaped, 1);
      const bool failed = running && (e.exit_code > 0 || e.signal > 0);
      if (failed) Stats::add(stats_->errors, 1);
      for (size_t i = 0; i < max_workers_; i++) {
        if (slots_[i].pid.load(std::memory_order_relaxed) != e.pid) continue;
        if (!Idle(i)) stats_->finished();
        if (opt_.max_per_source != 0) source_slots_.Clear(i);
        if (failed) DiedAfter(MonotonicMs() - slots_[i].forked_ms);
        slots_[i].pid.store(-1, std::memory_order_release);
        break;
      }
    }
  }

  // A child failed `lived_ms` after its fork: one that died young delays
  // the forks after it, twice as long as the last delay if that was recent.
  void DiedAfter(uint64_t lived_ms) {
    if (lived_ms >= kYoungMs) return;
    Stats::add(died_young_, 1);
    const uint64_t now = MonotonicMs();
    uint64_t delay = delay_ms_.load(std::memory_order_relaxed);
    const bool again = delay != 0 && now < fork_after_ + kYoungMs;
    delay = again ? std::min(delay * 2, kMaxDelayMs) : kFirstDelayMs;
    delay_ms_.store(delay, std::memory_order_relaxed);
    fork_after_ = now + delay;
  }

  Counts Count() const {
    Counts c;
    for (size_t i = 0; i < max_workers_; i++) {
      if (slots_[i].pid.load(std::memory_order_relaxed) < 0) continue;
      c.live++;
      if (slots_[i].retiring) continue;
      c.working++;
      c.idle += Idle(i);
    }
    return c;
  }

  // The spare rules, once a tick.
  void Maintain() {
    const Counts c = Count();
    if (MonotonicMs() >= fork_after_ + kYoungMs) delay_ms_.store(0, std::memory_order_relaxed);
    if (c.idle < min_spare_ && c.live < max_workers_ && MonotonicMs() >= fork_after_) {
      size_t n = std::min({spawn_rate_, min_spare_ - c.idle, max_workers_ - c.live});
      while (n-- > 0 && Spawn()) {
      }
      spawn_rate_ = std::min(spawn_rate_ * 2, kMaxSpawnRate);
    } else {
      spawn_rate_ = 1;
    }
    // Retire the idle child in the highest slot; repeat the request to those
    // already retiring, in case it came just before they blocked in accept().
    bool retire = c.idle > max_spare_ && c.working > workers_;
    for (size_t i = max_workers_; i-- > 0;) {
      const pid_t pid = slots_[i].pid.load(std::memory_order_relaxed);
      if (pid < 0) continue;
      if (retire && !slots_[i].retiring && Idle(i)) {
        slots_[i].retiring = true;
        retire = false;
      }
      if (slots_[i].retiring) children_.reaper().Signal(pid, SIGUSR1);
    }
  }

  // Forks a child into a free slot; false when none is free or fork() failed.
  bool Spawn() {
    size_t i = 0;
    while (i < max_workers_ && slots_[i].pid.load(std::memory_order_relaxed) >= 0) i++;
    if (i == max_workers_) return false;
    Own(i)->reset();
    const pid_t pid = children_.Fork([&](pid_t parent) { Child(i, parent); });
    if (pid < 0) {
      ReportError(pid, "fork");
      return false;
    }
    slots_[i].retiring = false;
    slots_[i].forked_ms = MonotonicMs();
    slots_[i].pid.store(pid, std::memory_order_release);
    children_.Watch(pid);
    return true;
  }

  // The child: async-signal-safe code only on memory from before fork(), and
  // it never returns. Counts into the totals and its own block; opened() goes
  // totals first and finished() own first, so a child killed in between can
  // only leave the totals one too high, never below what really happened.
  [[noreturn]] void Child(size_t slot, pid_t parent) {
    Stats* own = Own(slot);
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    const int r = PrepareChild(parent, listener_.get(), -1, &usr1, drops_.write_fd());
    if (r != 0) _exit(r < 0 ? 1 : 0);  // a nonzero exit is counted by the parent
    if (CatchInChild(SIGUSR1, OnRetire) < 0) _exit(1);  // it must interrupt accept()
    Acceptor acceptor;
    acceptor.open(stats_, own);  // without a reserve, EMFILE pauses instead of shedding
    const bool per_source = opt_.max_per_source != 0;
    for (uint64_t served = 0; !g_retire && (max_requests_ == 0 || served < max_requests_);) {
      bool shed = false;
      sockaddr_storage peer;
      const int fd = acceptor.accept(listener_.get(), false, &shed, &peer, &g_retire);
      for (Stats* s : {stats_, own}) Stats::add(s->wakeups, 1);
      if (fd == -EINTR) break;
      if (fd < 0) {
        for (Stats* s : {stats_, own}) Stats::add(s->errors, 1);
        if (shed) {
          for (Stats* s : {stats_, own}) s->reject();
        } else {
          PauseMs(kAcceptPauseMs);  // retrying at once would spin
        }
      } else if (per_source && !source_slots_.Admit(slot, peer, opt_.max_per_source)) {
        Refuse(fd, own);
      } else if (const uint64_t max = MaxConnections(); max == kRefuseAll || !stats_->open_below(max)) {
        if (per_source) source_slots_.Release(slot);
        drops_.Send(fd, peer);
        Refuse(fd, own);
      } else {
        if (opt_.idle_timeout_ms && SetIdleTimeout(fd, opt_.idle_timeout_ms) < 0) {
          Stats::add(stats_->errors, 1);
        }
        own->opened();
        ServeBlocking(fd, opt_.handler, stats_, buf_.get(), kReadBufferSize, own);
        if (per_source) source_slots_.Release(slot);  // before stats() or the client see the end
        own->finished();
        stats_->finished();
        ::close(fd);
        served++;
      }
    }
    _exit(0);
  }

  // In a child: closes a connection it will not serve, counted first (no
  // Model::Reject: its per-source table takes a lock).
  void Refuse(int fd, Stats* own) {
    own->reject();
    stats_->reject();
    ::close(fd);
  }

  const size_t workers_ = static_cast<size_t>(opt_.Number("workers"));
  const size_t max_workers_ = static_cast<size_t>(opt_.Number("maxWorkers"));
  const size_t min_spare_ = static_cast<size_t>(opt_.Number("minSpareWorkers"));
  const size_t max_spare_ = static_cast<size_t>(opt_.Number("maxSpareWorkers"));
  const uint64_t max_requests_ = static_cast<uint64_t>(opt_.Number("maxRequestsPerChild"));
  size_t spawn_rate_ = 1;
  uint64_t fork_after_ = 0;      // model thread only: no fork before this
  Stats::Counter delay_ms_{0};   // the last delay; 0 once children live on
  Stats::Counter died_young_{0};
  SourceSlots source_slots_;     // maxConnectionsPerSource across the children
  SharedArray<Stats::Counter> shared_limit_;  // maxConnections
  std::unique_ptr<Slot[]> slots_;
  DropPipe drops_;                   // from the children to the model thread
  std::mutex mu_;
  Wakeup wake_;                      // Stop() or an exit, for Wait()
  bool stopping_ = false;            // guarded by mu_
  std::vector<Reaper::Exit> exits_;  // guarded by mu_
  // Allocated before any fork(): each child reads into its own copy.
  std::unique_ptr<char[]> buf_{new char[kReadBufferSize]};
  // Last: its reaper thread, which runs OnExit(), stops before the members
  // above go away.
  ChildGroup children_;
};

}  // namespace

NM_REGISTER_MODEL("prefork", PreforkModel);

}  // namespace nm
