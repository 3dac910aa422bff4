#include "models/blocking_model.h"

#include <sys/socket.h>

#include "core/clock.h"

namespace nm {

int BlockingModel::Prepare(SysError* error) {
  const int r = acceptor_.open();
  return r < 0 ? error->set(r, "open") : 0;
}

void BlockingModel::Run() {
  for (;;) {
    bool shed = false;
    int fd = acceptor_.accept(listener_.get(), false, &shed, &peer_);
    Stats::add(stats_->wakeups, 1);
    if (clients_.stopping()) {
      if (fd >= 0) Reject(fd);
      break;
    }
    if (fd >= 0) {
      if (AdmitSource(fd, peer_)) Dispatch(fd);
    } else if (fd == -EMFILE || fd == -ENFILE || fd == -EAGAIN) {
      // A blocking accept4() takes its descriptor before it waits, so with
      // the table full it fails at once, queue or no queue (-EAGAIN: the
      // acceptor found nothing to shed): without a pause this would spin.
      Stats::add(stats_->errors, 1);
      if (shed) {
        stats_->reject();
      } else {
        PauseMs(kAcceptPauseMs);
      }
    } else {
      ReportError(fd, "accept");
      PauseMs(kAcceptPauseMs);  // whatever it is, retrying at once would spin
    }
  }
  Finish();
}

void BlockingModel::Stop() {
  // Mark stopping first, so a connection accepted in the race is rejected.
  clients_.ShutdownAll();
  ::shutdown(listener_.get(), SHUT_RDWR);
}

void BlockingModel::ApplyIdleTimeout(int fd) {
  if (!opt_.idle_timeout_ms) return;
  const timeval tv = MsToTimeval(opt_.idle_timeout_ms);
  // Both directions: a client that sends but never reads would otherwise
  // hold a blocking send() (and, in the iterative model, everyone) forever.
  if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0 ||
      setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) < 0) {
    Stats::add(stats_->errors, 1);
  }
}

void BlockingModel::ServeClient(int fd, char* buf, size_t cap) {
  if (!clients_.Add(fd)) {
    Reject(fd);
    return;
  }
  ApplyIdleTimeout(fd);
  stats_->opened();
  ServeBlocking(fd, opt_.handler, stats_, buf, cap);
  clients_.Remove(fd);
  sources_->Release(fd);
  stats_->finished();
  ::close(fd);
}

}  // namespace nm
