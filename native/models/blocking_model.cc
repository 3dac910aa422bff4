#include "models/blocking_model.h"

#include <sys/socket.h>

#include "core/clock.h"
#include "core/connection.h"

namespace nm {

int BlockingModel::Prepare(SysError* error) {
  int r = acceptor_.open();
  if (r < 0) {
    error->err = r;
    error->syscall = "open";
  }
  return r;
}

void BlockingModel::Run() {
  for (;;) {
    bool shed = false;
    int fd = acceptor_.accept(listener_.get(), false, &shed);
    Stats::add(stats_->wakeups, 1);
    if (clients_.stopping()) {
      if (fd >= 0) Reject(fd);
      break;
    }
    if (fd >= 0) {
      Dispatch(fd);
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
  if (opt_.idle_timeout_ms && SetIdleTimeout(fd, opt_.idle_timeout_ms) < 0) {
    Stats::add(stats_->errors, 1);
  }
}

void BlockingModel::ServeClient(int fd, char* buf, size_t cap, Stats* part) {
  if (!clients_.Add(fd)) {
    Reject(fd);
    if (part != nullptr) part->reject();
    return;
  }
  ApplyIdleTimeout(fd);
  stats_->opened();
  if (part != nullptr) part->opened();
  ServeBlocking(fd, opt_.handler, stats_, buf, cap, part);
  clients_.Remove(fd);
  if (part != nullptr) part->finished();
  stats_->finished();
  ::close(fd);
}

}  // namespace nm
