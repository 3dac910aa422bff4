#include "core/drop_pipe.h"

#include <fcntl.h>
#include <limits.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace nm {

static_assert(sizeof(DropRecord) <= PIPE_BUF, "a record must be written atomically");

int DropPipe::Open(const char** syscall) {
  *syscall = "mmap";
  int r = shared_.Map(1);
  if (r < 0) return r;
  int fds[2];
  *syscall = "pipe2";
  if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0) return -errno;
  read_.reset(fds[0]);
  write_.reset(fds[1]);
  return 0;
}

void DropPipe::Send(int fd, const sockaddr_storage& peer) {
  if (!shared_.get()->wanted.load(std::memory_order_relaxed)) return;
  DropRecord record;
  std::memset(&record, 0, sizeof record);
  socklen_t len = sizeof record.local;
  // Truncated to the union's size: an IP address fits whole.
  if (getsockname(fd, &record.local.sa, &len) < 0) record.local.sa.sa_family = AF_UNSPEC;
  std::memcpy(&record.remote, &peer, sizeof record.remote);
  const ssize_t n = NM_RETRY(::write(write_.get(), &record, sizeof record));
  // EAGAIN: full. Nothing else can fail while the parent holds the read end.
  if (n != static_cast<ssize_t>(sizeof record)) Stats::add(shared_.get()->lost, 1);
}

ssize_t DropPipe::Receive(DropRecord* out, size_t max) {
  const ssize_t n = NM_RETRY(::read(read_.get(), out, max * sizeof(DropRecord)));
  if (n < 0) return -errno;
  // Whole records only (see above): a remainder cannot happen, and is not
  // taken for a record if it did.
  return n / static_cast<ssize_t>(sizeof(DropRecord));
}

}  // namespace nm
