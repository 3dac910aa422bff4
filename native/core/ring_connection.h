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
// handler appends to meanwhile; they swap when the first is done.
#pragma once

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

  std::vector<char> out_;   // in flight from out_off_ while sending_
  size_t out_off_ = 0;
  std::vector<char> next_;  // appended to by emit(); never in flight
  // After next_, in order: JS writes sent from JS's memory, and what was
  // emitted after one of them (copied into `own`). The front is in flight
  // from queue_off_ while sending_ and out_ is spent; it stays alive until
  // its completion arrives.
  std::deque<JsBytes> queue_;
  size_t queue_off_ = 0;
  size_t queued_ = 0;  // bytes in queue_
  // Input that completed while the handler waits or JS paused reading: a
  // multishot recv delivers what it has read before its cancel takes effect.
  std::vector<char> held_;
  uint32_t ops_ = 0;        // requests whose last completion has not arrived
  bool recv_armed_ = false;
  bool recv_cancelled_ = false;
  bool sending_ = false;
  bool retiring_ = false;
  bool destroyed_ = false;  // JS destroyed it: closes once its output is sent
};

}  // namespace nm
