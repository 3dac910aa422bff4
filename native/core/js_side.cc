#include "core/js_side.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>

namespace nm {

namespace {

int SetOption(int fd, const JsOps::Op& op) {
  const int on = op.notify ? 1 : 0;
  if (op.kind == JsOps::Kind::kNoDelay) {
    return ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) < 0 ? -errno : 0;
  }
  if (::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on) < 0) return -errno;
  const int idle = static_cast<int>(op.index);
  if (on && idle > 0 && ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle) < 0) return -errno;
  return 0;
}

}  // namespace

void JsSide::Apply(int fd, const JsOps::Op& op, const JsOps& ops, JsState* js, JsOutput& out,
                   bool* waiting, bool* failed) {
  if (op.consumed) {
    js->unacked -= op.consumed < js->unacked ? op.consumed : js->unacked;
    if (*waiting && js->unacked < js->high_water) *waiting = false;
  }
  switch (op.kind) {
    case JsOps::Kind::kWrite:
      out.Hold(ops.bytes[op.index]);
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
    case JsOps::Kind::kNoDelay:
    case JsOps::Kind::kKeepAlive:
      // As net.Socket's setNoDelay()/setKeepAlive(), whose result Node
      // ignores: on a connected TCP socket these fail only once it is
      // broken, which its next recv or send reports.
      static_cast<void>(SetOption(fd, op));
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
