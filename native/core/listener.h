// Listening sockets and accepting from them. Every call returns 0 (or an fd)
// or -errno; nothing here throws or touches N-API.
#pragma once

#include <sys/socket.h>

#include <csignal>
#include <cerrno>
#include <string>

#include "core/fd.h"
#include "core/stats.h"

namespace nm {

struct Endpoint {
  std::string address;  // numeric form, as the kernel reports it
  int family = 4;       // 4 or 6
  int port = 0;
};

// A failed call: -errno and the name of the syscall, for the JS error.
struct SysError {
  int err = 0;
  const char* syscall = "";
  // Records `r` (-errno) and the syscall; returns r, for `return error->set(...)`.
  int set(int r, const char* name) {
    err = r;
    syscall = name;
    return r;
  }
  // The call `name` just failed: records -errno; returns it.
  int fail(const char* name) { return set(-errno, name); }
};

// How long a model stops accepting after an accept that could not take the
// connection off the queue (out of descriptors with no reserve, ENOBUFS...).
constexpr int kAcceptPauseMs = 100;

struct ListenOptions {
  std::string host;
  int port = 0;
  int backlog = 511;
  bool nonblocking = true;
  // SO_REUSEPORT: several listeners of one process share the port, one per
  // event loop (the kernel spreads connections over them).
  bool reuse_port = false;
  // On an IPv6 host: IPv6 clients only. Off, '::' is dual-stack, as
  // net.Server listens; set either way, whatever the host's default
  // (net.ipv6.bindv6only).
  bool ipv6_only = false;
};

// socket/bind/listen on an IPv4 or IPv6 literal with SO_REUSEADDR.
// On failure returns -errno and fills *error. Like libuv, which defers bind
// errors to listen(), a bind failure is reported as "listen": the syscall
// Node users see in the same situation.
int ListenTcp(const ListenOptions& options, Fd* out, Endpoint* bound, SysError* error);

// Takes a duplicate of a listening TCP socket someone else opened (a parent
// process, systemd, a composite model sharing one listener between loops):
// checks that it is one, sets O_NONBLOCK as asked on the duplicate's open
// file (shared with `fd`: every user of one listener must agree) and reports
// where it listens. -errno and *error on failure (ENOTSOCK, EINVAL when it is
// not a listening stream socket).
int AdoptListener(int fd, bool nonblocking, Fd* out, Endpoint* bound, SysError* error);

// A close-on-exec duplicate of socket `fd` (the caller checked what it is),
// O_NONBLOCK set or cleared on its open file (shared with `fd`), and where
// it is bound. An address that is not IPv4 or IPv6 fails as `syscall`
// (EAFNOSUPPORT). 0, or -errno and *error.
int DuplicateSocket(int fd, bool nonblocking, const char* syscall, Fd* out, Endpoint* bound,
                    SysError* error);
// Where socket `fd` is bound (getsockname), for IPv4 and IPv6 only; as above.
int BoundEndpoint(int fd, const char* syscall, Endpoint* bound, SysError* error);

// TCP_INQ on a listener: sockets accepted from it inherit it, and every
// recvmsg() on them that asks for it reports in a TCP_CM_INQ control
// message how many bytes are still queued (non-zero while a FIN is unread).
// It lets an edge-triggered loop know the queue is empty without the recv()
// that would only say EAGAIN. 0 or -errno (no such option: readers fall
// back to the short-read rule, see Connection::OnReadable).
int ReportQueuedBytes(int listen_fd);

// Whether sockets accepted from `listen_fd` come with TCP_NODELAY: Linux
// copies it from the listener to each socket accepted from it. ListenTcp
// sets it, so accepting costs no setsockopt per connection; an adopted
// listener is left as its owner set it, and its sockets get it one by one.
bool AcceptedNoDelay(int listen_fd);
// Sets TCP_NODELAY on accepted socket `fd` unless its listener passed it
// on (`inherited`, from AcceptedNoDelay). Failure is harmless (the socket
// still works), so it is not reported.
void SetAcceptedNoDelay(int fd, bool inherited);

// Accepts with accept4 (CLOEXEC, optionally NONBLOCK, TCP_NODELAY set).
//
// EMFILE/ENFILE would leave the connection in the backlog and keep the
// listener readable, so an event loop would spin on it. Like libuv and muduo,
// the acceptor keeps one spare descriptor: on EMFILE it closes the spare,
// accepts the pending connection, closes it at once (the client sees a reset
// rather than a hang) and reopens the spare.
class Acceptor {
 public:
  // Opens the reserve fd; 0 or -errno. Every accept4 this acceptor makes is
  // counted into `stats` (syscalls.accept, .eagain) and `part` if not null.
  int open(Stats* stats, Stats* part = nullptr);

  // Returns the new fd, or -errno: -EAGAIN when nothing is pending (even when
  // out of descriptors),
  // -EINVAL when the listener was shut down (stop()), -EMFILE/-ENFILE when
  // out of descriptors, other -errno otherwise. *shed is true when the
  // pending connection was nevertheless taken off the queue and closed; when
  // it is false after an error, the connection is still queued and the
  // caller must not retry at once (it would spin). With `peer`, the new
  // connection's remote address is stored there by accept4 itself: no
  // getpeername() per connection. An interrupted accept4 is retried, unless
  // `quit` (set by a signal handler) is set: then -EINTR.
  int accept(int listen_fd, bool nonblocking, bool* shed, sockaddr_storage* peer = nullptr,
             const volatile sig_atomic_t* quit = nullptr);

 private:
  Fd reserve_;
  Counts counts_{nullptr, nullptr};
  int nodelay_checked_ = -1;  // the listener AcceptedNoDelay() was asked about
  bool nodelay_inherited_ = false;
};

}  // namespace nm
