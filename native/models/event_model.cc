#include "models/event_model.h"

#include <algorithm>
#include <climits>

#include "core/clock.h"

namespace nm {

namespace {

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
  if (r < 0) return error->set(r, "open");
  if ((r = inbox_.open()) < 0) return error->set(r, "eventfd");
  if ((r = BackendOpen(error)) < 0) return r;
  if (opt_.handler == HandlerKind::kJs) {
    if (js_hub_ == nullptr) return error->set(-EINVAL, "listen");
    js_ = js_hub_->Attach([this](JsOps&& ops) {
      Post([this, ops = std::move(ops)] { ApplyJs(ops); });
    });
  }
  for (int fd : {listener_.get(), inbox_.fd()}) {
    if (fd < 0) continue;  // no listener: a part that is handed its connections
    if ((r = BackendSet(fd, 0, kRead)) < 0) return error->set(r, WatchSyscall());
  }
  return 0;
}

void EventModel::Run() {
  const int listen_fd = listener_.get();
  now_ms_ = CoarseMonotonicMs();
  while (!stopping_) {
    int r = BackendWait(WaitTimeout(), &ready_);
    // Before anything is handled: a deadline or timestamp set during this
    // round (a connection starting to linger, say) must never be compared
    // with a clock older than itself.
    now_ms_ = CoarseMonotonicMs();
    if (r == -EINTR) continue;
    if (r < 0) {
      ReportError(r, WaitSyscall());
      listener_.reset();  // refuse new clients rather than queue them for a dead loop
      break;
    }
    Stats::add(stats_->wakeups, 1);
    revisit_now_.swap(revisit_);
    revisit_.clear();
    for (const Ready& ev : ready_) {
      if (ev.fd == inbox_.fd()) {
        inbox_.Drain();
      } else if (ev.fd == listen_fd) {
        AcceptReady();
      } else if (static_cast<size_t>(ev.fd) < conns_.size() && conns_[ev.fd]) {
        Serve(conns_[ev.fd].get(), ev.events);
      }
    }
    if (stopping_) break;
    for (ConnRef ref : revisit_now_) {
      // As if with a hang-up: a FIN reported by the event that started this
      // read may still be queued behind the data, and no new edge will say so.
      if (Connection* c = Find(ref)) Serve(c, kRead | kError);
    }
    if (TimersActive()) RunTimers();
    if (js_ != nullptr) js_->Flush();  // one call into JS per round
  }
  // Connections handed over with Adopt() after the stop message still wait
  // in the inbox: take them in, so the loop below closes them too.
  inbox_.Drain();
  for (auto& c : conns_) {
    if (c) Close(c.get());
  }
  if (js_ != nullptr) js_->Flush();
}

void EventModel::Adopt(int fd) {
  inbox_.Post([this, fd] { AddConnection(fd); });
}

void EventModel::AcceptReady() {
  const bool edge = EdgeTriggered();
  // The peer's address only when a per-source limit needs it.
  sockaddr_storage peer;
  sockaddr_storage* want_peer = sources_->enabled() ? &peer : nullptr;
  for (int i = 0; edge || i < kAcceptBatch; i++) {
    bool shed = false;
    int fd = acceptor_.accept(listener_.get(), true, &shed, want_peer);
    if (fd == -EAGAIN) return;
    if (fd < 0) {
      if (shed) {
        // Out of descriptors: the acceptor took the connection with its
        // reserve fd and closed it. Go on draining the queue.
        stats_->reject();
        Stats::add(stats_->errors, 1);
        continue;
      }
      if (fd == -EMFILE || fd == -ENFILE) {
        Stats::add(stats_->errors, 1);
      } else {
        ReportError(fd, "accept");
      }
      SuspendAccepting();
      return;
    }
    if (want_peer == nullptr || AdmitSource(fd, peer)) AddConnection(fd);
  }
}

void EventModel::AddConnection(int fd) {
  if (!CanWatch(fd) || AtCapacity()) {
    Reject(fd);
    return;
  }
  if (conns_.size() <= static_cast<size_t>(fd)) conns_.resize(static_cast<size_t>(fd) + 1);
  conns_[fd] = std::make_unique<Connection>(fd, next_generation_++, opt_.handler, stats_,
                                            opt_.high_water);
  Connection* c = conns_[fd].get();
  c->last_active_ms = now_ms_;
  stats_->opened();
  if (js_ != nullptr) {
    c->AttachJs(js_);
    js_->Opened(c->ref(), fd);
  }
  Update(c);
}

void EventModel::ApplyJs(const JsOps& ops) {
  for (const JsOps::Op& op : ops.ops) {
    Connection* c = Find(op.ref);
    if (c == nullptr) continue;  // closed meanwhile: JS hears of it in this round's batch
    c->Apply(op, ops);
    c->last_active_ms = now_ms_;
    Update(c);
  }
}

void EventModel::SuspendAccepting() {
  BackendForget(listener_.get(), kRead);
  accept_resume_ms_ = now_ms_ + kAcceptPauseMs;
}

void EventModel::Serve(Connection* c, uint32_t events) {
  bool open = true;
  if (events & (kRead | kError)) {
    // Edge-triggered: reading stops at EAGAIN, or at a short read when the
    // event carried no hang-up or error (EPOLLRDHUP is watched, so a FIN
    // that came with the data is never left unread without a new edge).
    const bool edge = EdgeTriggered();
    open = c->OnReadable(scratch_.get(), kReadBufferSize, edge ? kEdgeReadBudget : 1,
                         edge && !(events & kError));
    // Only edge-triggered: a level-triggered backend reports the fd again
    // while data is left, and a revisit there would cost every served
    // connection one more recv() that finds nothing.
    if (open && edge && c->MoreToRead()) revisit_.push_back(c->ref());
  }
  if (open && (events & (kWrite | kError))) open = c->OnWritable();
  c->last_active_ms = now_ms_;
  Update(c);
}

void EventModel::Update(Connection* c) {
  if (js_ != nullptr) c->ReportToJs();
  if (c->Finished()) {
    Close(c);
    return;
  }
  if (c->Lingering() && !c->linger_counted) {
    c->linger_counted = true;
    c->linger_since_ms = now_ms_;
    lingering_++;
  }
  const uint32_t want = (c->WantsRead() ? kRead : 0) | (c->WantsWrite() ? kWrite : 0);
  if (want == c->registered) return;
  // Re-arming read interest after backpressure needs no extra read in edge
  // mode: EPOLL_CTL_MOD re-checks readiness and queues an event if data is
  // already waiting.
  int r = want ? BackendSet(c->fd(), c->registered, want) : 0;
  if (want == 0 && c->registered) BackendForget(c->fd(), c->registered);
  if (r < 0) {
    ReportError(r, WatchSyscall());
    Close(c);
    return;
  }
  c->registered = want;
}

void EventModel::Close(Connection* c) {
  const int fd = c->fd();
  if (js_ != nullptr) js_->Closed(c->ref(), 0);
  if (c->registered) BackendForget(fd, c->registered);
  if (c->linger_counted) lingering_--;
  sources_->Release(fd);
  stats_->finished();
  conns_[fd].reset();
}

int EventModel::WaitTimeout() const {
  if (!revisit_.empty()) return 0;
  if (!TimersActive()) return -1;
  uint64_t due = UINT64_MAX;
  if (opt_.idle_timeout_ms || lingering_) due = next_sweep_ms_;
  if (accept_resume_ms_) due = std::min(due, accept_resume_ms_);
  return due > now_ms_ ? static_cast<int>(std::min<uint64_t>(due - now_ms_, INT_MAX)) : 0;
}

void EventModel::RunTimers() {
  if (accept_resume_ms_ && now_ms_ >= accept_resume_ms_) {
    accept_resume_ms_ = 0;
    // Adding the listener back re-arms it in edge mode too: a queue that
    // filled while it was away is reported at once.
    int r = BackendSet(listener_.get(), 0, kRead);
    if (r < 0) {
      ReportError(r, WatchSyscall());
      SuspendAccepting();
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
    const bool lingered = c->linger_counted && now_ms_ - c->linger_since_ms >= kLingerMs;
    if (idle || lingered) Close(c.get());
  }
}

}  // namespace nm
