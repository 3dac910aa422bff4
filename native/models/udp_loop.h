// One UDP socket and the loop that serves it, on one thread: the udp
// model's part (native/models/udp.cc runs one per `loops`). It reads one
// datagram per recvfrom() (batch 1) or up to `batch` per recvmmsg(); answers
// each to its sender with the built-in handler, or hands it to JS and sends
// JS's replies, batched per round (sendto() each at batch 1, one sendmmsg()
// otherwise). With a built-in handler on a socket of its own the loop blocks
// in the receive call itself, so a round costs one receive and one send
// (under load, a nap before the receive: ReceiveDirect's coalescing);
// with JS (whose replies come through the inbox) or an inherited socket
// (whose O_NONBLOCK it must not change) it waits in poll() on the socket and
// the inbox. Every datagram read is counted once as answered, truncated,
// dropped or unanswered, or as pending while JS may still answer it.
#pragma once

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/datagram.h"
#include "core/inbox.h"
#include "models/model.h"

namespace nm {

// Datagrams handed to JS and not yet taken by its handler, per loop: beyond
// it (or beyond highWaterMark bytes) new ones are dropped and counted, so a
// slow handler costs datagrams, never memory.
constexpr uint32_t kUdpJsWindow = 4096;
// Senders kept for JS's replies, per loop: a reply may come late (after an
// await) and still find its sender, until this many later datagrams reused
// its slot.
constexpr uint32_t kUdpJsRing = 2 * kUdpJsWindow;
// Datagrams read per wakeup before the loop looks at its inbox again.
constexpr uint32_t kUdpBudget = 1024;
// sendmmsg()'s most messages per call (UIO_MAXIOV).
constexpr size_t kUdpMaxPerSend = 1024;
// Coalescing (UdpLoop::ReceiveDirect): a round that found this many
// datagrams queued starts it; one that found fewer than half ends it.
constexpr int kCoalesceFrom = 8;

union UdpPeer {
  sockaddr sa;
  sockaddr_in v4;
  sockaddr_in6 v6;
};

// What only UDP counts, per loop (stats() sums them). Written by the loop,
// read by the JS thread.
struct DatagramCounts {
  using Counter = std::atomic<uint64_t>;
  Counter in{0}, out{0}, truncated{0}, dropped{0}, unanswered{0}, pending{0}, late{0};
  static void add(Counter& c, int64_t n) {
    c.fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
  }
  static uint64_t get(const Counter& c) { return c.load(std::memory_order_relaxed); }
};

// Where a built-in handler's reply goes: it points at the datagram itself
// (uppercase rewrites it in place), or nowhere (discard emits nothing).
class UdpReplyTo final : public Output {
 public:
  void emit(const char* data, size_t len) override {
    data_ = data;
    len_ = len;
    emitted_ = true;
  }
  bool emitted() const { return emitted_; }
  const char* data() const { return data_; }
  size_t len() const { return len_; }

 private:
  const char* data_ = nullptr;
  size_t len_ = 0;
  bool emitted_ = false;
};

// One socket and the loop that serves it, on one thread.
class UdpLoop {
 public:
  UdpLoop(const ModelOptions& o, Stats* stats, DatagramCounts* counts)
      : kind_(o.handler),
        batch_(static_cast<size_t>(std::max(1.0, o.Number("batch")))),
        max_(static_cast<size_t>(o.Number("maxDatagram"))),
        high_water_(o.high_water),
        receive_buffer_(static_cast<int>(o.Number("receiveBuffer"))),
        coalesce_ns_(static_cast<long>(o.Number("coalesceUs")) * 1000),
        stats_(stats),
        counts_(counts) {}

  // The socket (bound, or a duplicate of `adopt_fd` when >= 0), the inbox,
  // the buffers and the JS attach. 0 or -errno.
  int Open(const std::string& host, int port, bool reuse_port, int adopt_fd, JsHub* hub,
           Endpoint* bound, SysError* error) {
    int r = adopt_fd >= 0 ? AdoptUdp(adopt_fd, &sock_, bound, error)
                          : BindUdp(host, port, reuse_port, &sock_, bound, error);
    if (r < 0) return r;
    // An inherited socket keeps the receive queue its owner gave it.
    if (adopt_fd < 0 && receive_buffer_ > 0 && (r = GrowReceiveBuffer(sock_.get(), receive_buffer_, error)) < 0) {
      return r;
    }
    if ((r = inbox_.open()) < 0) return error->set(r, "eventfd");
    direct_ = kind_ != HandlerKind::kJs && adopt_fd < 0;
    if (direct_) {
      const int flags = fcntl(sock_.get(), F_GETFL);
      if (flags < 0 || fcntl(sock_.get(), F_SETFL, flags & ~O_NONBLOCK) < 0) return error->set(-errno, "fcntl");
    }
    // Not zeroed: a page is touched only when a datagram lands in it.
    buffers_.reset(new char[batch_ * max_]);
    peers_.resize(batch_);
    iov_.resize(batch_);
    in_.resize(batch_);
    out_.resize(std::min(batch_, kUdpMaxPerSend));
    out_iov_.resize(out_.size());
    if (kind_ == HandlerKind::kJs) {
      if (hub == nullptr) return error->set(-EINVAL, "bind");
      ring_.resize(kUdpJsRing);
      js_ = hub->Attach([this](JsOps&& ops) {
        inbox_.Post([this, ops = std::move(ops)] { ApplyJs(ops); });
      });
    }
    return 0;
  }

  // Until Stop(): blocks in the receive call, or waits in poll() on the
  // socket and the inbox.
  void Run(const std::function<void(int, const char*)>& report) {
    if (direct_) {
      // Naps of a few microseconds want the timer to fire when asked, not
      // up to the default 50 us of slack later. Failing, naps are longer.
      if (coalesce_ns_ > 0) {
        const int r = prctl(PR_SET_TIMERSLACK, 1000UL, 0UL, 0UL, 0UL);
        (void)r;
      }
      while (!halt_.load(std::memory_order_acquire)) {
        const int got = batch_ == 1 ? ReceiveOne() : ReceiveDirect();
        Stats::add(stats_->wakeups, 1);
        if (got < 0 && !halt_.load(std::memory_order_acquire)) {
          report(got, batch_ == 1 ? "recvfrom" : "recvmmsg");
          break;
        }
      }
      return;
    }
    pollfd fds[2] = {{sock_.get(), POLLIN, 0}, {inbox_.fd(), POLLIN, 0}};
    while (!stopping_) {
      const int n = poll(fds, 2, -1);
      Stats::add(stats_->sys.wait, 1);
      if (n < 0) {
        if (errno == EINTR) continue;
        report(-errno, "poll");
        break;
      }
      Stats::add(stats_->wakeups, 1);
      if (fds[1].revents) inbox_.Drain();
      if (stopping_) break;
      if (fds[0].revents) Receive(report);
      if (js_ != nullptr) js_->Flush();
    }
    // Datagrams JS still holds can no longer be answered.
    for (JsSlot& s : ring_) {
      if (s.open) Unanswered(&s);
    }
  }

  // From any thread: Run() returns after the round that reads this.
  void Stop() {
    if (!direct_) {
      inbox_.Post([this] { stopping_ = true; });
      return;
    }
    halt_.store(true, std::memory_order_release);
    // Wakes the receive call, and every later one returns at once. An
    // unconnected UDP socket answers ENOTCONN but is shut down all the same;
    // an fd that is ours and open fails no other way, so nothing is lost.
    const int r = shutdown(sock_.get(), SHUT_RD);
    (void)r;
  }

  int fd() const { return sock_.get(); }

 private:
  struct JsSlot {
    uint64_t seq = 0;
    UdpPeer peer;
    socklen_t len = 0;
    bool open = false;  // JS may still answer it
  };

  void Receive(const std::function<void(int, const char*)>& report) {
    for (size_t done = 0; done < kUdpBudget;) {
      const int got = batch_ == 1 ? ReceiveOne() : ReceiveMany();
      if (got < 0) {
        if (got != -EAGAIN) report(got, batch_ == 1 ? "recvfrom" : "recvmmsg");
        return;
      }
      done += static_cast<size_t>(got);
      // A short batch: the queue was empty; poll() says when it is not.
      if (batch_ > 1 && static_cast<size_t>(got) < batch_) return;
    }
  }

  // A round of the blocking loop at batch > 1: the count, or -errno.
  //
  // recvmmsg() with MSG_WAITFORONE waits for one datagram, then takes what
  // else is queued, up to `batch`, without waiting. A server faster than
  // its senders wakes for the first datagram and finds few behind it, so
  // under load that alone costs a recvmmsg() and a sendmmsg() per few
  // datagrams. Coalescing (coalesceUs, as a NIC's interrupt moderation):
  // once a round found kCoalesceFrom queued, the next rounds first sleep
  // coalesceUs (nanosleep, counted as a wait), then take what came
  // meanwhile without waiting, until a round finds fewer than half that.
  // Sleeping rather than blocking in a recvmmsg() without MSG_WAITFORONE
  // matters: a receiver blocked for each next datagram is woken for each
  // one, at the senders' cost (tried: 0.79-0.97x the datagrams/s).
  int ReceiveDirect() {
    if (!coalescing_) {
      const int got = ReceiveMany(MSG_WAITFORONE);
      coalescing_ = coalesce_ns_ > 0 && got >= kCoalesceFrom;
      return got;
    }
    timespec nap{0, coalesce_ns_};
    const int slept = nanosleep(&nap, nullptr);
    stats_->called(stats_->sys.wait, slept);
    int got = ReceiveMany(MSG_DONTWAIT);
    if (got == -EAGAIN) got = 0;
    if (got < kCoalesceFrom / 2) coalescing_ = false;
    return got;
  }

  // The classic loop's step: one recvfrom(), one sendto(). 1, or -errno.
  int ReceiveOne() {
    UdpPeer& peer = peers_[0];
    socklen_t len = sizeof peer;
    // MSG_TRUNC: the datagram's real length, even when it did not fit.
    const ssize_t r = NM_RETRY(recvfrom(sock_.get(), buffers_.get(), max_, MSG_TRUNC, &peer.sa, &len));
    stats_->called(stats_->sys.recv, r);
    if (r < 0) return -errno;
    if (halt_.load(std::memory_order_acquire)) return 0;  // woken by Stop(): no datagram
    const size_t size = static_cast<size_t>(r);
    const bool truncated = size > max_;
    stats_->received(std::min(size, max_));
    Handle(peer, len, buffers_.get(), std::min(size, max_), truncated);
    Flush();
    return 1;
  }

  // Up to `batch` datagrams in one recvmmsg(), answered with one sendmmsg().
  // The count, or -errno.
  int ReceiveMany(int flags = 0) {
    for (size_t i = 0; i < batch_; i++) {
      iov_[i] = {buffers_.get() + i * max_, max_};
      in_[i].msg_hdr = {&peers_[i], sizeof(UdpPeer), &iov_[i], 1, nullptr, 0, 0};
    }
    const int n = NM_RETRY(recvmmsg(sock_.get(), in_.data(), static_cast<unsigned>(batch_), flags, nullptr));
    stats_->called(stats_->sys.recv, n);
    if (n < 0) return -errno;
    if (halt_.load(std::memory_order_acquire)) return 0;  // woken by Stop(): what it read goes unanswered, as if closed
    uint64_t bytes = 0;
    for (int i = 0; i < n; i++) {
      const size_t size = in_[i].msg_len;
      bytes += size;
      Handle(peers_[i], in_[i].msg_hdr.msg_namelen, static_cast<char*>(iov_[i].iov_base), size,
             (in_[i].msg_hdr.msg_flags & MSG_TRUNC) != 0);
      if (queued_ == out_.size()) Flush();
    }
    stats_->received(bytes);
    Flush();
    return n;
  }

  void Handle(UdpPeer& peer, socklen_t peer_len, char* data, size_t len, bool truncated) {
    DatagramCounts::add(counts_->in, 1);
    if (truncated) {
      DatagramCounts::add(counts_->truncated, 1);
      return;
    }
    if (js_ != nullptr) {
      ToJs(peer, peer_len, data, len);
      return;
    }
    UdpReplyTo reply;
    nm::Handle(state_, data, len, reply);
    if (!reply.emitted()) {
      DatagramCounts::add(counts_->unanswered, 1);
      return;
    }
    Queue(&peer.sa, peer_len, reply.data(), reply.len());
  }

  // A reply to send at the end of this batch (batch 1: at once).
  void Queue(const sockaddr* peer, socklen_t peer_len, const char* data, size_t len) {
    out_iov_[queued_] = {const_cast<char*>(data), len};
    out_[queued_].msg_hdr = {const_cast<sockaddr*>(peer), peer_len, &out_iov_[queued_], 1, nullptr, 0, 0};
    queued_++;
  }

  void Flush() {
    if (batch_ == 1) {
      for (size_t i = 0; i < queued_; i++) Send(&out_[i], 1);
    } else {
      Send(out_.data(), queued_);
    }
    queued_ = 0;
  }

  // Sends `n` queued replies: sendto() each for batch 1, else sendmmsg().
  // A reply the kernel refuses (its send buffer full, ENOBUFS...) is
  // dropped and counted; the others still go.
  void Send(mmsghdr* msgs, size_t n) {
    size_t done = 0;
    while (done < n) {
      int sent;
      if (batch_ == 1) {
        const msghdr& h = msgs[done].msg_hdr;
        const ssize_t r = sendto(sock_.get(), h.msg_iov[0].iov_base, h.msg_iov[0].iov_len, kSendFlags,
                                 static_cast<sockaddr*>(h.msg_name), h.msg_namelen);
        if (r >= 0) msgs[done].msg_len = static_cast<unsigned>(r);
        sent = r < 0 ? -1 : 1;
      } else {
        sent = sendmmsg(sock_.get(), msgs + done, static_cast<unsigned>(std::min(n - done, kUdpMaxPerSend)),
                        kSendFlags);
      }
      stats_->called(stats_->sys.send, sent);
      if (sent < 0) {
        if (errno == EINTR) continue;
        // sendmmsg reports a failure only for the first message it tried.
        DatagramCounts::add(counts_->dropped, 1);
        done++;
        continue;
      }
      uint64_t bytes = 0;
      for (int i = 0; i < sent; i++) bytes += msgs[done + static_cast<size_t>(i)].msg_len;
      stats_->sent(bytes);
      DatagramCounts::add(counts_->out, sent);
      done += static_cast<size_t>(sent);
    }
  }

  // Hands a datagram to JS, or drops it (counted) when JS is behind.
  void ToJs(const UdpPeer& peer, socklen_t peer_len, const char* data, size_t len) {
    if (js_untaken_ >= kUdpJsWindow || (js_untaken_ > 0 && js_untaken_bytes_ + len > high_water_)) {
      DatagramCounts::add(counts_->dropped, 1);
      return;
    }
    const uint64_t seq = next_seq_++;
    JsSlot& slot = ring_[seq % kUdpJsRing];
    if (slot.open) Unanswered(&slot);
    slot.seq = seq;
    slot.peer = peer;
    slot.len = peer_len;
    slot.open = true;
    DatagramCounts::add(counts_->pending, 1);
    js_untaken_++;
    js_untaken_bytes_ += len;
    js_->Datagram(seq, &peer.sa, data, len);
  }

  void Unanswered(JsSlot* slot) {
    slot->open = false;
    DatagramCounts::add(counts_->pending, -1);
    DatagramCounts::add(counts_->unanswered, 1);
  }

  // On the loop's thread: one JS turn's replies (kWrite, ref.generation =
  // the datagram's seq) and what its handler took (kConsumed).
  void ApplyJs(const JsOps& ops) {
    for (const JsOps::Op& op : ops.ops) {
      if (op.kind == JsOps::Kind::kConsumed) {
        js_untaken_ -= std::min<uint64_t>(op.index, js_untaken_);
        js_untaken_bytes_ -= std::min(op.consumed, js_untaken_bytes_);
        continue;
      }
      if (op.kind != JsOps::Kind::kWrite) continue;
      JsSlot& slot = ring_[op.ref.generation % kUdpJsRing];
      if (!slot.open || slot.seq != op.ref.generation) {
        // Its sender was forgotten (kUdpJsRing later datagrams): it was
        // counted as unanswered then.
        DatagramCounts::add(counts_->late, 1);
        continue;
      }
      slot.open = false;
      DatagramCounts::add(counts_->pending, -1);
      const JsBytes& data = ops.bytes[op.index];
      Queue(&slot.peer.sa, slot.len, data.data(), data.size());
      if (queued_ == out_.size()) Flush();
    }
    Flush();  // before `ops` and its bytes are gone
  }

  const HandlerKind kind_;
  const size_t batch_;
  const size_t max_;
  const uint64_t high_water_;
  const int receive_buffer_;  // bytes asked for a socket of our own; 0: the kernel's default
  const long coalesce_ns_;    // the nap of a coalescing round; 0: never
  Stats* const stats_;
  DatagramCounts* const counts_;
  HandlerState state_{kind_, {}, {}};
  // MSG_DONTWAIT: a full send buffer drops the reply (counted), never
  // blocks a loop whose socket is blocking.
  static constexpr int kSendFlags = MSG_NOSIGNAL | MSG_DONTWAIT;

  Fd sock_;
  Inbox inbox_;
  bool stopping_ = false;
  bool direct_ = false;  // blocks in the receive call; Stop() is halt_ + shutdown()
  bool coalescing_ = false;  // ReceiveDirect: naps, then takes what came
  std::atomic<bool> halt_{false};
  std::unique_ptr<char[]> buffers_;  // batch_ slots of max_ bytes
  std::vector<UdpPeer> peers_;
  std::vector<iovec> iov_;
  std::vector<mmsghdr> in_;
  std::vector<mmsghdr> out_;  // replies queued, pointing into buffers_ or a JsOps
  std::vector<iovec> out_iov_;
  size_t queued_ = 0;
  JsSink* js_ = nullptr;
  std::vector<JsSlot> ring_;  // by seq % kUdpJsRing
  uint64_t next_seq_ = 1;
  uint64_t js_untaken_ = 0, js_untaken_bytes_ = 0;
};

}  // namespace nm
