// Several loops of one event model, each on its own thread, behind one
// start/stop/stats: nginx's worker per core, muduo's EventLoopThreadPool.
// Any event model can be a part: it is built by name from the registry with
// the same options, and only how it gets its connections differs:
//
//   reuseport  every loop has its own SO_REUSEPORT listener on the port; the
//              kernel spreads connections by a hash of the 4-tuple.
//   shared     one listener, watched by every loop (epoll adds it with
//              EPOLLEXCLUSIVE, so one loop is woken per connection; select
//              and poll wake all, and the losers meet EAGAIN).
//   handoff    this model's thread accepts and hands each connection to the
//              next loop, round-robin, through that loop's inbox (Adopt).
//
// Counters: each loop counts its own traffic (stats().workers) and counts
// connections into this model's block too (Stats::group), so the server's
// active count, maxConnections and peak are exact across loops.
//
// Stopping: every loop is stopped and joined before any listener closes
// (the parts own theirs, and are destroyed with this model). A reuseport
// listener closed while the others keep accepting would reset the
// connections queued on it (the kernel migrates them only with
// net.ipv4.tcp_migrate_req), so none is ever closed alone.
#include <poll.h>

#include <algorithm>
#include <cstring>
#include <system_error>
#include <thread>

#include "core/listener.h"
#include "core/wakeup.h"
#include "models/model.h"

namespace nm {

namespace {

enum class Balance { kReusePort, kShared, kHandoff };

Balance ParseBalance(const std::string& name) {
  if (name == "shared") return Balance::kShared;
  if (name == "handoff") return Balance::kHandoff;
  return Balance::kReusePort;
}

class LoopsModel final : public Model {
 public:
  LoopsModel(const std::string& part_name, const ModelOptions& options)
      : Model(options),
        part_name_(part_name),
        balance_(ParseBalance(options.String("balance"))),
        stats_blocks_(static_cast<size_t>(options.Number("loops"))) {
    // With reuseport the parts listen; this model has no socket of its own.
    opt_.no_listener = balance_ == Balance::kReusePort;
  }

  void Run() override {
    for (auto& part : parts_) part->on_error = on_error;
    std::vector<std::thread> threads;
    // The part run on this thread, if any: the acceptor takes it in handoff.
    const size_t first = balance_ == Balance::kHandoff ? 0 : 1;
    bool started = true;
    for (size_t i = first; i < parts_.size() && started; i++) {
      try {
        threads.emplace_back([p = parts_[i].get()] { p->Run(); });
        Stats::add(own_stats_.sys.clone, 1);
      } catch (const std::system_error& e) {
        // A server with a loop missing would not be the one asked for:
        // report it and stop serving (stop() still cleans up).
        ReportError(-e.code().value(), "pthread_create");
        started = false;
      }
    }
    if (!started) {
      // Nothing was accepted yet by this thread; the running loops stop below.
    } else if (balance_ == Balance::kHandoff) {
      AcceptAndHandOff();
    } else {
      parts_[0]->Run();
    }
    for (auto& part : parts_) part->Stop();
    for (auto& t : threads) t.join();
  }

  void Stop() override {
    if (balance_ == Balance::kHandoff) {
      stop_.signal();  // the acceptor stops the parts once it has stopped handing over
    } else {
      for (auto& part : parts_) part->Stop();
    }
  }

  StatsSnapshot Totals() override {
    StatsSnapshot total = own_stats_.snapshot();  // connections, from every part
    for (auto& block : stats_blocks_) total.AddTraffic(block.snapshot());
    return total;
  }

  // A model's own counters (sigio's overflows): the sums over the loops.
  void Counters(std::vector<std::pair<const char*, uint64_t>>* out) override {
    for (auto& part : parts_) {
      std::vector<std::pair<const char*, uint64_t>> mine;
      part->Counters(&mine);
      // No structured binding: clang before 16 cannot capture one.
      for (const auto& counter : mine) {
        auto it = std::find_if(out->begin(), out->end(), [&](const auto& e) { return !strcmp(e.first, counter.first); });
        if (it == out->end()) {
          out->push_back(counter);
        } else {
          it->second += counter.second;
        }
      }
    }
  }

  void Workers(std::vector<WorkerStats>* out) override {
    for (auto& block : stats_blocks_) out->push_back(SnapshotWorker(block));
  }

  // Every loop is the same model with the same options: the first one's
  // facts stand for all (uring: the ring each loop runs).
  void Describe(std::vector<std::pair<const char*, std::string>>* out) override {
    if (!parts_.empty()) parts_[0]->Describe(out);
  }

 private:
  int Prepare(SysError* error) override {
    if (balance_ == Balance::kHandoff) {
      int r = stop_.open();
      if (r < 0) return error->set(r, "eventfd");
      if ((r = acceptor_.open(&own_stats_)) < 0) return error->set(r, "open");
      // What an edge-triggered loop sets on a listener of its own
      // (EventModel::Prepare): its connections come from this one.
      if (opt_.String("trigger") == "edge") ReportQueuedBytes(listener_.get());
    }
    if (balance_ == Balance::kReusePort) {
      // Sockets with SO_REUSEPORT of one user join any group already on the
      // port, so a second server on a port in use would silently share it
      // instead of failing. A plain listener first claims the port (and
      // picks one for port 0) with the usual EADDRINUSE, then gives it to
      // the group.
      ListenOptions probe;
      probe.host = opt_.host;
      probe.port = opt_.port;
      probe.backlog = 1;
      probe.ipv6_only = opt_.Number("ipv6Only") != 0;
      Fd fd;
      const int r = ListenTcp(probe, &fd, &endpoint_, error);
      if (r < 0) return r;
    }
    for (size_t i = 0; i < stats_blocks_.size(); i++) {
      ModelOptions o = opt_;
      o.numbers["loops"] = 1;
      o.no_listener = balance_ == Balance::kHandoff;
      o.reuse_port = balance_ == Balance::kReusePort;
      o.listen_fd = balance_ == Balance::kShared ? listener_.get() : -1;
      if (balance_ == Balance::kReusePort) o.port = endpoint_.port;
      std::unique_ptr<Model> part = CreateModel(part_name_, o);
      if (!part) return error->set(-EINVAL, "listen");
      stats_blocks_[i].group = &own_stats_;
      part->UseStats(&stats_blocks_[i]);
      part->UseSources(sources_);  // maxConnectionsPerSource is for the whole server
      part->UseLimit(limit_);      // and so is maxConnections
      part->UseEvents(this);
      part->UseJs(js_hub_);
      const int r = part->Open(error);
      if (r < 0) return r;
      if (i == 0 && balance_ == Balance::kReusePort) endpoint_ = part->endpoint();
      parts_.push_back(std::move(part));
    }
    return 0;
  }

  // The handoff acceptor: this thread accepts every connection and posts it
  // to the next loop. It waits in poll() on the listener and its stop fd.
  void AcceptAndHandOff() {
    size_t next = 0;
    pollfd fds[2] = {{listener_.get(), POLLIN, 0}, {stop_.fd(), POLLIN, 0}};
    sockaddr_storage peer;
    sockaddr_storage* want_peer = sources_->enabled() ? &peer : nullptr;
    for (;;) {
      const int n = poll(fds, 2, -1);
      Stats::add(own_stats_.sys.wait, 1);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        ReportError(-errno, "poll");
        return;
      }
      Stats::add(own_stats_.wakeups, 1);
      if (fds[1].revents) return;
      for (;;) {
        bool shed = false;
        const int fd = acceptor_.accept(listener_.get(), true, &shed, want_peer);
        if (fd >= 0) {
          if (want_peer != nullptr && !AdmitSource(fd, peer)) continue;
          parts_[next]->Adopt(fd);
          next = (next + 1) % parts_.size();
          continue;
        }
        if (shed) {
          own_stats_.reject();
          Stats::add(own_stats_.errors, 1);
          continue;
        }
        if (fd != -EAGAIN) {
          if (fd == -EMFILE || fd == -ENFILE) {
            Stats::add(own_stats_.errors, 1);
          } else {
            ReportError(fd, "accept");
          }
          // Out of descriptors with nothing to shed: the queue stays
          // readable, so wait before the next try instead of spinning.
          poll(&fds[1], 1, kAcceptPauseMs);
          Stats::add(own_stats_.sys.wait, 1);
          if (fds[1].revents) return;
        }
        break;
      }
    }
  }

  const std::string part_name_;
  const Balance balance_;
  std::vector<Stats> stats_blocks_;  // one per loop; sized once, never moved
  std::vector<std::unique_ptr<Model>> parts_;
  Wakeup stop_;        // handoff: ends the acceptor
  Acceptor acceptor_;  // handoff
};

}  // namespace

std::unique_ptr<Model> CreateLoops(const std::string& name, const ModelOptions& options) {
  return std::make_unique<LoopsModel>(name, options);
}

}  // namespace nm
