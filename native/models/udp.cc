// UdpServer: the classic texts' one-process, one-to-many server. One
// datagram socket, no accept and no connection: every datagram is answered
// to its sender from the same loop. `batch` 1 is the classic loop, one
// recvfrom() and one sendto() per datagram; `batch` N takes up to N
// datagrams per recvmmsg() and answers them with one sendmmsg(), as DNS and
// QUIC servers do. `sockets` N (the TS option `loops`) runs N such loops on
// N threads, each with its own SO_REUSEPORT socket on the port (the kernel
// spreads senders by a hash of their address and port), or, on an inherited
// socket (`fd`), each with a duplicate of it. A loop is a UdpLoop
// (udp_loop.h); this file composes them and sums their counters.
//
// UDP may drop, never lie: every datagram received is answered, or counted
// as truncated (larger than maxDatagram: never answered with a part),
// dropped by the server (JS behind, a reply the kernel refused) or
// unanswered (the handler chose not to: 'discard', a JS handler that never
// replied); what the kernel dropped before we could read it is its own
// counter. Once quiescent:
//   datagramsIn == datagramsOut + truncated + dropped + unanswered + pending
// where pending counts datagrams a JS handler holds and may still answer.
#include <algorithm>
#include <memory>
#include <system_error>
#include <thread>
#include <vector>

#include "core/datagram.h"
#include "models/udp_loop.h"

namespace nm {

namespace {

class UdpModel final : public Model {
 public:
  explicit UdpModel(const ModelOptions& options)
      : Model(options),
        counts_(static_cast<size_t>(std::max(1.0, options.Number("sockets")))),
        blocks_(counts_.size()) {
    // The loops bind their own sockets; there is nothing to listen on.
    opt_.no_listener = true;
  }

  void Run() override {
    auto report = [this](int err, const char* syscall) { ReportError(err, syscall); };
    std::vector<std::thread> threads;
    bool started = true;
    for (size_t i = 1; i < loops_.size() && started; i++) {
      try {
        threads.emplace_back([this, i, report] { loops_[i]->Run(report); });
        Stats::add(own_stats_.sys.clone, 1);
      } catch (const std::system_error& e) {
        // A server with a loop missing is not the one asked for.
        ReportError(-e.code().value(), "pthread_create");
        started = false;
      }
    }
    if (started) loops_[0]->Run(report);
    for (auto& loop : loops_) loop->Stop();
    for (auto& t : threads) t.join();
  }

  void Stop() override {
    for (auto& loop : loops_) loop->Stop();
  }

  StatsSnapshot Totals() override {
    StatsSnapshot total = own_stats_.snapshot();
    for (auto& block : blocks_) total.AddTraffic(block.snapshot());
    return total;
  }

  void Workers(std::vector<WorkerStats>* out) override {
    if (blocks_.size() > 1) {
      for (auto& block : blocks_) out->push_back(SnapshotWorker(block));
    }
  }

  void Counters(std::vector<std::pair<const char*, uint64_t>>* out) override {
    uint64_t in = 0, sent = 0, truncated = 0, dropped = 0, unanswered = 0, pending = 0, late = 0,
             kernel = 0;
    for (size_t i = 0; i < counts_.size(); i++) {
      const DatagramCounts& c = counts_[i];
      in += DatagramCounts::get(c.in);
      sent += DatagramCounts::get(c.out);
      truncated += DatagramCounts::get(c.truncated);
      dropped += DatagramCounts::get(c.dropped);
      unanswered += DatagramCounts::get(c.unanswered);
      pending += DatagramCounts::get(c.pending);
      late += DatagramCounts::get(c.late);
      // Duplicates of one inherited socket share its counter: read it once.
      if (i < loops_.size() && (i == 0 || opt_.listen_fd < 0)) kernel += KernelDrops(loops_[i]->fd());
    }
    out->insert(out->end(), {{"datagramsIn", in},
                             {"datagramsOut", sent},
                             {"truncated", truncated},
                             {"dropped", dropped},
                             {"kernelDrops", kernel},
                             {"unanswered", unanswered},
                             {"pending", pending},
                             {"lateReplies", late},
                             {"receiveBuffer", loops_.empty() ? 0 : ReceiveBuffer(loops_[0]->fd())}});
  }

 private:
  int Prepare(SysError* error) override {
    int port = opt_.port;
    const bool group = counts_.size() > 1 && opt_.listen_fd < 0;
    if (group) {
      // A socket with SO_REUSEPORT joins any group of this user already on
      // the port, so a second server would silently share it. A plain
      // socket claims the port first (and picks one for port 0) with the
      // usual EADDRINUSE, then gives it to the group.
      Fd probe;
      Endpoint claimed;
      const int r = BindUdp(opt_.host, port, false, &probe, &claimed, error);
      if (r < 0) return r;
      port = claimed.port;
    }
    for (size_t i = 0; i < counts_.size(); i++) {
      auto loop = std::make_unique<UdpLoop>(opt_, &blocks_[i], &counts_[i]);
      Endpoint bound;
      const int r = loop->Open(opt_.host, port, group, opt_.listen_fd, js_hub_, &bound, error);
      if (r < 0) return r;
      if (i == 0) endpoint_ = bound;
      loops_.push_back(std::move(loop));
    }
    return 0;
  }

  std::vector<DatagramCounts> counts_;  // one per loop; sized once, never moved
  std::vector<Stats> blocks_;           // likewise
  std::vector<std::unique_ptr<UdpLoop>> loops_;
};

}  // namespace

NM_REGISTER_MODEL("udp", UdpModel);

}  // namespace nm
