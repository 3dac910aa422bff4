// ThreadPoolServer: a pool of threads fed by a bounded queue. The accept
// thread (BlockingModel's loop) hands each connection to an idle worker, or
// queues it when none is idle; `threads` workers serve connections with the
// blocking loop. When no worker is free and a connection waits, the pool grows
// up to maxThreads; a thread beyond `threads` that stays idle for kRetire
// leaves. A connection that would find more than `queue` others waiting with
// the pool at maxThreads is rejected.
//
// When the pool grows: at once when the queue is full (or growDelayMs is 0),
// otherwise once a connection has waited growDelayMs for a thread; a manager
// thread watches the queue for that. Growing the moment work waits sizes the
// pool to the number of connections in flight, and a churning load then pays
// a hand-off wake-up and a blocking first read per connection on every one of
// those threads; a pool of a few threads fed from its queue finds the request
// already there (on 2 cores at 16 churning clients: 42 vs 23 us of server CPU
// per connection). A connection that really is stuck behind busy threads
// (clients that hold them) waits growDelayMs longer.
//
// Idle workers wait on a stack, each on a condition variable of its own, and
// the acceptor hands a connection to the one that went idle last (LIFO): the
// same few warm threads serve a churning load while the rest sleep and retire,
// instead of every thread being woken in turn and none ever retiring.
//
// stop(): BlockingModel shuts the listener and every socket being served
// down; Finish() then closes the queue, rejects what still waits in it, wakes
// every idle worker and joins them all.
#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <vector>

#include "core/clock.h"
#include "core/signals.h"
#include "models/blocking_model.h"

namespace nm {

namespace {

// How long a thread beyond `threads` may stay idle before it leaves.
constexpr auto kRetire = std::chrono::milliseconds(1000);
// After pthread_create failed, the manager tries again this much later at the soonest.
constexpr std::chrono::nanoseconds kRetrySpawn = std::chrono::milliseconds(100);
// Pool threads serve one client at a time into a buffer of their own.
constexpr size_t kStackSize = 256 << 10;

class ThreadPoolModel final : public BlockingModel {
 public:
  using BlockingModel::BlockingModel;

  // Also the path when Run() never ran (start() failed after Prepare()).
  ~ThreadPoolModel() override { Finish(); }

  void Workers(std::vector<WorkerStats>* out) override {
    for (size_t i = 0; i < max_threads_; i++) {
      if (!slots_[i].live.load(std::memory_order_acquire)) continue;
      WorkerStats w = SnapshotWorker(slots_[i].stats);
      w.state = w.active > 0 ? "busy" : "idle";
      out->push_back(w);
    }
  }

 private:
  struct Slot {
    ThreadPoolModel* self = nullptr;
    Stats stats;                    // this thread's own counters
    std::atomic<bool> live{false};  // a thread runs in this slot
    std::unique_ptr<char[]> buf;    // kept for the next thread of the slot
    std::condition_variable wake;   // a connection was handed over, or closing
    int handoff = -1;               // the connection handed over; mu_
  };

  struct Waiting {
    int fd;
    int64_t since_ns;  // queued at (MonotonicNs)
  };

  int Prepare(SysError* error) override {
    int r = BlockingModel::Prepare(error);
    if (r < 0) return r;
    slots_.reset(new Slot[max_threads_]);
    // Pool threads must not take the process's signals: started from the JS
    // thread here, they inherit this all-blocked mask.
    BlockAllSignals masked;
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t i = 0; i < threads_; i++) {
      if ((r = SpawnLocked()) < 0) {
        error->err = r;
        error->syscall = "pthread_create";
        return r;
      }
    }
    // Only a pool that can grow after a delay needs someone to watch the clock.
    if (max_threads_ > threads_ && grow_delay_ns_ > 0) {
      pthread_attr_t attr;
      pthread_attr_init(&attr);
      pthread_attr_setstacksize(&attr, kStackSize);
      const int err = pthread_create(&manager_, &attr, &ThreadPoolModel::ManagerMain, this);
      pthread_attr_destroy(&attr);
      if (err != 0) {
        error->err = -err;
        error->syscall = "pthread_create";
        return -err;
      }
      Stats::add(stats_->sys.clone, 1);
      has_manager_ = true;
    }
    return 0;
  }

  // Starts a thread in a free slot; it takes queued work first. 0 or
  // -errno. mu_ held.
  int SpawnLocked() {
    size_t i = 0;
    while (i < max_threads_ && slots_[i].live.load(std::memory_order_relaxed)) i++;
    if (i == max_threads_) return -EAGAIN;
    Slot& s = slots_[i];
    s.self = this;
    s.stats.reset();
    s.handoff = -1;
    if (!s.buf) s.buf.reset(new char[kReadBufferSize]);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, kStackSize);
    pthread_t tid;
    const int err = pthread_create(&tid, &attr, &ThreadPoolModel::Main, &s);
    pthread_attr_destroy(&attr);
    if (err != 0) return -err;
    Stats::add(stats_->sys.clone, 1);
    s.live.store(true, std::memory_order_release);
    live_++;
    starting_++;
    return 0;
  }

  void Dispatch(int fd) override {
    if (exits_.load(std::memory_order_acquire)) JoinExited();
    std::unique_lock<std::mutex> lock(mu_);
    const uint64_t max = MaxConnections();
    if (max == kRefuseAll ||
        (max != 0 && stats_->active.load(std::memory_order_relaxed) + queue_.size() >= max)) {
      Drop(fd);
      return;
    }
    if (!idle_.empty()) {
      Slot* s = idle_.back();
      idle_.pop_back();
      s->handoff = fd;
      lock.unlock();  // so the woken worker does not block on mu_ at once
      s->wake.notify_one();
      return;
    }
    // No idle thread: it waits, beyond the threads already starting.
    size_t waiting = queue_.size() + 1 > starting_ ? queue_.size() + 1 - starting_ : 0;
    if (waiting > 0 && live_ < max_threads_ && (waiting > queue_cap_ || grow_delay_ns_ == 0)) {
      const int r = SpawnLocked();
      if (r < 0) ReportError(r, "pthread_create");
      if (r == 0) waiting--;
    }
    if (waiting > queue_cap_) {
      Reject(fd);
      return;
    }
    queue_.push_back({fd, MonotonicNs()});
    const bool wake = manager_idle_ && waiting > 0 && live_ < max_threads_;
    if (wake) manager_idle_ = false;
    lock.unlock();
    if (wake) manager_wake_.notify_one();
  }

  static void* ManagerMain(void* arg) {
    static_cast<ThreadPoolModel*>(arg)->Manage();
    return nullptr;
  }

  // Starts a thread for every connection that has waited growDelayMs, and
  // sleeps until the next one would have.
  void Manage() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!closed_) {
      // Threads already starting take the first queued connections.
      if (queue_.size() <= starting_ || live_ >= max_threads_) {
        manager_idle_ = true;
        manager_wake_.wait(lock, [this] { return !manager_idle_ || closed_; });
        manager_idle_ = false;
        continue;
      }
      const int64_t now = MonotonicNs();
      const int64_t due = queue_[starting_].since_ns + grow_delay_ns_;
      if (now < due) {
        manager_wake_.wait_for(lock, std::chrono::nanoseconds(due - now));
        continue;
      }
      size_t aged = 0;
      while (starting_ + aged < queue_.size() && queue_[starting_ + aged].since_ns + grow_delay_ns_ <= now) aged++;
      for (; aged > 0 && live_ < max_threads_; aged--) {
        const int r = SpawnLocked();
        if (r < 0) {
          ReportError(r, "pthread_create");
          // Out of threads for now: look again later, not in a spin (and
          // not with an error report every growDelayMs).
          manager_wake_.wait_for(lock, std::max(std::chrono::nanoseconds(grow_delay_ns_), kRetrySpawn));
          break;
        }
      }
    }
  }

  static void* Main(void* arg) {
    auto* s = static_cast<Slot*>(arg);
    s->self->Serve(s);
    return nullptr;
  }

  void Serve(Slot* s) {
    std::unique_lock<std::mutex> lock(mu_);
    starting_--;
    for (;;) {
      int fd = -1;
      if (!queue_.empty()) {
        fd = queue_.front().fd;
        queue_.pop_front();
      } else if (!closed_) {
        idle_.push_back(s);
        // Timed even within `threads`: the pool may have grown meanwhile.
        const bool woken = s->wake.wait_for(lock, kRetire, [&] { return s->handoff >= 0 || closed_; });
        if (s->handoff >= 0) {
          fd = s->handoff;  // the acceptor took this slot off the stack
          s->handoff = -1;
        } else {
          idle_.erase(std::find(idle_.begin(), idle_.end(), s));
          if (woken || live_ <= threads_) continue;  // closed_ is handled above
          break;                                       // idle too long: retire
        }
      }
      if (fd < 0) break;  // the queue is closed and empty
      Stats::add(s->stats.wakeups, 1);
      lock.unlock();
      ServeClient(fd, s->buf.get(), kReadBufferSize, &s->stats);
      lock.lock();
    }
    live_--;
    s->live.store(false, std::memory_order_release);
    exited_.push_back(pthread_self());
    exits_.store(true, std::memory_order_release);
    if (live_ == 0) none_.notify_all();
  }

  // Joins the threads that have left (they are exiting already).
  void JoinExited() {
    std::vector<pthread_t> done;
    {
      std::lock_guard<std::mutex> lock(mu_);
      done.swap(exited_);
      exits_.store(false, std::memory_order_relaxed);
    }
    for (pthread_t t : done) pthread_join(t, nullptr);
  }

  // No more connections come: reject the queued ones, wake every idle
  // worker, wait for the busy ones (their sockets are shut down), join all.
  void Finish() override {
    {
      std::unique_lock<std::mutex> lock(mu_);
      closed_ = true;
      for (const Waiting& w : queue_) Reject(w.fd);
      queue_.clear();
      for (Slot* s : idle_) s->wake.notify_one();
      manager_wake_.notify_one();
      none_.wait(lock, [this] { return live_ == 0; });
    }
    if (has_manager_) {
      pthread_join(manager_, nullptr);
      has_manager_ = false;
    }
    JoinExited();
  }

  const size_t threads_ = static_cast<size_t>(opt_.Number("threads"));
  const size_t max_threads_ = static_cast<size_t>(opt_.Number("maxThreads"));
  const size_t queue_cap_ = static_cast<size_t>(opt_.Number("queue"));
  const int64_t grow_delay_ns_ = static_cast<int64_t>(opt_.Number("growDelayMs") * 1e6);
  std::unique_ptr<Slot[]> slots_;

  std::mutex mu_;
  std::condition_variable none_;  // the last thread left
  std::deque<Waiting> queue_;     // connections no idle thread could take yet
  std::vector<Slot*> idle_;       // idle threads, the last to go idle on top
  size_t live_ = 0;               // threads running
  size_t starting_ = 0;           // of those, started and not yet looking for work
  bool closed_ = false;
  std::vector<pthread_t> exited_;   // left, not yet joined
  std::atomic<bool> exits_{false};  // exited_ is not empty: the acceptor joins them

  pthread_t manager_{};
  bool has_manager_ = false;
  std::condition_variable manager_wake_;  // a connection waits, or closing
  bool manager_idle_ = false;             // the manager waits for a queued connection; mu_
};

}  // namespace

NM_REGISTER_MODEL("threadpool", ThreadPoolModel);

}  // namespace nm
