// One loop of a load run in udp mode: its share of the virtual clients,
// each a connected UDP socket with one datagram in flight. A reply is
// verified byte for byte; a datagram unanswered after timeout_ms is counted
// as lost and its client sends the next one, so a lossy server never stalls
// the run.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <vector>

#include "core/fd.h"
#include "loadgen/histogram.h"
#include "loadgen/loadgen.h"

namespace nm::loadgen {

class UdpWorker {
 public:
  UdpWorker(Shared& shared, uint32_t clients);

  // The epoll set and every client's socket. 0 or -errno.
  int Init();
  // Until the deadline or Shared::stop; `progress` as Worker::Run's.
  void Run(const LoadRun::ProgressFn* progress);

  std::atomic<uint64_t> published_completed{0};
  std::atomic<uint64_t> published_requests{0};
  std::atomic<uint64_t> published_errors{0};

  // Results, valid once Run() has returned. `lost`: datagrams of the
  // measured window never answered within the timeout; `late`: replies
  // that came after their datagram was counted lost (not verified again).
  Histogram histogram;
  uint64_t requests = 0;
  uint64_t errors = 0;
  uint64_t mismatches = 0;
  uint64_t lost = 0;
  uint64_t late = 0;
  uint64_t clients_open = 0;
  int64_t stopped_ns = 0;
  std::map<int, uint64_t> error_codes;

 private:
  struct Client {
    Fd fd;
    uint64_t seq = 0;  // of the datagram in flight
    int64_t sent_ns = 0;
    bool waiting = false;
  };
  struct Due {
    int64_t due;
    uint32_t index;
    uint64_t seq;
  };

  void Send(uint32_t index, int64_t now);
  void OnReadable(uint32_t index, int64_t now);
  void Expire(int64_t now);
  // Writes datagram `seq` (or the reply expected to it) into `out`.
  void Fill(const std::string& pattern, uint64_t seq, char* out) const;
  void EmitProgress(const LoadRun::ProgressFn& progress, int64_t now, Phase phase);
  void RecordError(int err);

  Shared& shared_;
  const Options& options_;
  Fd epoll_;
  std::vector<Client> clients_;
  std::deque<Due> due_;  // due times only grow: one timeout for every datagram
  std::unique_ptr<char[]> out_, expect_, in_;
  int64_t measure_ns_ = 0;
  uint64_t completed_ = 0;
  int64_t last_progress_ns_ = 0;
  uint64_t last_progress_completed_ = 0;
};

}  // namespace nm::loadgen
