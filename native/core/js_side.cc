#include "core/js_side.h"

#include <sys/socket.h>

#include <cerrno>

namespace nm {

void JsSide::Apply(const JsOps::Op& op, const JsOps& ops, JsState* js, Output& out, bool* waiting,
                   bool* failed) {
  if (op.consumed) {
    js->unacked -= op.consumed < js->unacked ? op.consumed : js->unacked;
    if (*waiting && js->unacked < js->high_water) *waiting = false;
  }
  switch (op.kind) {
    case JsOps::Kind::kWrite:
      out.emit(ops.bytes[op.index].data(), ops.bytes[op.index].size());
      if (op.notify) drain_wanted_ = true;
      break;
    case JsOps::Kind::kEnd:
      if (output_open_) {
        output_open_ = false;
        shut_pending_ = true;
      }
      break;
    case JsOps::Kind::kDestroy:
      *failed = true;  // close now, unsent output dropped
      break;
    case JsOps::Kind::kPause:
      paused_ = true;
      break;
    case JsOps::Kind::kResume:
      paused_ = false;
      break;
    case JsOps::Kind::kConsumed:
      break;
  }
}

void JsSide::ShutIfFlushed(int fd, size_t pending, bool* failed) {
  if (!shut_pending_ || pending > 0 || *failed) return;
  shut_pending_ = false;
  // ENOTCONN: the peer is gone already; there is nothing left to shut.
  if (::shutdown(fd, SHUT_WR) < 0 && errno != ENOTCONN) {
    *failed = true;
    return;
  }
  output_shut_ = true;
}

void JsSide::Report(const JsState& js, bool input_ended, size_t pending) {
  if (input_ended && !ended_sent_) {
    ended_sent_ = true;
    js.sink->Ended(js.ref);
  }
  if (drain_wanted_ && pending == 0) {
    drain_wanted_ = false;
    js.sink->Drained(js.ref);
  }
  if (output_shut_ && !shut_sent_) {
    shut_sent_ = true;
    js.sink->Shut(js.ref);
  }
}

}  // namespace nm
