// Raw syscalls for sys: plain C++, no N-API. Every function returns a
// non-negative result or -errno (the libuv convention); EINTR is retried here,
// at the call site, so callers never see it.
#pragma once

#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace nm {
namespace sys {

// Returned by the cancellable waits when their cancel fd became readable
// before any readiness was consumed. Not an errno value.
constexpr int kCancelled = -0x40000000;

// family is AF_INET or AF_INET6; type SOCK_STREAM or SOCK_DGRAM. The fd is
// always close-on-exec so that child_process children never inherit it.
int Socket(int family, int type, bool nonblocking);
int Bind(int fd, const std::string& host, int port);
int Listen(int fd, int backlog);

struct PeerAddress {
  std::string address;
  int port = 0;
  int family = 0;  // 4, 6, or 0 for a non-IP socket (AF_UNIX)
};

// Returns the new fd, -EAGAIN on a non-blocking fd with nothing to accept.
int Accept(int fd, bool nonblocking, PeerAddress* peer);
// Returns 0 once connected, 1 when a non-blocking connect is in progress.
int Connect(int fd, const std::string& host, int port);
int GetSockName(int fd, bool peer, PeerAddress* out);

ssize_t Recv(int fd, void* buf, size_t len);
ssize_t Send(int fd, const void* buf, size_t len);  // MSG_NOSIGNAL
ssize_t Read(int fd, void* buf, size_t len);
ssize_t Write(int fd, const void* buf, size_t len);
int Shutdown(int fd, int how);
int Close(int fd);
int SetNonBlocking(int fd, bool on);
int SocketPair(bool nonblocking, int fds[2]);
int Pipe(bool nonblocking, int fds[2]);

// Options are named as in C ("SO_REUSEADDR"); -ENOPROTOOPT for an unknown name.
int SetSockOpt(int fd, const std::string& name, int value);
int GetSockOpt(int fd, const std::string& name, int* value);


// The waits. timeout_ms < 0 waits forever. cancel_fd < 0 means not
// cancellable. An interrupted wait resumes with the time that remains.

// Each vector holds the fds of interest on entry and the ready ones on return.
// Every fd (and cancel_fd) must be in [0, FD_SETSIZE): -ERANGE otherwise,
// checked before any FD_SET. Returns the number of ready fds.
int Select(std::vector<int>* readfds, std::vector<int>* writefds,
           std::vector<int>* exceptfds, int timeout_ms, int cancel_fd);

// Fills revents in place; returns the number of entries with revents != 0.
int Poll(std::vector<pollfd>* fds, int timeout_ms, int cancel_fd);

// With cancel_fd >= 0 this polls {epfd, cancel_fd} first and only then calls
// epoll_wait(epfd, 0), so a cancelled wait never consumes an event (an
// edge-triggered or one-shot notification is not lost).
int EpollWait(int epfd, epoll_event* events, int max_events, int timeout_ms, int cancel_fd);

}  // namespace sys
}  // namespace nm
