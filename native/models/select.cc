// SelectServer: one thread, select() over read and write fd_sets.
//
// The master sets are copied into fresh ones for every call (select
// overwrites its arguments) and the result is found by scanning every fd up
// to the highest one: O(highest fd) per wakeup however few are ready. An fd_set
// holds FD_SETSIZE (1024) bits and FD_SET on a larger fd writes past it, so a
// connection that lands on such an fd is closed and counted as rejected.
#include <sys/select.h>

#include "models/event_model.h"

namespace nm {

namespace {

class SelectModel final : public EventModel {
 public:
  using EventModel::EventModel;

 private:
  int BackendOpen(SysError*) override {
    FD_ZERO(&read_set_);
    FD_ZERO(&write_set_);
    return 0;
  }

  bool CanWatch(int fd) const override { return fd >= 0 && fd < FD_SETSIZE; }

  int BackendSet(int fd, uint32_t, uint32_t mask) override {
    if (!CanWatch(fd)) return -EINVAL;
    Stats::add(stats_->sys.ctl, 1);
    if (mask & kRead) FD_SET(fd, &read_set_); else FD_CLR(fd, &read_set_);
    if (mask & kWrite) FD_SET(fd, &write_set_); else FD_CLR(fd, &write_set_);
    if (fd > max_fd_) max_fd_ = fd;
    return 0;
  }

  void BackendForget(int fd, uint32_t) override {
    Stats::add(stats_->sys.ctl, 1);
    FD_CLR(fd, &read_set_);
    FD_CLR(fd, &write_set_);
    while (max_fd_ >= 0 && !FD_ISSET(max_fd_, &read_set_) && !FD_ISSET(max_fd_, &write_set_)) {
      max_fd_--;
    }
  }

  int BackendWait(int timeout_ms, std::vector<Ready>* ready) override {
    fd_set r = read_set_;
    fd_set w = write_set_;
    timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    const int n = select(max_fd_ + 1, &r, &w, nullptr, timeout_ms < 0 ? nullptr : &tv);
    Stats::add(stats_->sys.wait, 1);
    if (n < 0) return -errno;
    ready->clear();
    for (int fd = 0, left = n; fd <= max_fd_ && left > 0; fd++) {
      const uint32_t events = (FD_ISSET(fd, &r) ? kRead : 0) | (FD_ISSET(fd, &w) ? kWrite : 0);
      if (events) {
        ready->push_back({fd, events});
        left -= (events & kRead ? 1 : 0) + (events & kWrite ? 1 : 0);
      }
    }
    return 0;
  }

  const char* WaitSyscall() const override { return "select"; }
  const char* WatchSyscall() const override { return "select"; }

  fd_set read_set_;
  fd_set write_set_;
  int max_fd_ = -1;
};

}  // namespace

NM_REGISTER_MODEL("select", SelectModel);

}  // namespace nm
