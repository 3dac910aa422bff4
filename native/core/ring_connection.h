// One client connection of a completion loop (io_uring).
//
// Connection makes its own recv/send calls when a readiness loop says the
// socket is ready; RingConnection makes none: it keeps a multishot recv and
// at most one send submitted on the loop's Ring and is fed their
// completions. The protocol rules are Connection's: the handler's verdicts,
// the high-water mark, nginx's lingering close.
//
// A send hands the kernel the address of the output buffer, which must not
// move or be freed until the send completes. So output has two buffers: the
// one in flight, never touched until its completion, and the one the
// handler appends to meanwhile; they swap when the first is done. A large
// reply the handler emits from the received bytes themselves is not copied
// into the output: it is sent from the ring's provided buffer, lent until
// the send completes (Ring::Pin).
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

#include "core/connection.h"
#include "core/js_side.h"
#include "core/ring.h"

namespace nm {

class RingConnection final : public ConnectionBase {
 public:
  RingConnection(int fd, uint64_t generation, HandlerKind kind, Stats* stats, size_t high_water)
      : ConnectionBase(fd, generation, kind, stats, high_water) {}
  // Gives back the buffers its unsent output was lent from. Destroyed only
  // once no request of its own is in the kernel, so none is being read.
  ~RingConnection();

  uint64_t Tag(RingOp op) const { return MakeTag(op, fd_.get(), generation_); }

  // A completion of one of this connection's requests (recv, send or
  // cancel). Gives a received buffer back to the ring once handled.
  void OnCompletion(Ring& ring, const Completion& e);
  // Submits what the connection needs now: a recv while it wants to read
  // (and the cancel of the recv when it stops wanting to), a send while
  // output waits and none is in flight.
  void Submit(Ring& ring);
  // Starts closing: cancels whatever it has in flight. Once InFlight() is
  // 0 the connection may be destroyed; until then it must stay alive.
  // `cancel` false: the loop cancels every request in the ring at once
  // instead (stop()).
  void Retire(Ring& ring, bool cancel);

  // As Connection's: a JS connection (AttachJs) reads until JS pauses or
  // holds its high-water mark of input, and stays open after the peer's EOF
  // until JS ends its side.
  void Apply(const JsOps::Op& op, const JsOps& ops);
  void ReportToJs() { js_.Report(state_.js, InputEnded(), Pending()); }

  bool Finished() const {
    return failed_ || (Pending() == 0 && (destroyed_ || (InputEnded() && !js_.output_open())));
  }
  bool Retiring() const { return retiring_; }
  uint32_t InFlight() const { return ops_; }
  // Ends a wait the handler asked for (Verdict::kWait) and hands it the
  // input that arrived meanwhile.
  void Resume() {
    waiting_ = false;
    FeedHeld();
  }

  void emit(const char* data, size_t len) override;
  // A JS write JS still holds: queued as it is and sent from JS's memory.
  void Hold(const JsBytes& bytes) override;

  // Owned by the loop: queued for its end-of-round Submit().
  bool dirty = false;

 private:
  bool WantsRead() const { return MayRead(Backlog()); }
  size_t Pending() const { return next_.size() + (out_.size() - out_off_) + queued_ - queue_off_; }
  // As Connection's: pending output plus input JS has not taken yet.
  size_t Backlog() const { return Pending() + state_.js.unacked; }
  // The peer's EOF, once the input held back before it has been handled.
  bool InputEnded() const { return read_done_ && held_.empty(); }
  bool Holding() const { return waiting_ || js_.paused(); }
  void FeedHeld();
  void OnData(char* data, size_t n);  // input a recv completion delivered
  void OnEnd(int res);                 // a recv's EOF (0) or error (-errno)
  void Feed(char* data, size_t n);
  void OnSent(int res);
  void Linger();
  // Whether [data, data+len) can be sent from the provided buffer it was
  // received in: it lies in the piece being handled, which the ring lends.
  bool Lendable(const char* data, size_t len) const {
    return lend_from_ != nullptr && data >= lend_from_ && data + len <= lend_to_;
  }

  // Output after next_: a JS write, bytes copied, or bytes lent from a
  // provided buffer of the ring.
  struct Piece {
    JsBytes js;
    const char* lent = nullptr;
    size_t lent_size = 0;
    int buffer = -1;  // the ring buffer `lent` is in, pinned while queued
    const char* data() const { return lent ? lent : js.data(); }
    size_t size() const { return lent ? lent_size : js.size(); }
  };

  std::vector<char> out_;   // in flight from out_off_ while sending_
  size_t out_off_ = 0;
  std::vector<char> next_;  // appended to by emit(); never in flight
  // After next_, in order: JS writes sent from JS's memory, replies lent
  // from the ring's buffers, and what was emitted after one of them (copied
  // into `own`). A send gathers out_'s rest and, when next_ is empty,
  // pieces of queue_ from queue_off_, kIov iovecs in all: they stay alive
  // until its completion arrives.
  std::deque<Piece> queue_;
  size_t queue_off_ = 0;
  size_t queued_ = 0;  // bytes in queue_
  // Input that completed while the handler waits or JS paused reading: a
  // multishot recv delivers what it has read before its cancel takes effect.
  std::vector<char> held_;
  // The piece of a recv completion being handled, while the ring would lend
  // it (Ring::MayLend); the ring it came from.
  const char* lend_from_ = nullptr;
  const char* lend_to_ = nullptr;
  Ring* ring_ = nullptr;
  // The send in flight, when it has more than one piece.
  static constexpr int kIov = 8;
  iovec iov_[kIov];
  msghdr msg_{};
  uint32_t ops_ = 0;        // requests whose last completion has not arrived
  bool recv_armed_ = false;
  bool recv_cancelled_ = false;
  bool sending_ = false;
  bool single_ = false;  // the next send is of one piece (see OnSent)
  bool retiring_ = false;
  bool destroyed_ = false;  // JS destroyed it: closes once its output is sent
};

}  // namespace nm
