#include "models/event_model.h"

#include <time.h>

namespace nm {

namespace {

uint64_t MonotonicMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

// Level-triggered loops accept at most this many per wakeup so a connect
// storm cannot starve the clients already being served; the listener stays
// readable, so the rest are taken on the next round.
constexpr int kAcceptBatch = 128;

}  // namespace

int EventModel::Prepare(SysError* error) {
  scratch_.reset(new char[kReadBufferSize]);
  int r = acceptor_.open();
  if (r < 0) {
    error->err = r;
    error->syscall = "open";
    return r;
  }
  if ((r = BackendOpen(error)) < 0) return r;
  for (int fd : {listener_.get(), wakeup_.fd()}) {
    if ((r = BackendSet(fd, 0, kRead)) < 0) {
      error->err = r;
      error->syscall = "watch";
      return r;
    }
  }
  return 0;
}

void EventModel::Run() {
  const int listen_fd = listener_.get();
  bool stopping = false;
  while (!stopping) {
    int r = BackendWait(WaitTimeout(), &ready_);
    if (r == -EINTR) continue;
    if (r < 0) {
      ReportError(r, "wait");
      break;
    }
    Stats::add(stats_->wakeups, 1);
    if (opt_.idle_timeout_ms) now_ms_ = MonotonicMs();
    for (const Ready& ev : ready_) {
      if (ev.fd == wakeup_.fd()) {
        stopping = true;
        break;
      }
      if (ev.fd == listen_fd) {
        AcceptReady();
      } else if (static_cast<size_t>(ev.fd) < conns_.size() && conns_[ev.fd]) {
        Serve(conns_[ev.fd].get(), ev.events);
      }
    }
    if (opt_.idle_timeout_ms && now_ms_ >= next_sweep_ms_) SweepIdle();
  }
  for (auto& c : conns_) {
    if (c) Close(c.get());
  }
}

void EventModel::AcceptReady() {
  const bool edge = EdgeTriggered();
  for (int i = 0; edge || i < kAcceptBatch; i++) {
    int fd = acceptor_.accept(listener_.get(), true);
    if (fd == -EAGAIN) return;
    if (fd == -EMFILE || fd == -ENFILE) {
      // The acceptor shed the connection with its reserve fd; go on draining.
      Stats::add(stats_->errors, 1);
      continue;
    }
    if (fd < 0) {
      ReportError(fd, "accept");
      return;
    }
    if (!CanWatch(fd) || AtCapacity()) {
      ::close(fd);
      stats_->refused();
      continue;
    }
    if (conns_.size() <= static_cast<size_t>(fd)) conns_.resize(static_cast<size_t>(fd) + 1);
    conns_[fd] = std::make_unique<Connection>(fd, opt_.handler, stats_, opt_.high_water);
    conns_[fd]->last_active_ms = now_ms_;
    stats_->opened();
    Update(conns_[fd].get());
  }
}

void EventModel::Serve(Connection* c, uint32_t events) {
  bool open = true;
  if (events & (kRead | kError)) {
    open = c->OnReadable(scratch_.get(), kReadBufferSize, EdgeTriggered());
  }
  if (open && (events & (kWrite | kError))) open = c->OnWritable();
  c->last_active_ms = now_ms_;
  Update(c);
}

void EventModel::Update(Connection* c) {
  if (c->Finished()) {
    Close(c);
    return;
  }
  const uint32_t want = (c->WantsRead() ? kRead : 0) | (c->WantsWrite() ? kWrite : 0);
  if (want == c->registered) return;
  // Re-arming read interest after backpressure needs no extra read in edge
  // mode: EPOLL_CTL_MOD re-checks readiness and queues an event if data is
  // already waiting.
  int r = BackendSet(c->fd(), c->registered, want);
  if (r < 0) {
    ReportError(r, "watch");
    Close(c);
    return;
  }
  c->registered = want;
}

void EventModel::Close(Connection* c) {
  const int fd = c->fd();
  if (c->registered) BackendForget(fd, c->registered);
  conns_[fd].reset();
  stats_->finished();
}

int EventModel::WaitTimeout() {
  if (!opt_.idle_timeout_ms) return -1;
  const uint64_t now = MonotonicMs();
  return next_sweep_ms_ > now ? static_cast<int>(next_sweep_ms_ - now) : 0;
}

void EventModel::SweepIdle() {
  // Sweeping every quarter timeout bounds the overshoot to 25%.
  const uint64_t tick = opt_.idle_timeout_ms >= 40 ? opt_.idle_timeout_ms / 4 : 10;
  next_sweep_ms_ = now_ms_ + tick;
  for (auto& c : conns_) {
    if (c && now_ms_ - c->last_active_ms >= opt_.idle_timeout_ms) Close(c.get());
  }
}

}  // namespace nm
