#include "models/event_model.h"

#include <time.h>

#include <algorithm>
#include <climits>

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

// Edge-triggered reads per event before the connection yields to the others
// (and is served again after this round): 16 x 64 KiB.
constexpr int kEdgeReadBudget = 16;

// How often lingering connections are checked when no idle timeout is set.
constexpr uint64_t kLingerSweepMs = 250;

}  // namespace

int EventModel::Prepare(SysError* error) {
  scratch_.reset(new char[kReadBufferSize]);
  int r = acceptor_.open();
  if (r < 0) {
    error->err = r;
    error->syscall = "open";
    return r;
  }
  if ((r = wakeup_.open()) < 0) {
    error->err = r;
    error->syscall = "eventfd";
    return r;
  }
  if ((r = BackendOpen(error)) < 0) return r;
  for (int fd : {listener_.get(), wakeup_.fd()}) {
    if ((r = BackendSet(fd, 0, kRead)) < 0) {
      error->err = r;
      error->syscall = WatchSyscall();
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
      ReportError(r, WaitSyscall());
      listener_.reset();  // refuse new clients rather than queue them for a dead loop
      break;
    }
    Stats::add(stats_->wakeups, 1);
    if (TimersActive()) now_ms_ = MonotonicMs();
    again_now_.swap(again_);
    again_.clear();
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
    if (stopping) break;
    // An fd here may have been closed and reused since it was queued; a
    // spurious read on the new connection only meets EAGAIN.
    for (int fd : again_now_) {
      if (static_cast<size_t>(fd) < conns_.size() && conns_[fd]) Serve(conns_[fd].get(), kRead);
    }
    if (TimersActive()) RunTimers();
  }
  for (auto& c : conns_) {
    if (c) Close(c.get());
  }
}

void EventModel::AcceptReady() {
  const bool edge = EdgeTriggered();
  for (int i = 0; edge || i < kAcceptBatch; i++) {
    bool shed = false;
    int fd = acceptor_.accept(listener_.get(), true, &shed);
    if (fd == -EAGAIN) return;
    if (fd < 0) {
      if (shed) {
        // Out of descriptors: the acceptor took the connection with its
        // reserve fd and closed it. Go on draining the queue.
        stats_->refused();
        Stats::add(stats_->errors, 1);
        continue;
      }
      if (fd == -EMFILE || fd == -ENFILE) {
        Stats::add(stats_->errors, 1);
      } else {
        ReportError(fd, "accept");
      }
      PauseAccepting();
      return;
    }
    if (!CanWatch(fd) || AtCapacity()) {
      Refuse(fd);
      continue;
    }
    if (conns_.size() <= static_cast<size_t>(fd)) conns_.resize(static_cast<size_t>(fd) + 1);
    conns_[fd] = std::make_unique<Connection>(fd, opt_.handler, stats_, opt_.high_water);
    conns_[fd]->last_active_ms = now_ms_;
    stats_->opened();
    Update(conns_[fd].get());
  }
}

void EventModel::PauseAccepting() {
  BackendForget(listener_.get(), kRead);
  accept_resume_ms_ = MonotonicMs() + kAcceptPauseMs;
}

void EventModel::Serve(Connection* c, uint32_t events) {
  bool open = true;
  if (events & (kRead | kError)) {
    open = c->OnReadable(scratch_.get(), kReadBufferSize, EdgeTriggered() ? kEdgeReadBudget : 1);
    if (open && c->MoreToRead()) again_.push_back(c->fd());
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
  if (c->Lingering() && c->linger_since_ms == 0) {
    c->linger_since_ms = MonotonicMs();
    lingering_++;
  }
  const uint32_t want = (c->WantsRead() ? kRead : 0) | (c->WantsWrite() ? kWrite : 0);
  if (want == c->registered) return;
  // Re-arming read interest after backpressure needs no extra read in edge
  // mode: EPOLL_CTL_MOD re-checks readiness and queues an event if data is
  // already waiting.
  int r = BackendSet(c->fd(), c->registered, want);
  if (r < 0) {
    ReportError(r, WatchSyscall());
    Close(c);
    return;
  }
  c->registered = want;
}

void EventModel::Close(Connection* c) {
  const int fd = c->fd();
  if (c->registered) BackendForget(fd, c->registered);
  if (c->linger_since_ms != 0) lingering_--;
  stats_->finished();
  conns_[fd].reset();
}

int EventModel::WaitTimeout() const {
  if (!again_.empty()) return 0;
  if (!TimersActive()) return -1;
  uint64_t due = UINT64_MAX;
  if (opt_.idle_timeout_ms || lingering_) due = next_sweep_ms_;
  if (accept_resume_ms_) due = std::min(due, accept_resume_ms_);
  const uint64_t now = MonotonicMs();
  return due > now ? static_cast<int>(std::min<uint64_t>(due - now, INT_MAX)) : 0;
}

void EventModel::RunTimers() {
  if (accept_resume_ms_ && now_ms_ >= accept_resume_ms_) {
    accept_resume_ms_ = 0;
    // Adding the listener back re-arms it in edge mode too: a queue that
    // filled while it was away is reported at once.
    int r = BackendSet(listener_.get(), 0, kRead);
    if (r < 0) {
      ReportError(r, WatchSyscall());
      PauseAccepting();
    }
  }
  if ((!opt_.idle_timeout_ms && !lingering_) || now_ms_ < next_sweep_ms_) return;
  // Sweeping every quarter timeout bounds the overshoot to 25%.
  uint64_t tick = kLingerSweepMs;
  if (opt_.idle_timeout_ms) tick = std::min<uint64_t>(tick, std::max<uint64_t>(opt_.idle_timeout_ms / 4, 10));
  next_sweep_ms_ = now_ms_ + tick;
  for (auto& c : conns_) {
    if (!c) continue;
    const bool idle = opt_.idle_timeout_ms && now_ms_ - c->last_active_ms >= opt_.idle_timeout_ms;
    const bool lingered = c->linger_since_ms != 0 && now_ms_ - c->linger_since_ms >= kLingerMs;
    if (idle || lingered) Close(c.get());
  }
}

}  // namespace nm
