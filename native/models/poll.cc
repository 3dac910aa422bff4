// PollServer: one thread, poll() over a pollfd array that grows with the
// connections and is compacted (swap with the last entry) when one closes.
// No fixed cap, but every call copies and scans the whole array: O(n) per
// wakeup, however few are ready.
#include <poll.h>

#include "models/event_model.h"

namespace nm {

namespace {

class PollModel final : public EventModel {
 public:
  using EventModel::EventModel;

 private:
  int BackendOpen(SysError*) override { return 0; }

  static short Events(uint32_t mask) {
    return static_cast<short>(((mask & kRead) ? POLLIN : 0) | ((mask & kWrite) ? POLLOUT : 0));
  }

  int BackendSet(int fd, uint32_t old_mask, uint32_t mask) override {
    Stats::add(stats_->sys.ctl, 1);
    if (old_mask == 0) {
      if (slot_.size() <= static_cast<size_t>(fd)) slot_.resize(static_cast<size_t>(fd) + 1, -1);
      slot_[fd] = static_cast<int>(fds_.size());
      fds_.push_back({fd, Events(mask), 0});
    } else {
      fds_[static_cast<size_t>(slot_[fd])].events = Events(mask);
    }
    return 0;
  }

  void BackendForget(int fd, uint32_t) override {
    Stats::add(stats_->sys.ctl, 1);
    const int at = slot_[fd];
    fds_[static_cast<size_t>(at)] = fds_.back();
    slot_[fds_[static_cast<size_t>(at)].fd] = at;
    fds_.pop_back();
    slot_[fd] = -1;
  }

  int BackendWait(int timeout_ms, std::vector<Ready>* ready) override {
    int n = poll(fds_.data(), fds_.size(), timeout_ms);
    Stats::add(stats_->sys.wait, 1);
    if (n < 0) return -errno;
    ready->clear();
    for (size_t i = 0; i < fds_.size() && n > 0; i++) {
      const short re = fds_[i].revents;
      if (re == 0) continue;
      n--;
      ready->push_back({fds_[i].fd, ((re & POLLIN) ? kRead : 0) | ((re & POLLOUT) ? kWrite : 0) |
                                        ((re & (POLLERR | POLLHUP | POLLNVAL)) ? kError : 0)});
    }
    return 0;
  }

  const char* WaitSyscall() const override { return "poll"; }
  const char* WatchSyscall() const override { return "poll"; }

  std::vector<pollfd> fds_;
  std::vector<int> slot_;  // fd -> index in fds_, -1 when not watched
};

}  // namespace

NM_REGISTER_MODEL("poll", PollModel);

}  // namespace nm
