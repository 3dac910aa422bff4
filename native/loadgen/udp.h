// One loop of a load run in udp mode: its share of the virtual clients,
// each a connected UDP socket with `pipeline` datagrams in flight (1: the
// classic round trip, the next datagram only once the last one is answered
// or lost). A reply is verified byte for byte; a datagram unanswered after
// timeout_ms is counted as lost and its client sends the next one, so a
// lossy server never stalls the run. A client's replies are read with one
// recvmmsg() per readiness and its datagrams sent with one sendmmsg() per
// refill, so the client's syscalls per datagram fall with `pipeline`.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "core/fd.h"
#include "loadgen/loop.h"

namespace nm::loadgen {

class UdpWorker final : public Loop {
 public:
  UdpWorker(Shared& shared, uint32_t clients);

  int Init() override;
  // `lost`: datagrams of the measured window never answered within the
  // timeout; `late`: replies that came after their datagram was counted
  // lost, or that name no datagram in flight (not verified again).
  void Run(const LoadRun::ProgressFn* progress) override;

 private:
  // Datagram `seq` of a client is in flight in slot seq % pipeline; all of
  // a client's datagrams in flight are within its last `pipeline` seqs, so
  // a reply's seq (carried in its leading digits) names one slot.
  struct Slot {
    uint64_t seq = 0;
    int64_t sent_ns = 0;
    bool waiting = false;
  };
  struct Client {
    Fd fd;
    uint64_t seq = 0;  // the last one sent
  };
  struct Due {
    int64_t due;
    uint32_t index;
    uint64_t seq;
  };

  // Sends the client's next datagrams while their slots are free.
  void Refill(uint32_t index, int64_t now);
  void OnReadable(uint32_t index, int64_t now);
  void OnReply(uint32_t index, const char* data, size_t len, int64_t now);
  void Expire(int64_t now);
  // Writes datagram `seq` (or the reply expected to it) into `out`.
  void Fill(const std::string& pattern, uint64_t seq, char* out) const;
  Slot& SlotOf(uint32_t index, uint64_t seq) { return slots_[size_t{index} * depth_ + seq % depth_]; }

  const uint32_t depth_;  // datagrams in flight per client
  Fd epoll_;
  std::vector<Client> clients_;
  std::vector<Slot> slots_;  // depth_ per client
  std::deque<Due> due_;      // due times only grow: one timeout for every datagram
  // One client's batch: depth_ datagrams out, depth_ replies in (each one
  // byte longer than a datagram, so a longer reply is seen as one).
  std::unique_ptr<char[]> out_, in_, expect_;
  std::vector<iovec> out_iov_, in_iov_;
  std::vector<mmsghdr> out_msgs_, in_msgs_;
  uint64_t modulus_ = 1;  // 10^(digits of seq a datagram carries)
  int64_t measure_ns_ = 0;
};

}  // namespace nm::loadgen
