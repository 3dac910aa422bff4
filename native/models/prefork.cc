// PreforkServer: a pool of processes forked up front (Apache's prefork MPM,
// Net::Server::PreFork). Every child blocks in accept() on the one shared
// listener (the kernel wakes one waiter per connection), serves what it
// accepted with the blocking loop, then accepts again. The parent never
// accepts: its model thread forks, replaces and retires children.
//
// Each child counts into the shared totals and into its own slot; the slot's
// `active` says whether the child is serving, which is all the parent needs
// for the spare rules, applied once a second: fewer than minSpareWorkers idle
// -> fork more, up to maxWorkers, 1, 2, 4 ... a second (at most 32), so a
// burst cannot fork-bomb the host; more than maxSpareWorkers idle while more
// than `workers` live -> retire one. A child that exits (maxRequestsPerChild,
// a crash, SIGKILL) is replaced at once while fewer than `workers` live.
//
// Retiring never cuts a client off: SIGUSR1 only sets a flag, and the child
// leaves when accept() is interrupted or its client is done. The flag may be
// set just before the child blocks in accept(); it then serves one more
// client, or the signal repeated on the next round wakes it.
//
// The model thread forks every child and returns from Run() only once all
// are reaped: PR_SET_PDEATHSIG fires when the forking thread dies, so it
// must outlive them.
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <vector>

#include "core/child.h"
#include "core/clock.h"
#include "core/connection.h"
#include "core/reaper.h"
#include "models/model.h"

namespace nm {

namespace {

constexpr int kGraceMs = 500;         // stop(): SIGTERM, then SIGKILL after this
constexpr uint64_t kTickMs = 1000;    // how often the spare rules run (Apache's)
constexpr size_t kMaxSpawnRate = 32;  // children forked per tick at most (Apache's)
constexpr uint64_t kForkBackOffMs = 20;

// In a child: set by SIGUSR1, the parent's request to leave once idle.
volatile sig_atomic_t g_retire = 0;
void OnRetire(int) { g_retire = 1; }

class PreforkModel final : public Model {
 public:
  explicit PreforkModel(const ModelOptions& options)
      : Model(options), reaper_([this](const Reaper::Exit& e) { OnExit(e); }) {}

  ~PreforkModel() override { reaper_.Close(); }

  void Run() override {
    uint64_t next_tick = MonotonicMs() + kTickMs;
    std::vector<Reaper::Exit> exits;
    for (;;) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (stopping_) break;
        exits.swap(exits_);
      }
      for (const Reaper::Exit& e : exits) Gone(e, true);
      exits.clear();
      while (Count().working < workers_ && Spawn()) {
      }
      if (MonotonicMs() >= next_tick) {
        Maintain();
        next_tick = MonotonicMs() + kTickMs;
      }
      std::unique_lock<std::mutex> lock(mu_);
      const uint64_t now = MonotonicMs();
      wake_.wait_for(lock, std::chrono::milliseconds(next_tick > now ? next_tick - now : 0),
                     [this] { return stopping_ || !exits_.empty(); });
    }
    Finish();
  }

  void Stop() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    wake_.notify_all();
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

  void Describe(std::vector<std::pair<const char*, std::string>>* out) override {
    out->emplace_back("reaper", reaper_.mode() == Reaper::Mode::kPidfd ? "pidfd" : "sigchld");
  }

 private:
  struct Slot {
    std::atomic<pid_t> pid{-1};  // -1: free; read by Workers() on the JS thread
    bool retiring = false;       // model thread only
  };
  struct Counts {
    size_t live = 0;     // slots taken, retiring children included
    size_t working = 0;  // not retiring
    size_t idle = 0;     // not retiring, not serving
  };

  bool NonBlockingListener() const override { return false; }

  int Prepare(SysError* error) override {
    // Slot 0 holds the totals, slot 1 + i child i's own counters.
    int r = shared_.Map(1 + max_workers_);
    if (r < 0) {
      error->err = r;
      error->syscall = "mmap";
      return r;
    }
    stats_ = shared_.get(0);
    slots_.reset(new Slot[max_workers_]);
    const char* syscall = "";
    r = reaper_.Open(opt_.String("reaper") == "sigchld" ? Reaper::Mode::kSigchld
                                                        : Reaper::Mode::kPidfd,
                     &syscall);
    if (r < 0) {
      error->err = r;
      error->syscall = syscall;
    }
    return r;
  }

  Stats* Own(size_t i) const { return shared_.get(1 + i); }

  // On the reaper thread, with its lock held: hand the exit to the model thread.
  void OnExit(const Reaper::Exit& e) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      exits_.push_back(e);
    }
    wake_.notify_all();
  }

  // A child was reaped: frees its slot. A child killed while serving took its
  // connection with it (the kernel closed the socket): that one is closed.
  void Gone(const Reaper::Exit& e, bool running) {
    Stats::add(stats_->reaped, 1);
    if (running && (e.exit_code > 0 || e.signal > 0)) Stats::add(stats_->errors, 1);
    for (size_t i = 0; i < max_workers_; i++) {
      if (slots_[i].pid.load(std::memory_order_relaxed) != e.pid) continue;
      if (Own(i)->active.load(std::memory_order_relaxed) > 0) stats_->finished();
      slots_[i].retiring = false;
      slots_[i].pid.store(-1, std::memory_order_release);
      return;
    }
  }

  Counts Count() const {
    Counts c;
    for (size_t i = 0; i < max_workers_; i++) {
      if (slots_[i].pid.load(std::memory_order_relaxed) < 0) continue;
      c.live++;
      if (slots_[i].retiring) continue;
      c.working++;
      if (Own(i)->active.load(std::memory_order_relaxed) == 0) c.idle++;
    }
    return c;
  }

  // The spare rules, once a tick.
  void Maintain() {
    const Counts c = Count();
    if (c.idle < min_spare_ && c.live < max_workers_) {
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
      if (!slots_[i].retiring && retire && Own(i)->active.load(std::memory_order_relaxed) == 0) {
        slots_[i].retiring = true;
        retire = false;
      }
      if (slots_[i].retiring) reaper_.Signal(pid, SIGUSR1);
    }
  }

  // Forks a child into a free slot; false when none is free or fork() failed.
  bool Spawn() {
    size_t i = 0;
    while (i < max_workers_ && slots_[i].pid.load(std::memory_order_relaxed) >= 0) i++;
    if (i == max_workers_) return false;
    Stats* own = Own(i);
    own->reset();
    // The model thread runs with every signal blocked, and so does the child
    // until PrepareChild() has reset the dispositions.
    const pid_t parent = getpid();
    const pid_t pid = fork();
    if (pid == 0) Child(own, parent);
    if (pid < 0) {
      ReportError(-errno, "fork");
      PauseMs(kForkBackOffMs);
      return false;
    }
    slots_[i].retiring = false;
    slots_[i].pid.store(pid, std::memory_order_release);
    if (reaper_.Watch(pid) < 0) Stats::add(stats_->errors, 1);  // swept instead
    return true;
  }

  // The child: async-signal-safe code only on memory from before fork(), and
  // it never returns. Counts into the totals and its own slot; opened() goes
  // totals first and finished() own first, so a child killed in between can
  // only leave the totals one too high, never below what really happened.
  [[noreturn]] void Child(Stats* own, pid_t parent) {
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    const int r = PrepareChild(parent, listener_.get(), -1, &usr1);
    if (r != 0) _exit(r < 0 ? 1 : 0);  // a nonzero exit is counted by the parent
    struct sigaction sa = {};
    sa.sa_handler = OnRetire;  // no SA_RESTART: it must interrupt accept()
    if (sigaction(SIGUSR1, &sa, nullptr) < 0 || sigprocmask(SIG_UNBLOCK, &usr1, nullptr) < 0) _exit(1);
    Acceptor acceptor;
    acceptor.open();  // without a reserve, EMFILE pauses instead of shedding
    const int listener = listener_.get();
    uint64_t served = 0;
    while (!g_retire) {
      bool shed = false;
      const int fd = acceptor.accept(listener, false, &shed, &g_retire);
      Stats::add(stats_->wakeups, 1);
      Stats::add(own->wakeups, 1);
      if (fd == -EINTR) break;
      if (fd < 0) {
        Stats::add(stats_->errors, 1);
        Stats::add(own->errors, 1);
        if (shed) {
          stats_->reject();
          own->reject();
        } else {
          PauseMs(kAcceptPauseMs);  // retrying at once would spin
        }
        continue;
      }
      if (AtCapacity()) {
        own->reject();
        Reject(fd);
        continue;
      }
      if (opt_.idle_timeout_ms && SetIdleTimeout(fd, opt_.idle_timeout_ms) < 0) {
        Stats::add(stats_->errors, 1);
      }
      stats_->opened();
      own->opened();
      ServeBlocking(fd, opt_.handler, stats_, buf_.get(), kReadBufferSize, own);
      own->finished();
      stats_->finished();
      ::close(fd);
      if (++served == max_requests_) break;
    }
    _exit(0);
  }

  // Nothing forks any more: ask every child to leave, insist after the grace
  // period, and return once all are reaped.
  void Finish() {
    if (reaper_.Live() > 0) {
      reaper_.SignalAll(SIGTERM);
      while (!reaper_.WaitNone(kGraceMs)) reaper_.SignalAll(SIGKILL);
    }
    std::vector<Reaper::Exit> exits;
    {
      std::lock_guard<std::mutex> lock(mu_);
      exits.swap(exits_);
    }
    for (const Reaper::Exit& e : exits) Gone(e, false);
    reaper_.Close();
  }

  const size_t workers_ = static_cast<size_t>(opt_.Number("workers"));
  const size_t max_workers_ = static_cast<size_t>(opt_.Number("maxWorkers"));
  const size_t min_spare_ = static_cast<size_t>(opt_.Number("minSpareWorkers"));
  const size_t max_spare_ = static_cast<size_t>(opt_.Number("maxSpareWorkers"));
  const uint64_t max_requests_ = static_cast<uint64_t>(opt_.Number("maxRequestsPerChild"));
  size_t spawn_rate_ = 1;
  SharedStats shared_;
  std::unique_ptr<Slot[]> slots_;
  Reaper reaper_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;              // guarded by mu_
  std::vector<Reaper::Exit> exits_;    // guarded by mu_
  // Allocated before any fork(): each child reads into its own copy.
  std::unique_ptr<char[]> buf_{new char[kReadBufferSize]};
};

}  // namespace

NM_REGISTER_MODEL("prefork", PreforkModel);

}  // namespace nm
