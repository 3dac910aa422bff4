#include "models/loop_base.h"

#include <algorithm>
#include <climits>

#include "core/connection.h"
#include "core/ring_connection.h"

namespace nm {

namespace {

// How often lingering connections are checked when no idle timeout is set.
constexpr uint64_t kLingerSweepMs = 250;

}  // namespace

template <class Conn>
int LoopBase<Conn>::OpenLoop(SysError* error) {
  int r = acceptor_.open(stats_);
  if (r < 0) return error->set(r, "open");
  if ((r = inbox_.open()) < 0) return error->set(r, "eventfd");
  if (opt_.handler == HandlerKind::kJs) {
    if (js_hub_ == nullptr) return error->set(-EINVAL, "listen");
    js_ = js_hub_->Attach([this](JsOps&& ops) {
      Post([this, ops = std::move(ops)] { ApplyJs(ops); });
    });
  }
  return 0;
}

template <class Conn>
void LoopBase<Conn>::AddConnection(int fd) {
  AssertInLoop(__func__);
  if (!CanWatch(fd)) {
    Reject(fd);
    return;
  }
  if (AtCapacity()) {
    Drop(fd);
    return;
  }
  if (slots_.size() <= static_cast<size_t>(fd)) slots_.resize(static_cast<size_t>(fd) + 1);
  Slot& slot = slots_[fd];
  slot = Slot();
  slot.conn = std::make_unique<Conn>(fd, next_generation_++, opt_.handler, stats_, opt_.high_water);
  slot.last_active_ms = now_ms_;
  Conn* c = slot.conn.get();
  stats_->opened();
  if (js_ != nullptr) {
    c->AttachJs(js_);
    js_->Opened(c->ref(), fd);
  }
  Update(c);
}

template <class Conn>
bool LoopBase<Conn>::AcceptFailed(int err, bool shed) {
  if (shed) {
    stats_->reject();
    Stats::add(stats_->errors, 1);
    return true;
  }
  if (err == -EMFILE || err == -ENFILE) {
    Stats::add(stats_->errors, 1);
  } else {
    ReportError(err, "accept");
  }
  return false;
}

template <class Conn>
void LoopBase<Conn>::ApplyJs(const JsOps& ops) {
  AssertInLoop(__func__);
  for (const JsOps::Op& op : ops.ops) {
    Conn* c = Find(op.ref);
    // Closed meanwhile: JS hears of it in this round's batch.
    if (c == nullptr || Closing(c)) continue;
    c->Apply(op, ops);
    Touch(c);
  }
}

template <class Conn>
void LoopBase<Conn>::Forget(Conn* c) {
  AssertInLoop(__func__);
  const int fd = c->fd();
  Slot& slot = slots_[fd];
  if (slot.linger_counted) lingering_--;
  sources_->Release(fd);  // before the fd is closed and its number reused
  stats_->finished();
  slot = Slot();
}

template <class Conn>
void LoopBase<Conn>::CloseAll() {
  AssertInLoop(__func__);
  inbox_.Drain();
  for (Slot& slot : slots_) {
    if (slot.conn) Close(slot.conn.get());
  }
  if (js_ != nullptr) js_->Flush();
}

template <class Conn>
int LoopBase<Conn>::TimerTimeout() const {
  if (!TimersActive()) return -1;
  uint64_t due = UINT64_MAX;
  if (opt_.idle_timeout_ms || lingering_) due = next_sweep_ms_;
  if (accept_resume_ms_) due = std::min(due, accept_resume_ms_);
  return due > now_ms_ ? static_cast<int>(std::min<uint64_t>(due - now_ms_, INT_MAX)) : 0;
}

template <class Conn>
void LoopBase<Conn>::RunTimers() {
  AssertInLoop(__func__);
  if (accept_resume_ms_ && now_ms_ >= accept_resume_ms_) {
    accept_resume_ms_ = 0;
    ResumeAccepting();
  }
  if ((!opt_.idle_timeout_ms && !lingering_) || now_ms_ < next_sweep_ms_) return;
  // Sweeping every quarter timeout bounds the overshoot to 25%.
  uint64_t tick = kLingerSweepMs;
  if (opt_.idle_timeout_ms) tick = std::min<uint64_t>(tick, std::max<uint64_t>(opt_.idle_timeout_ms / 4, 10));
  next_sweep_ms_ = now_ms_ + tick;
  for (Slot& slot : slots_) {
    Conn* c = slot.conn.get();
    if (c == nullptr || Closing(c)) continue;
    const bool idle = opt_.idle_timeout_ms && now_ms_ - slot.last_active_ms >= opt_.idle_timeout_ms;
    const bool lingered = slot.linger_counted && now_ms_ - slot.linger_since_ms >= kLingerMs;
    if (idle || lingered) Close(c);
  }
}

template class LoopBase<Connection>;
template class LoopBase<RingConnection>;

}  // namespace nm
