// EpollServer: one thread, epoll_wait(), level- or edge-triggered.
// Registration is O(1) per change and a wait costs O(ready), not O(watched).
#include <sys/epoll.h>

#include "models/event_model.h"

namespace nm {

namespace {

class EpollModel final : public EventModel {
 public:
  explicit EpollModel(const ModelOptions& options)
      : EventModel(options), edge_(options.String("trigger") == "edge") {}

 private:
  int BackendOpen(SysError* error) override {
    epfd_.reset(epoll_create1(EPOLL_CLOEXEC));
    if (!epfd_.valid()) return error->set(-errno, "epoll_create1");
    events_.resize(256);
    return 0;
  }

  int BackendSet(int fd, uint32_t old_mask, uint32_t new_mask) override {
    epoll_event ev{};
    const bool listener = fd == listener_.get();
    // EPOLLRDHUP on an edge-triggered connection: a peer's FIN is reported
    // as such, which the loop's rule for stopping at an empty queue needs
    // (see EventModel::Serve). Not on the listener: EPOLLEXCLUSIVE below
    // refuses it (EINVAL).
    ev.events = ((new_mask & kRead) ? EPOLLIN : 0u) | ((new_mask & kWrite) ? EPOLLOUT : 0u) |
                (EdgeTriggered() ? EPOLLET | (listener ? 0u : EPOLLRDHUP) : 0u);
    // A listener shared with other loops wakes only one of them per
    // connection (Linux 4.5), instead of every loop racing to accept it.
    if (listener && opt_.listen_fd >= 0) ev.events |= EPOLLEXCLUSIVE;
    ev.data.fd = fd;
    const int op = old_mask ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    Stats::add(stats_->sys.ctl, 1);
    return epoll_ctl(epfd_.get(), op, fd, &ev) < 0 ? -errno : 0;
  }

  // Explicit, although close() usually removes the registration: epoll keys
  // it on the open file, and a copy of the descriptor (a child forked by a
  // ForkServer or child_process in this process, before it closes it) would
  // keep a stale registration reporting events under a reused fd number.
  void BackendForget(int fd, uint32_t) override {
    epoll_event ev{};
    Stats::add(stats_->sys.ctl, 1);
    epoll_ctl(epfd_.get(), EPOLL_CTL_DEL, fd, &ev);  // ENOENT/EBADF: nothing to forget
  }

  int BackendWait(int timeout_ms, std::vector<Ready>* ready) override {
    const int n = epoll_wait(epfd_.get(), events_.data(), static_cast<int>(events_.size()),
                             timeout_ms);
    Stats::add(stats_->sys.wait, 1);
    if (n < 0) return -errno;
    ready->clear();
    for (int i = 0; i < n; i++) {
      const uint32_t e = events_[i].events;
      ready->push_back({events_[i].data.fd, ((e & EPOLLIN) ? kRead : 0) |
                                                ((e & EPOLLOUT) ? kWrite : 0) |
                                                ((e & (EPOLLERR | EPOLLHUP | EPOLLRDHUP)) ? kError : 0)});
    }
    // A full array means more may be ready: grow so one wait sees them all.
    if (static_cast<size_t>(n) == events_.size()) events_.resize(events_.size() * 2);
    return 0;
  }

  bool EdgeTriggered() const override { return edge_; }
  const char* WaitSyscall() const override { return "epoll_wait"; }
  const char* WatchSyscall() const override { return "epoll_ctl"; }

  const bool edge_;
  Fd epfd_;
  std::vector<epoll_event> events_;
};

}  // namespace

NM_REGISTER_MODEL("epoll", EpollModel);

}  // namespace nm
