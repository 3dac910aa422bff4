#include "core/wakeup.h"

#include <sys/eventfd.h>

#include <cstdint>

namespace nm {

int Wakeup::open() {
  int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0) return -errno;
  fd_.reset(fd);
  return 0;
}

void Wakeup::signal() {
  // errno is saved because signal() may run inside a signal handler. A full
  // counter (EAGAIN) already guarantees a pending wakeup, so it is not an error.
  const int saved = errno;
  uint64_t one = 1;
  ssize_t r;
  do {
    r = ::write(fd_.get(), &one, sizeof one);
  } while (r < 0 && errno == EINTR);
  errno = saved;
}

void Wakeup::drain() {
  uint64_t value;
  ssize_t r;
  do {
    r = ::read(fd_.get(), &value, sizeof value);
  } while (r < 0 && errno == EINTR);
}

}  // namespace nm
