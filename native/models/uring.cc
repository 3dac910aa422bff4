// UringServer: one thread, a completion loop over io_uring.
//
// The readiness loops ask which sockets are ready, then make a recv or send
// syscall for each. This loop never asks: it keeps requests in the kernel (a
// multishot accept on the listener, a multishot recv per connection that
// fills buffers from a shared provided-buffer ring, a send per pending
// output) and reaps their completions, any number per io_uring_enter.
#include <sys/socket.h>

#include "core/clock.h"
#include "core/ring.h"
#include "core/ring_connection.h"
#include "models/loop_base.h"

namespace nm {

namespace {

// Connections shed or taken per accept failure before the multishot accept
// is armed again (see Shed).
constexpr int kAcceptBatch = 128;

// Stop() is the readiness loops' posted message: it arrives through the ring
// as the completion of a read of the inbox's eventfd.
class UringModel final : public LoopBase<RingConnection> {
 public:
  using LoopBase::LoopBase;
  void Run() override;
  void Describe(std::vector<std::pair<const char*, std::string>>* out) override {
    out->emplace_back("ring", ring_.Describe());
  }

 private:
  int Prepare(SysError* error) override {
    int r = OpenLoop(error);
    if (listener_.valid()) nodelay_inherited_ = AcceptedNoDelay(listener_.get());
    return r < 0 ? r : ring_.Open(static_cast<unsigned>(opt_.Number("entries")), opt_.String("recv") == "bundle",
                                      opt_.String("buffers") == "incremental", stats_, error);
  }

  void Dispatch(const Completion& e);
  void OnAccept(const Completion& e);
  void Shed();
  bool Admit(int fd);
  void AddConnection(int fd) override;
  // Queues `c` for the end-of-round Update(): it made progress.
  void Touch(RingConnection* c) override;
  void Update(RingConnection* c) override;
  // Closes `c` once no request of its own is left in the kernel.
  void Close(RingConnection* c) override;
  void ResumeAccepting() override { ArmAccept(); }
  bool CanWatch(int fd) const override { return fd < kTagFdLimit; }
  bool Closing(const RingConnection* c) const override { return c->Retiring(); }
  void ArmAccept() { ring_.AcceptMultishot(listener_.get(), MakeTag(kOpAccept, 0, 0)); }
  void ArmWake() { ring_.Read(inbox_.fd(), &wake_value_, sizeof wake_value_, MakeTag(kOpWake, 0, 0)); }
  // A completion's connection: its tag holds the generation's low 32 bits.
  RingConnection* FindTagged(int fd, uint32_t generation) const {
    if (fd < 0 || static_cast<size_t>(fd) >= slots_.size()) return nullptr;
    RingConnection* c = slots_[fd].conn.get();
    return c && static_cast<uint32_t>(c->ref().generation) == generation ? c : nullptr;
  }

  Ring ring_;
  uint64_t wake_value_ = 0;
  std::vector<Completion> done_;
  bool nodelay_inherited_ = false;  // accepted sockets have TCP_NODELAY already
  std::vector<ConnRef> dirty_;
};

void UringModel::Run() {
  loop_thread_.Enter();
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
    r = ring_.SubmitAndWait(TimerTimeout());
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
      if (RingConnection* c = Find(ref)) Update(c);
    }
    dirty_.clear();
    EndRound();
  }
  stopping_ = true;
  // Nothing is freed while the kernel may still write into it or read from
  // it: every request is cancelled and its last completion awaited.
  CloseAll();
  ring_.CancelAll(MakeTag(kOpCancel, 0, 0));
  while (ring_.InFlight() > 0 && !ring_.failed()) {
    r = ring_.SubmitAndWait(-1);
    if (r < 0 && r != -EINTR) break;
    ring_.Reap(&done_);
    for (const Completion& e : done_) Dispatch(e);
  }
  for (Slot& slot : slots_) {
    if (slot.conn) Forget(slot.conn.get());
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
  RingConnection* c = FindTagged(TagFd(e.tag), TagGeneration(e.tag));
  if (c == nullptr) return;  // cannot happen: a connection outlives its requests
  c->OnCompletion(ring_, e);
  if (c->Retiring()) {
    if (c->InFlight() == 0) Forget(c);
  } else {
    Touch(c);
  }
}

void UringModel::Touch(RingConnection* c) {
  SlotOf(c).last_active_ms = now_ms_;
  if (c->dirty) return;
  c->dirty = true;
  dirty_.push_back(c->ref());
}

void UringModel::OnAccept(const Completion& e) {
  if (e.res >= 0) {
    SetAcceptedNoDelay(e.res, nodelay_inherited_);
    if (Admit(e.res)) AddConnection(e.res);
  }
  if (e.more() || stopping_ || e.res == -ECANCELED) return;
  if (e.res == -EMFILE || e.res == -ENFILE) {
    Shed();
  } else if (e.res < 0) {
    ReportError(e.res, "accept");
    PauseAccepting();
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
    } else if (!AcceptFailed(fd, shed)) {
      PauseAccepting();
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
  LoopBase::AddConnection(fd);
}

void UringModel::Update(RingConnection* c) {
  c->dirty = false;
  if (c->Retiring()) return;
  if (js_ != nullptr) c->ReportToJs();
  if (c->Finished()) {
    Close(c);
    return;
  }
  NoteLinger(c);
  c->Submit(ring_);
}

void UringModel::Close(RingConnection* c) {
  if (js_ != nullptr && !c->Retiring()) js_->Closed(c->ref(), c->Error());
  // While stopping, one cancel of everything follows (Run): a cancel per
  // connection would double the completions to reap.
  c->Retire(ring_, !stopping_);
  if (c->InFlight() == 0) Forget(c);
}

}  // namespace

NM_REGISTER_MODEL("uring", UringModel);

}  // namespace nm
