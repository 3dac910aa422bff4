#include "sys/syscalls.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/eventfd.h>
#include <sys/select.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "core/sockaddr.h"

namespace nm {
namespace sys {

namespace {

// What remains of a timeout across EINTR restarts. Linux's select() updates
// its timeval, but poll() and epoll_wait() do not, and a signal storm must not
// stretch a 100 ms wait into forever.
class Deadline {
 public:
  explicit Deadline(int timeout_ms)
      : infinite_(timeout_ms < 0),
        end_(std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms < 0 ? 0 : timeout_ms)) {}

  int RemainingMs() const {
    if (infinite_) return -1;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end_ - std::chrono::steady_clock::now());
    return left.count() > 0 ? static_cast<int>(left.count()) : 0;
  }

 private:
  bool infinite_;
  std::chrono::steady_clock::time_point end_;
};

struct SockOpt {
  const char* name;
  int level;
  int optname;
  bool settable;
};

constexpr SockOpt kSockOpts[] = {
    {"SO_REUSEADDR", SOL_SOCKET, SO_REUSEADDR, true},
    {"SO_REUSEPORT", SOL_SOCKET, SO_REUSEPORT, true},
    {"SO_RCVBUF", SOL_SOCKET, SO_RCVBUF, true},
    {"SO_SNDBUF", SOL_SOCKET, SO_SNDBUF, true},
    {"TCP_NODELAY", IPPROTO_TCP, TCP_NODELAY, true},
    {"SO_ERROR", SOL_SOCKET, SO_ERROR, false},
    {"SO_ACCEPTCONN", SOL_SOCKET, SO_ACCEPTCONN, false},
    {"SO_TYPE", SOL_SOCKET, SO_TYPE, false},
};

const SockOpt* FindSockOpt(const std::string& name) {
  for (const SockOpt& opt : kSockOpts) {
    if (name == opt.name) return &opt;
  }
  return nullptr;
}

void FormatAddress(const sockaddr_storage& ss, PeerAddress* out) {
  FormatIp(reinterpret_cast<const sockaddr*>(&ss), &out->address, &out->port, &out->family);
}

}  // namespace

int Socket(int family, int type, bool nonblocking) {
  int flags = SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0);
  int fd = socket(family, type | flags, 0);
  return fd >= 0 ? fd : -errno;
}

int Bind(int fd, const std::string& host, int port) {
  sockaddr_storage ss;
  socklen_t len;
  int r = ParseIp(host, port, &ss, &len);
  if (r < 0) return r;
  return bind(fd, reinterpret_cast<sockaddr*>(&ss), len) == 0 ? 0 : -errno;
}

int Listen(int fd, int backlog) { return listen(fd, backlog) == 0 ? 0 : -errno; }

int Accept(int fd, bool nonblocking, PeerAddress* peer) {
  int flags = SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0);
  for (;;) {
    sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    int cfd = accept4(fd, reinterpret_cast<sockaddr*>(&ss), &len, flags);
    if (cfd >= 0) {
      FormatAddress(ss, peer);
      return cfd;
    }
    if (errno == EINTR) continue;
    // EWOULDBLOCK is EAGAIN on Linux; normalise in case a libc says otherwise.
    return errno == EWOULDBLOCK ? -EAGAIN : -errno;
  }
}

int Connect(int fd, const std::string& host, int port) {
  sockaddr_storage ss;
  socklen_t len;
  int r = ParseIp(host, port, &ss, &len);
  if (r < 0) return r;
  if (connect(fd, reinterpret_cast<sockaddr*>(&ss), len) == 0) return 0;
  if (errno == EINPROGRESS) return 1;
  if (errno != EINTR) return -errno;
  // An interrupted connect() keeps going in the kernel; calling it again
  // would fail with EALREADY. Wait for the outcome and read it from SO_ERROR.
  pollfd p{fd, POLLOUT, 0};
  while (poll(&p, 1, -1) < 0) {
    if (errno != EINTR) return -errno;
  }
  int soerr = 0;
  r = GetSockOpt(fd, "SO_ERROR", &soerr);
  if (r < 0) return r;
  return soerr == 0 ? 0 : -soerr;
}

int GetSockName(int fd, bool peer, PeerAddress* out) {
  sockaddr_storage ss;
  std::memset(&ss, 0, sizeof(ss));
  socklen_t len = sizeof(ss);
  int r = peer ? getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len)
               : getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  if (r < 0) return -errno;
  FormatAddress(ss, out);
  return 0;
}

ssize_t Recv(int fd, void* buf, size_t len) {
  for (;;) {
    ssize_t n = recv(fd, buf, len, 0);
    if (n >= 0) return n;
    if (errno != EINTR) return errno == EWOULDBLOCK ? -EAGAIN : -errno;
  }
}

ssize_t Send(int fd, const void* buf, size_t len) {
  for (;;) {
    // MSG_NOSIGNAL: a closed peer gives EPIPE here instead of a SIGPIPE that
    // would kill the whole Node process.
    ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
    if (n >= 0) return n;
    if (errno != EINTR) return errno == EWOULDBLOCK ? -EAGAIN : -errno;
  }
}

ssize_t Read(int fd, void* buf, size_t len) {
  for (;;) {
    ssize_t n = read(fd, buf, len);
    if (n >= 0) return n;
    if (errno != EINTR) return errno == EWOULDBLOCK ? -EAGAIN : -errno;
  }
}

ssize_t Write(int fd, const void* buf, size_t len) {
  for (;;) {
    // Node ignores SIGPIPE for the whole process, so a pipe with no reader
    // gives EPIPE here rather than a signal.
    ssize_t n = write(fd, buf, len);
    if (n >= 0) return n;
    if (errno != EINTR) return errno == EWOULDBLOCK ? -EAGAIN : -errno;
  }
}

int Shutdown(int fd, int how) { return shutdown(fd, how) == 0 ? 0 : -errno; }

int Close(int fd) {
  if (close(fd) == 0) return 0;
  // On Linux the fd is released even when close() reports EINTR. Retrying
  // could close an fd that another thread has just been given.
  return errno == EINTR ? 0 : -errno;
}

int SetNonBlocking(int fd, bool on) {
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0) return -errno;
  int wanted = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
  if (wanted == flags) return 0;
  return fcntl(fd, F_SETFL, wanted) == 0 ? 0 : -errno;
}

int SocketPair(bool nonblocking, int fds[2]) {
  int type = SOCK_STREAM | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0);
  return socketpair(AF_UNIX, type, 0, fds) == 0 ? 0 : -errno;
}

int Pipe(bool nonblocking, int fds[2]) {
  return pipe2(fds, O_CLOEXEC | (nonblocking ? O_NONBLOCK : 0)) == 0 ? 0 : -errno;
}

int SetSockOpt(int fd, const std::string& name, int value) {
  const SockOpt* opt = FindSockOpt(name);
  if (opt == nullptr || !opt->settable) return -ENOPROTOOPT;
  return setsockopt(fd, opt->level, opt->optname, &value, sizeof(value)) == 0 ? 0 : -errno;
}

int GetSockOpt(int fd, const std::string& name, int* value) {
  const SockOpt* opt = FindSockOpt(name);
  if (opt == nullptr) return -ENOPROTOOPT;
  socklen_t len = sizeof(*value);
  *value = 0;
  return getsockopt(fd, opt->level, opt->optname, value, &len) == 0 ? 0 : -errno;
}

int Select(std::vector<int>* readfds, std::vector<int>* writefds,
           std::vector<int>* exceptfds, int timeout_ms, int cancel_fd) {
  std::vector<int>* sets[3] = {readfds, writefds, exceptfds};
  int maxfd = cancel_fd;
  for (std::vector<int>* set : sets) {
    for (int fd : *set) {
      if (fd < 0 || fd >= FD_SETSIZE) return -ERANGE;
      if (fd > maxfd) maxfd = fd;
    }
  }
  if (cancel_fd >= FD_SETSIZE) return -ERANGE;
  // Linux clamps nfds to the size of the process's fd table and silently
  // ignores the bits above it, leaving them as the caller set them: a closed
  // fd above the table would come back "ready" instead of failing with EBADF.
  // So check that every fd is open first, as select() does for the others.
  for (std::vector<int>* set : sets) {
    for (int fd : *set) {
      if (fcntl(fd, F_GETFD) < 0) return -errno;
    }
  }

  Deadline deadline(timeout_ms);
  fd_set fdsets[3];
  for (;;) {
    // select() leaves the sets undefined on error, so rebuild them each time.
    for (int i = 0; i < 3; i++) {
      FD_ZERO(&fdsets[i]);
      for (int fd : *sets[i]) FD_SET(fd, &fdsets[i]);
    }
    if (cancel_fd >= 0) FD_SET(cancel_fd, &fdsets[0]);
    int remaining = deadline.RemainingMs();
    timeval tv{remaining / 1000, (remaining % 1000) * 1000};
    int r = select(maxfd + 1, &fdsets[0], &fdsets[1], &fdsets[2], remaining < 0 ? nullptr : &tv);
    if (r < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    if (cancel_fd >= 0 && FD_ISSET(cancel_fd, &fdsets[0])) return kCancelled;
    int ready = 0;
    for (int i = 0; i < 3; i++) {
      std::vector<int> out;
      for (int fd : *sets[i]) {
        // A fd listed twice is reported once, as the kernel sees one bit.
        if (FD_ISSET(fd, &fdsets[i])) {
          out.push_back(fd);
          FD_CLR(fd, &fdsets[i]);
        }
      }
      ready += static_cast<int>(out.size());
      sets[i]->swap(out);
    }
    return ready;
  }
}

int Poll(std::vector<pollfd>* fds, int timeout_ms, int cancel_fd) {
  const size_t n = fds->size();
  if (cancel_fd >= 0) fds->push_back(pollfd{cancel_fd, POLLIN, 0});
  Deadline deadline(timeout_ms);
  int r;
  for (;;) {
    r = poll(fds->data(), fds->size(), deadline.RemainingMs());
    if (r >= 0) break;
    if (errno != EINTR) {
      r = -errno;
      break;
    }
  }
  if (cancel_fd >= 0) {
    bool cancelled = fds->back().revents != 0;
    fds->pop_back();
    if (r > 0 && cancelled) return kCancelled;
  }
  if (r < 0) return r;
  int ready = 0;
  for (size_t i = 0; i < n; i++) {
    if ((*fds)[i].revents != 0) ready++;
  }
  return ready;
}

int EpollWait(int epfd, epoll_event* events, int max_events, int timeout_ms, int cancel_fd) {
  Deadline deadline(timeout_ms);
  if (cancel_fd < 0) {
    for (;;) {
      int r = epoll_wait(epfd, events, max_events, deadline.RemainingMs());
      if (r >= 0) return r;
      if (errno != EINTR) return -errno;
    }
  }
  // An epoll fd is itself pollable: readable while its ready list is not
  // empty. Polling it does not consume edge-triggered or one-shot events.
  for (;;) {
    int remaining = deadline.RemainingMs();
    pollfd p[2] = {{epfd, POLLIN, 0}, {cancel_fd, POLLIN, 0}};
    int r = poll(p, 2, remaining);
    if (r < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    if (p[1].revents != 0) return kCancelled;
    if (p[0].revents & POLLNVAL) return -EBADF;
    if (r == 0) return 0;  // timed out
    r = epoll_wait(epfd, events, max_events, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    // Another waiter may have taken the events between poll and epoll_wait,
    // or the fd stopped being ready; wait again for what remains (the next
    // poll also sees a cancel that raced with this).
    if (r > 0 || remaining == 0) return r;
  }
}

}  // namespace sys
}  // namespace nm
