#include "models/blocking_model.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>

#include "core/clock.h"
#include "core/inbox.h"
#include "core/connection.h"

namespace nm {

int BlockingModel::Prepare(SysError* error) {
  int r = acceptor_.open(stats_);
  if (r < 0) return error->set(r, "open");
  if (Inherited() && (r = stop_.open()) < 0) return error->set(r, "eventfd");
  return 0;
}

bool BlockingModel::AwaitListener() {
  pollfd p[2] = {{listener_.get(), POLLIN, 0}, {stop_.fd(), POLLIN, 0}};
  for (;;) {
    const int n = poll(p, 2, -1);
    Stats::add(stats_->sys.wait, 1);
    if (n >= 0) break;
    if (errno == EINTR) continue;
    ReportError(-errno, "poll");
    PauseMs(kAcceptPauseMs);  // retrying at once would spin
    break;
  }
  return !clients_.stopping() && p[1].revents == 0;
}

void BlockingModel::Run() {
  for (;;) {
    if (Inherited() && !AwaitListener()) break;
    bool shed = false;
    int fd = acceptor_.accept(listener_.get(), false, &shed, &peer_);
    Stats::add(stats_->wakeups, 1);
    // Inherited, non-blocking listener: another holder of the socket took
    // the connection first (or there was none): wait again.
    if (fd == -EAGAIN && Inherited() && !clients_.stopping()) continue;
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
  // shutdown() acts on the socket, not on this descriptor: on an inherited
  // listener it would stop the socket for its owner too (systemd, which
  // keeps it to activate the service again, or the parent process). Closing
  // our duplicate instead would not wake a thread blocked in accept() on it.
  // So an inherited listener is waited on in poll() beside stop_, and only
  // its duplicate is closed, with the model.
  if (Inherited()) {
    stop_.signal();
  } else {
    ::shutdown(listener_.get(), SHUT_RDWR);
  }
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
  if (opt_.handler == HandlerKind::kJs) {
    ServeJs(fd, buf, cap);
  } else {
    ServeBlocking(fd, opt_.handler, stats_, buf, cap, part);
  }
  clients_.Remove(fd);
  sources_->Release(fd);
  if (part != nullptr) part->finished();
  stats_->finished();
  ::close(fd);
}

void BlockingModel::ServeJs(int fd, char* buf, size_t cap) {
  const int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
    Stats::add(stats_->errors, 1);
    return;
  }
  Connection c(fd, next_generation_.fetch_add(1, std::memory_order_relaxed), HandlerKind::kJs,
               stats_, opt_.high_water);
  Inbox inbox;
  if (inbox.open() < 0) {
    Stats::add(stats_->errors, 1);
    c.ReleaseFd();
    return;
  }
  JsSink* sink = js_hub_->Attach([&inbox, &c](JsOps&& ops) {
    inbox.Post([&c, ops = std::move(ops)] {
      const ConnRef me = c.ref();
      for (const JsOps::Op& op : ops.ops) {
        if (op.ref.fd == me.fd && op.ref.generation == me.generation) c.Apply(op, ops);
      }
    });
  });
  c.AttachJs(sink);
  sink->Opened(c.ref(), fd);
  sink->Flush();
  const int timeout = opt_.idle_timeout_ms ? static_cast<int>(opt_.idle_timeout_ms) : -1;
  while (!c.Finished()) {
    pollfd p[2] = {{fd, static_cast<short>((c.WantsRead() ? POLLIN : 0) | (c.WantsWrite() ? POLLOUT : 0)), 0},
                   {inbox.fd(), POLLIN, 0}};
    const int n = poll(p, 2, timeout);
    Stats::add(stats_->sys.wait, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      Stats::add(stats_->errors, 1);
      break;
    }
    Stats::add(stats_->wakeups, 1);
    // stop() shut the socket down: leave without waiting for JS to end it.
    if (n == 0 || clients_.stopping()) break;  // n == 0: idle for idleTimeoutMs
    if (p[1].revents) inbox.Drain();
    if (p[0].revents & (POLLIN | POLLERR | POLLHUP)) c.OnReadable(buf, cap, 1);
    if (p[0].revents & (POLLOUT | POLLERR | POLLHUP)) c.OnWritable();
    c.ReportToJs();
    sink->Flush();
  }
  sink->Closed(c.ref(), c.Error());
  sink->Flush();
  js_hub_->Detach(sink);  // after it, no op is posted to `inbox` any more
  c.ReleaseFd();
}

}  // namespace nm
