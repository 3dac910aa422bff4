// One epoll loop of a load run: it owns a share of the connections, its own
// epoll set, counters and histogram, and touches nothing of the other loops
// except the atomics it publishes for progress reports.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <limits>
#include <map>
#include <memory>
#include <queue>
#include <utility>
#include <vector>

#include "loadgen/http_reply.h"
#include "loadgen/loop.h"
#include "core/fd.h"

namespace nm::loadgen {

class Worker final : public Loop {
 public:
  // `slots`: rr/churn connections, or hold-mode idle connections; `active`:
  // this loop also runs hold mode's one active connection.
  Worker(Shared& shared, uint32_t slots, bool active);

  int Init() override;
  void Run(const LoadRun::ProgressFn* progress) override;

 private:
  // A failed rr/churn connection is retried after this pause, so a refused
  // port costs a few thousand attempts per second instead of a spinning core.
  static constexpr int64_t kRetryDelayNs = 20'000'000;
  static constexpr size_t kScratchSize = 64 * 1024;

  enum class State : uint8_t { kClosed, kConnecting, kOpen };

  struct Conn {
    Fd fd;
    uint32_t index = 0;
    uint32_t gen = 0;  // bumped on every close: stale epoll events are ignored
    State state = State::kClosed;
    bool idle = false;      // hold mode: sends nothing, is never retried
    bool attempted = false;    // connect() (or socket()) has been tried once
    bool established = false;  // has been open once
    bool settled = false;   // its first connect has settled (or it has none to wait for)
    bool mismatch = false;  // the reply in flight already differs
    uint32_t rot = 0;       // offset of the request into the patterns
    uint64_t seq = 0;
    size_t sent = 0;
    size_t received = 0;
    int64_t started_ns = 0;  // when the request in flight began (open loop: was meant to)
    int64_t intended_ns = 0;  // open loop: when the request in flight was meant to be sent
    HttpReply reply;        // http: the responses of the batch in flight
    uint32_t answered = 0;  // http: responses of the batch so far
    uint32_t ok = 0;        // http: ... of them 2xx
    uint64_t reply_bytes = 0;  // http: bytes of the batch's responses so far
  };

  void Launch(Conn& c, int64_t now);
  void StartConnect(Conn& c, int64_t now);
  void OnEvent(Conn& c, uint32_t events);
  void OnConnected(Conn& c);
  void StartRequest(Conn& c, int64_t started_ns);
  bool TrySend(Conn& c);
  void OnReadable(Conn& c);
  void OnHttpReadable(Conn& c);
  // http: fails every batch in flight for longer than request_timeout_ms.
  void ExpireRequests(int64_t now);
  void DrainIdle(Conn& c);
  // recv into scratch_: bytes read, 0 on EAGAIN, or -1 once the connection
  // has been failed (EOF or an error).
  ssize_t RecvSome(Conn& c, size_t want);
  void Complete(Conn& c);
  // rr: the next request of `c`, whose reply came at `now`: at once (closed
  // loop, or an open-loop one already due), or at its intended time.
  void Next(Conn& c, int64_t now);
  // Open loop: sends the requests whose intended time has come.
  void FireDue(int64_t now);
  void Close(Conn& c);
  void Fail(Conn& c, int err);
  void Settle(Conn& c);
  void StartPending(int64_t now);
  // Set-up's budget (Shared::last_established_ns): drops the connections
  // still waiting for a first connect slot once the server stopped accepting.
  void CutSetup(int64_t now);
  void ExpireRetries(int64_t now);
  void ExpireConnects(int64_t now);
  void BeginWindow();
  Phase PhaseAt(int64_t now) const;
  void CountUnestablished();

  static uint64_t Token(const Conn& c) { return (uint64_t{c.gen} << 32) | c.index; }

  Fd epoll_;
  std::vector<Conn> conns_;
  std::unique_ptr<char[]> scratch_;
  std::deque<uint32_t> pending_;                    // waiting for a connect slot
  std::deque<std::pair<int64_t, uint32_t>> retry_;  // (due, index); due times only grow
  struct ConnectDue {
    int64_t due;
    uint32_t index;
    uint32_t gen;  // the attempt it times out; a later one has its own entry
  };
  std::deque<ConnectDue> connect_due_;  // due times only grow
  bool Pending(const ConnectDue& d) const;  // its attempt is still connecting
  bool setup_ = true;  // until this loop has seen Shared::setup_done
  int64_t measure_ns_ = 0;
  int64_t deadline_ns_ = std::numeric_limits<int64_t>::max();  // none during set-up
  int64_t next_expiry_ns_ = 0;  // http: when ExpireRequests runs next
  uint32_t connecting_ = 0;
  uint64_t open_ = 0;
  int64_t gated_ = -1;      // hold: index of the active slot until set-up ends
  // Open loop: each connection's time between intended sends (0: closed
  // loop), and the requests waiting for their time, earliest first.
  int64_t interval_ns_ = 0;
  struct Due {
    int64_t at;
    uint32_t index;
    uint32_t gen;  // a connection closed since has a new gen: its entry is stale
    bool operator>(const Due& o) const { return at > o.at; }
  };
  std::priority_queue<Due, std::vector<Due>, std::greater<Due>> due_;
};

}  // namespace nm::loadgen
