#include "core/datagram.h"

#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "core/sockaddr.h"

namespace nm {

int BindUdp(const std::string& host, int port, bool reuse_port, Fd* out, Endpoint* bound,
            SysError* error) {
  sockaddr_storage ss;
  socklen_t len;
  if (ParseIp(host, port, &ss, &len) < 0) {
    errno = EINVAL;
    return error->fail("bind");
  }
  Fd fd(socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd.valid()) return error->fail("socket");
  int on = 1;
  // Every socket of a group must set it before bind().
  if (reuse_port && setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) < 0) {
    return error->fail("setsockopt");
  }
  if (ss.ss_family == AF_INET6 &&
      setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on) < 0) {
    return error->fail("setsockopt");
  }
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) < 0) return error->fail("bind");
  if (int r = BoundEndpoint(fd.get(), "bind", bound, error); r < 0) return r;
  *out = std::move(fd);
  return 0;
}

int AdoptUdp(int fd, Fd* out, Endpoint* bound, SysError* error) {
  int type = 0;
  socklen_t len = sizeof type;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0) return error->fail("getsockopt");
  if (type != SOCK_DGRAM) {
    errno = EINVAL;
    return error->fail("bind");
  }
  return DuplicateSocket(fd, true, "bind", out, bound, error);
}

int GrowReceiveBuffer(int fd, int bytes, SysError* error) {
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes) < 0) return error->fail("setsockopt");
  // The kernel keeps twice what it granted.
  if (ReceiveBuffer(fd) / 2 < static_cast<uint64_t>(bytes) &&
      setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes) < 0 && errno != EPERM) {
    return error->fail("setsockopt");
  }
  return 0;
}

uint64_t ReceiveBuffer(int fd) {
  int bytes = 0;
  socklen_t len = sizeof bytes;
  if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, &len) < 0 || bytes < 0) return 0;
  return static_cast<uint64_t>(bytes);
}

uint64_t KernelDrops(int fd) {
  uint32_t info[SK_MEMINFO_VARS] = {};
  socklen_t len = sizeof info;
  if (getsockopt(fd, SOL_SOCKET, SO_MEMINFO, info, &len) < 0 || len <= SK_MEMINFO_DROPS * sizeof info[0]) {
    return 0;
  }
  return info[SK_MEMINFO_DROPS];
}

}  // namespace nm
