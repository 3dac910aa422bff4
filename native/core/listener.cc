#include "core/listener.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <cstring>

#include "core/sockaddr.h"

namespace nm {

int ListenTcp(const ListenOptions& o, Fd* out, Endpoint* bound, SysError* error) {
  sockaddr_storage ss;
  socklen_t len;
  if (ParseIp(o.host, o.port, &ss, &len) < 0) {
    errno = EINVAL;
    return error->fail("bind");
  }
  int type = SOCK_STREAM | SOCK_CLOEXEC | (o.nonblocking ? SOCK_NONBLOCK : 0);
  Fd fd(socket(ss.ss_family, type, 0));
  if (!fd.valid()) return error->fail("socket");
  int on = 1;
  if (setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) < 0) {
    return error->fail("setsockopt");
  }
  // Every socket of a group must set it before bind(); the kernel then
  // spreads new connections over the group by a hash of the 4-tuple.
  if (o.reuse_port && setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) < 0) {
    return error->fail("setsockopt");
  }
  // Replies are written whole; Nagle would only delay the last segment.
  // Set here, every accepted socket inherits it (AcceptedNoDelay).
  if (setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) < 0) {
    return error->fail("setsockopt");
  }
  const int v6only = o.ipv6_only ? 1 : 0;
  if (ss.ss_family == AF_INET6 &&
      setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only) < 0) {
    return error->fail("setsockopt");
  }
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) < 0) {
    return error->fail("listen");
  }
  if (listen(fd.get(), o.backlog) < 0) return error->fail("listen");

  sockaddr_storage actual{};
  socklen_t actual_len = sizeof actual;
  if (getsockname(fd.get(), reinterpret_cast<sockaddr*>(&actual), &actual_len) < 0) {
    return error->fail("getsockname");
  }
  FormatIp(reinterpret_cast<sockaddr*>(&actual), &bound->address, &bound->port, &bound->family);
  *out = std::move(fd);
  return 0;
}

bool AcceptedNoDelay(int listen_fd) {
  int on = 0;
  socklen_t len = sizeof on;
  return getsockopt(listen_fd, IPPROTO_TCP, TCP_NODELAY, &on, &len) == 0 && on != 0;
}

void SetAcceptedNoDelay(int fd, bool inherited) {
  if (inherited) return;
  int on = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
}

int ReportQueuedBytes(int listen_fd) {
  int on = 1;
  return setsockopt(listen_fd, IPPROTO_TCP, TCP_INQ, &on, sizeof on) < 0 ? -errno : 0;
}

int AdoptListener(int fd, bool nonblocking, Fd* out, Endpoint* bound, SysError* error) {
  int type = 0, listening = 0;
  socklen_t len = sizeof type;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0) return error->fail("getsockopt");
  len = sizeof listening;
  if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0) return error->fail("getsockopt");
  if (type != SOCK_STREAM || !listening) {
    errno = EINVAL;
    return error->fail("listen");
  }
  return DuplicateSocket(fd, nonblocking, "listen", out, bound, error);
}

int DuplicateSocket(int fd, bool nonblocking, const char* syscall, Fd* out, Endpoint* bound,
                    SysError* error) {
  Fd dup(fcntl(fd, F_DUPFD_CLOEXEC, 3));
  if (!dup.valid()) return error->fail("dup");
  const int flags = fcntl(dup.get(), F_GETFL);
  if (flags < 0) return error->fail("fcntl");
  const int want = nonblocking ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
  if (want != flags && fcntl(dup.get(), F_SETFL, want) < 0) return error->fail("fcntl");
  if (int r = BoundEndpoint(dup.get(), syscall, bound, error); r < 0) return r;
  *out = std::move(dup);
  return 0;
}

int BoundEndpoint(int fd, const char* syscall, Endpoint* bound, SysError* error) {
  sockaddr_storage actual{};
  socklen_t actual_len = sizeof actual;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&actual), &actual_len) < 0) {
    return error->fail("getsockname");
  }
  if (actual.ss_family != AF_INET && actual.ss_family != AF_INET6) {
    errno = EAFNOSUPPORT;
    return error->fail(syscall);
  }
  FormatIp(reinterpret_cast<sockaddr*>(&actual), &bound->address, &bound->port, &bound->family);
  return 0;
}

int Acceptor::open(Stats* stats, Stats* part) {
  counts_ = {stats, part};
  int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  reserve_.reset(fd);
  return 0;
}

int Acceptor::accept(int listen_fd, bool nonblocking, bool* shed, sockaddr_storage* peer,
                     const volatile sig_atomic_t* quit) {
  *shed = false;
  // A reserve lost to a descriptor shortage is taken back as soon as one is free.
  if (!reserve_.valid()) reserve_.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  const int flags = SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0);
  auto* addr = reinterpret_cast<sockaddr*>(peer);
  int fd;
  do {
    socklen_t len = sizeof(sockaddr_storage);
    fd = accept4(listen_fd, addr, peer != nullptr ? &len : nullptr, flags);
    counts_.called(&Stats::Syscalls::accept, fd);
    if (fd < 0 && errno == EINTR && quit != nullptr && *quit) return -EINTR;
    // ECONNABORTED: the peer gave up while queued; the next one may be fine,
    // and an edge-triggered loop must go on until EAGAIN.
  } while (fd < 0 && (errno == EINTR || errno == ECONNABORTED));
  if (fd >= 0) {
    if (nodelay_checked_ != listen_fd) {
      nodelay_checked_ = listen_fd;
      nodelay_inherited_ = AcceptedNoDelay(listen_fd);
    }
    SetAcceptedNoDelay(fd, nodelay_inherited_);
    return fd;
  }
  const int err = errno;
  if ((err == EMFILE || err == ENFILE) && reserve_.valid()) {
    reserve_.reset();
    // On a blocking listener accept4 would wait if the queued connection
    // vanished meanwhile, and then shed the next, valid client: look first.
    // With every descriptor in use, accept4 fails with EMFILE whether or
    // not a connection is queued; an empty queue is really EAGAIN.
    pollfd p{listen_fd, POLLIN, 0};
    const bool queued = NM_RETRY(poll(&p, 1, 0)) == 1;
    if (queued) {
      int victim = NM_RETRY(accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
      counts_.called(&Stats::Syscalls::accept, victim);
      if (victim >= 0) {
        ::close(victim);
        *shed = true;
      }
    }
    reserve_.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (!queued) return -EAGAIN;
  }
  return -err;
}

}  // namespace nm
