// UringServer: one thread, a completion loop over io_uring.
//
// The readiness loops ask which sockets are ready, then make a recv or send
// syscall for each. This loop never asks: it keeps requests in the kernel (a
// multishot accept on the listener, a multishot recv per connection that
// fills buffers from a shared provided-buffer ring, a send per pending
// output) and reaps their completions, any number per io_uring_enter.
#if NM_HAVE_LIBURING

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <climits>
#include <memory>

#include "core/clock.h"
#include "core/inbox.h"
#include "core/ring.h"
#include "core/ring_connection.h"
#include "models/model.h"

namespace nm {

namespace {

// Connections shed or taken per accept failure before the multishot accept
// is armed again (see Shed).
constexpr int kAcceptBatch = 128;
constexpr uint64_t kLingerSweepMs = 250;

class UringModel final : public Model {
 public:
  using Model::Model;

  void Run() override;
  // One posted message, as the readiness loops: it arrives through the
  // ring as the completion of a read of the inbox's eventfd.
  void Stop() override {
    inbox_.Post([this] { stopping_ = true; });
  }
  void Post(std::function<void()> fn) { inbox_.Post(std::move(fn)); }
  void Adopt(int fd) override {
    inbox_.Post([this, fd] { AddConnection(fd); });
  }

 private:
  int Prepare(SysError* error) override {
    int r = acceptor_.open(stats_);
    error->syscall = "open";
    if (r == 0 && (r = inbox_.open()) < 0) error->syscall = "eventfd";
    if (r < 0) return error->err = r;
    if (opt_.handler == HandlerKind::kJs) {
      if (js_hub_ == nullptr) return error->set(-EINVAL, "listen");
      js_ = js_hub_->Attach([this](JsOps&& ops) {
        Post([this, ops = std::move(ops)] { ApplyJs(ops); });
      });
    }
    return ring_.Open(static_cast<unsigned>(opt_.Number("entries")), stats_, error);
  }

  void Dispatch(const Completion& e);
  void OnAccept(const Completion& e);
  void Shed();
  bool Admit(int fd);
  void AddConnection(int fd);
  // On the loop's thread: what one JS turn asked of this loop's connections.
  void ApplyJs(const JsOps& ops);
  // Queues `c` for the end-of-round Update(): it made progress.
  void Touch(RingConnection* c);
  void Update(RingConnection* c);
  void Retire(RingConnection* c);
  void Destroy(RingConnection* c);
  void ArmAccept() { ring_.AcceptMultishot(listener_.get(), MakeTag(kOpAccept, 0, 0)); }
  void ArmWake() { ring_.Read(inbox_.fd(), &wake_value_, sizeof wake_value_, MakeTag(kOpWake, 0, 0)); }
  RingConnection* Find(int fd, uint32_t generation) const {
    if (fd < 0 || static_cast<size_t>(fd) >= conns_.size()) return nullptr;
    RingConnection* c = conns_[fd].get();
    return c && static_cast<uint32_t>(c->ref().generation) == generation ? c : nullptr;
  }
  void RunTimers();
  int WaitTimeout() const;
  bool TimersActive() const { return opt_.idle_timeout_ms || accept_resume_ms_ || lingering_; }

  Ring ring_;
  Acceptor acceptor_;
  Inbox inbox_;
  JsSink* js_ = nullptr;  // handler kJs: this loop's outbox to JS
  uint64_t wake_value_ = 0;
  bool stopping_ = false;
  std::vector<std::unique_ptr<RingConnection>> conns_;  // indexed by fd
  uint64_t next_generation_ = 1;
  std::vector<Completion> done_;
  std::vector<ConnRef> dirty_;
  uint64_t now_ms_ = 0;
  uint64_t next_sweep_ms_ = 0;
  uint64_t accept_resume_ms_ = 0;  // 0: the multishot accept is armed (or there is no listener)
  size_t lingering_ = 0;
};

void UringModel::Run() {
  int r = ring_.Enable();
  if (r < 0) {
    ReportError(r, "io_uring_register");
    listener_.reset();  // refuse new clients rather than queue them for a dead loop
    return;
  }
  now_ms_ = CoarseMonotonicMs();
  if (listener_.valid()) ArmAccept();
  ArmWake();
  while (!stopping_) {
    r = ring_.SubmitAndWait(WaitTimeout());
    now_ms_ = CoarseMonotonicMs();
    if (r == -EINTR) continue;
    if (r == 0 || r == -ETIME) Stats::add(stats_->wakeups, 1);
    if (r == 0 && ring_.failed()) r = ring_.failed();
    if (r < 0 && r != -ETIME) {
      ReportError(r, "io_uring_enter");
      listener_.reset();
      break;
    }
    ring_.Reap(&done_);
    for (const Completion& e : done_) Dispatch(e);
    // Output is sent once per round, whatever number of requests produced it.
    for (ConnRef ref : dirty_) {
      if (RingConnection* c = Find(ref.fd, static_cast<uint32_t>(ref.generation))) Update(c);
    }
    dirty_.clear();
    if (TimersActive()) RunTimers();
    if (js_ != nullptr) js_->Flush();  // one call into JS per round
  }
  stopping_ = true;
  // Adopted connections still queued are taken in, and closed below with the rest.
  inbox_.Drain();
  // Nothing is freed while the kernel may still write into it or read from
  // it: every request is cancelled and its last completion awaited.
  for (auto& c : conns_) {
    if (c) Retire(c.get());
  }
  if (js_ != nullptr) js_->Flush();
  ring_.CancelAll(MakeTag(kOpCancel, 0, 0));
  while (ring_.InFlight() > 0 && !ring_.failed()) {
    r = ring_.SubmitAndWait(-1);
    if (r < 0 && r != -EINTR) break;
    ring_.Reap(&done_);
    for (const Completion& e : done_) Dispatch(e);
  }
  for (auto& c : conns_) {
    if (c) Destroy(c.get());
  }
  ring_.Disable();
}

void UringModel::Dispatch(const Completion& e) {
  switch (TagOp(e.tag)) {
    case kOpWake:
      // Without this read nothing could reach the loop again, Stop() included.
      if (e.res < 0 && !stopping_) {
        ReportError(e.res, "read");
        stopping_ = true;
      }
      if (stopping_) return;
      inbox_.Drain();
      if (!stopping_) ArmWake();
      return;
    case kOpAccept:
      OnAccept(e);
      return;
    case kOpCancel:
      return;
  }
  RingConnection* c = Find(TagFd(e.tag), TagGeneration(e.tag));
  if (c == nullptr) return;  // cannot happen: a connection outlives its requests
  c->OnCompletion(ring_, e);
  if (c->Retiring()) {
    if (c->InFlight() == 0) Destroy(c);
  } else {
    Touch(c);
  }
}

void UringModel::Touch(RingConnection* c) {
  c->last_active_ms = now_ms_;
  if (c->dirty) return;
  c->dirty = true;
  dirty_.push_back(c->ref());
}

void UringModel::ApplyJs(const JsOps& ops) {
  for (const JsOps::Op& op : ops.ops) {
    RingConnection* c = Find(op.ref.fd, static_cast<uint32_t>(op.ref.generation));
    // Closed meanwhile: JS hears of it in this round's batch.
    if (c == nullptr || c->Retiring()) continue;
    c->Apply(op, ops);
    Touch(c);
  }
}

void UringModel::OnAccept(const Completion& e) {
  if (e.res >= 0) {
    int on = 1;
    // As Acceptor: replies are written whole; failure is harmless.
    setsockopt(e.res, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    if (Admit(e.res)) AddConnection(e.res);
  }
  if (e.more() || stopping_ || e.res == -ECANCELED) return;
  if (e.res == -EMFILE || e.res == -ENFILE) {
    Shed();
  } else if (e.res < 0) {
    ReportError(e.res, "accept");
    accept_resume_ms_ = now_ms_ + kAcceptPauseMs;
  } else {
    ArmAccept();  // the kernel ended the multishot (a full completion queue, say)
  }
}

// Out of descriptors: the multishot accept ended and the connection is still
// queued. Acceptor's reserve fd takes it off and closes it (the client sees
// a reset, not a hang); if even that fails, accepting pauses for
// kAcceptPauseMs instead of failing again at once.
void UringModel::Shed() {
  for (int i = 0; i < kAcceptBatch; i++) {
    bool shed = false;
    const int fd = acceptor_.accept(listener_.get(), true, &shed);
    if (fd >= 0) {
      if (Admit(fd)) AddConnection(fd);
    } else if (fd == -EAGAIN) {
      break;
    } else if (shed) {
      stats_->reject();
      Stats::add(stats_->errors, 1);
    } else {
      if (fd == -EMFILE || fd == -ENFILE) {
        Stats::add(stats_->errors, 1);
      } else {
        ReportError(fd, "accept");
      }
      accept_resume_ms_ = now_ms_ + kAcceptPauseMs;
      return;
    }
  }
  ArmAccept();
}

// maxConnectionsPerSource for a connection this loop accepted itself (a
// composite's acceptor admits what it hands over). The multishot accept
// gives no address, so the peer is asked for, only when a limit is set.
bool UringModel::Admit(int fd) {
  if (!sources_->enabled()) return true;
  sockaddr_storage peer{};
  socklen_t len = sizeof peer;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) < 0) peer.ss_family = AF_UNSPEC;
  return AdmitSource(fd, peer);
}

void UringModel::AddConnection(int fd) {
  if (stopping_) {
    // Handed over after the stop: taken in and closed, as every other.
    stats_->opened();
    stats_->finished();
    sources_->Release(fd);
    ::close(fd);
    return;
  }
  if (fd >= kTagFdLimit || AtCapacity()) {
    Reject(fd);
    return;
  }
  if (conns_.size() <= static_cast<size_t>(fd)) conns_.resize(static_cast<size_t>(fd) + 1);
  conns_[fd] = std::make_unique<RingConnection>(fd, next_generation_++, opt_.handler, stats_,
                                                opt_.high_water);
  RingConnection* c = conns_[fd].get();
  c->last_active_ms = now_ms_;
  stats_->opened();
  if (js_ != nullptr) {
    c->AttachJs(js_);
    js_->Opened(c->ref(), fd);
  }
  Update(c);
}

void UringModel::Update(RingConnection* c) {
  c->dirty = false;
  if (c->Retiring()) return;
  if (js_ != nullptr) c->ReportToJs();
  if (c->Finished()) {
    Retire(c);
    return;
  }
  if (c->Lingering() && !c->linger_counted) {
    c->linger_counted = true;
    c->linger_since_ms = now_ms_;
    lingering_++;
  }
  c->Submit(ring_);
}

// Closes `c` once no request of its own is left in the kernel.
void UringModel::Retire(RingConnection* c) {
  if (js_ != nullptr && !c->Retiring()) js_->Closed(c->ref(), 0);
  c->Retire(ring_);
  if (c->InFlight() == 0) Destroy(c);
}

void UringModel::Destroy(RingConnection* c) {
  if (c->linger_counted) lingering_--;
  stats_->finished();
  sources_->Release(c->fd());  // before the fd is closed and its number reused
  conns_[c->fd()].reset();
}

int UringModel::WaitTimeout() const {
  if (!TimersActive()) return -1;
  uint64_t due = UINT64_MAX;
  if (opt_.idle_timeout_ms || lingering_) due = next_sweep_ms_;
  if (accept_resume_ms_) due = std::min(due, accept_resume_ms_);
  return due > now_ms_ ? static_cast<int>(std::min<uint64_t>(due - now_ms_, INT_MAX)) : 0;
}

void UringModel::RunTimers() {
  if (accept_resume_ms_ && now_ms_ >= accept_resume_ms_) {
    accept_resume_ms_ = 0;
    ArmAccept();
  }
  if ((!opt_.idle_timeout_ms && !lingering_) || now_ms_ < next_sweep_ms_) return;
  uint64_t tick = kLingerSweepMs;
  if (opt_.idle_timeout_ms) tick = std::min<uint64_t>(tick, std::max<uint64_t>(opt_.idle_timeout_ms / 4, 10));
  next_sweep_ms_ = now_ms_ + tick;
  for (auto& c : conns_) {
    if (!c || c->Retiring()) continue;
    const bool idle = opt_.idle_timeout_ms && now_ms_ - c->last_active_ms >= opt_.idle_timeout_ms;
    const bool lingered = c->linger_counted && now_ms_ - c->linger_since_ms >= kLingerMs;
    if (idle || lingered) Retire(c.get());
  }
}

}  // namespace

NM_REGISTER_MODEL("uring", UringModel);

}  // namespace nm

#endif  // NM_HAVE_LIBURING
