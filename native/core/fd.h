// RAII ownership of a file descriptor. Callers retry EINTR at the call site
// (with NM_RETRY) because only they know whether a retry is safe.
#pragma once

#include <unistd.h>

#include <cerrno>

#define NM_RETRY(expr)                          \
  ({                                            \
    decltype(expr) nm_r_;                       \
    do {                                        \
      nm_r_ = (expr);                           \
    } while (nm_r_ == -1 && errno == EINTR);    \
    nm_r_;                                      \
  })

namespace nm {

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd(Fd&& other) noexcept : fd_(other.release()) {}
  Fd& operator=(Fd&& other) noexcept {
    reset(other.release());
    return *this;
  }
  ~Fd() { reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  // close() is never retried: on Linux the descriptor is released even when
  // close() reports EINTR, and a retry could close a reused number.
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

}  // namespace nm
