// SelectServer: one thread, select() over read and write fd_sets.
//
// select() overwrites its arguments, so the master sets are copied for every
// call (only the words up to the highest fd), and the result is found by
// scanning those words for set bits, stopping once every ready fd is found:
// still O(highest fd) per wakeup, as select is, but a word of 64 fds at a
// time. An fd_set holds FD_SETSIZE (1024) bits and FD_SET on a larger fd
// writes past it, so a connection that lands on such an fd is closed and
// counted as rejected.
#include <sys/select.h>

#include <cstring>

#include "models/event_model.h"

namespace nm {

namespace {

// glibc's fd_set is an array of longs, bit (fd % bits) of word (fd / bits):
// the layout the kernel reads, so it can be scanned word by word.
using Word = unsigned long;
constexpr int kWordBits = static_cast<int>(8 * sizeof(Word));
static_assert(sizeof(__fd_mask) == sizeof(Word) && sizeof(fd_set) == FD_SETSIZE / 8,
              "fd_set is a plain array of words");

const Word* Words(const fd_set* set) { return reinterpret_cast<const Word*>(__FDS_BITS(set)); }

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
    const int nfds = max_fd_ + 1;
    const size_t bytes = static_cast<size_t>((nfds + kWordBits - 1) / kWordBits) * sizeof(Word);
    // The kernel reads and writes only the first nfds bits of each set.
    memcpy(&r_, &read_set_, bytes);
    memcpy(&w_, &write_set_, bytes);
    timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    const int n = select(nfds, &r_, &w_, nullptr, timeout_ms < 0 ? nullptr : &tv);
    Stats::add(stats_->sys.wait, 1);
    if (n < 0) return -errno;
    ready->clear();
    // n counts ready bits in both sets. Bits past nfds in the last word are
    // not select()'s to report: masked off.
    const Word* rw = Words(&r_);
    const Word* ww = Words(&w_);
    for (int i = 0, left = n; left > 0 && i * kWordBits < nfds; i++) {
      Word bits = rw[i] | ww[i];
      const int past = nfds - i * kWordBits;
      if (past < kWordBits) bits &= (Word{1} << past) - 1;
      while (bits != 0) {
        const int b = __builtin_ctzl(bits);
        bits &= bits - 1;
        const Word bit = Word{1} << b;
        const uint32_t events = ((rw[i] & bit) ? kRead : 0) | ((ww[i] & bit) ? kWrite : 0);
        ready->push_back({i * kWordBits + b, events});
        left -= (events & kRead ? 1 : 0) + (events & kWrite ? 1 : 0);
      }
    }
    return 0;
  }

  const char* WaitSyscall() const override { return "select"; }
  const char* WatchSyscall() const override { return "select"; }

  fd_set read_set_;
  fd_set write_set_;
  fd_set r_;  // the sets handed to select(): only their first words are used
  fd_set w_;
  int max_fd_ = -1;
};

}  // namespace

NM_REGISTER_MODEL("select", SelectModel);

}  // namespace nm
