#include "models/event_model.h"

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

}  // namespace

int EventModel::Prepare(SysError* error) {
  scratch_.reset(new char[kReadBufferSize]);
  int r = OpenLoop(error);
  if (r < 0 || (r = BackendOpen(error)) < 0) return r;
  // Failure only costs a recv() per event that finds EAGAIN (see
  // Connection::OnReadable), so it is not an error.
  if (EdgeTriggered() && listener_.valid()) ReportQueuedBytes(listener_.get());
  for (int fd : {listener_.get(), inbox_.fd()}) {
    if (fd < 0) continue;  // no listener: a part that is handed its connections
    if ((r = BackendSet(fd, 0, kRead)) < 0) return error->set(r, WatchSyscall());
  }
  return 0;
}

void EventModel::Run() {
  loop_thread_.Enter();
  const int listen_fd = listener_.get();
  now_ms_ = CoarseMonotonicMs();
  if (int r = BackendEnter(); r < 0) {
    ReportError(r, WatchSyscall());
    listener_.reset();
    stopping_ = true;
  }
  while (!stopping_) {
    int r = BackendWait(revisit_.empty() ? TimerTimeout() : 0, &ready_);
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
    EndRound();
  }
  CloseAll();
  BackendLeave();
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
      if (AcceptFailed(fd, shed)) continue;  // shed: go on draining the queue
      SuspendAccepting();
      return;
    }
    if (want_peer == nullptr || AdmitSource(fd, peer)) AddConnection(fd);
  }
}

void EventModel::SuspendAccepting() {
  BackendForget(listener_.get(), kRead);
  PauseAccepting();
}

void EventModel::Serve(Connection* c, uint32_t events) {
  bool open = true;
  if (events & (kRead | kError)) {
    // Edge-triggered: reading stops at EAGAIN, or once a read left the
    // receive queue empty when the event carried no hang-up or error
    // (EPOLLRDHUP is watched, so a FIN that came with the data is never
    // left unread without a new edge).
    const bool edge = EdgeTriggered();
    open = c->OnReadable(scratch_.get(), kReadBufferSize, edge ? kEdgeReadBudget : 1,
                         edge && !(events & kError));
  }
  if (open && (events & (kWrite | kError))) open = c->OnWritable();
  // Only edge-triggered: a level-triggered backend reports the fd again
  // while data is left, and a revisit there would cost every served
  // connection one more recv() that finds nothing. After the write: output
  // it drained may have let a read stopped by backpressure resume.
  if (open && (events & (kRead | kError)) && EdgeTriggered() && c->MoreToRead()) revisit_.push_back(c->ref());
  c->last_active_ms = now_ms_;
  Update(c);
}

void EventModel::Update(Connection* c) {
  if (js_ != nullptr) c->ReportToJs();
  if (c->Finished()) {
    Close(c);
    return;
  }
  NoteLinger(c);
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
  if (js_ != nullptr) js_->Closed(c->ref(), c->Error());
  if (c->registered) BackendForget(c->fd(), c->registered);
  Forget(c);
}

void EventModel::ResumeAccepting() {
  // Adding the listener back re-arms it in edge mode too: a queue that
  // filled while it was away is reported at once.
  int r = BackendSet(listener_.get(), 0, kRead);
  if (r < 0) {
    ReportError(r, WatchSyscall());
    SuspendAccepting();
  }
}

}  // namespace nm
