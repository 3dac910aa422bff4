/*
 * The "C ceiling": the smallest honest single-threaded epoll server doing the
 * uppercase echo. The benchmark compares every model against it, so it does
 * only what any correct server must do and nothing more:
 *   - non-blocking sockets, level-triggered epoll, TCP_NODELAY;
 *   - one recv() per readiness into one shared 64 KiB buffer, toupper in
 *     place, send();
 *   - a partial send keeps the rest in a per-connection buffer, and that
 *     connection is not read again until the buffer drains (so large messages
 *     stay correct and memory stays bounded by one read per connection).
 *
 * Usage: ceiling [port [host [loops]]]   (port 0 = the kernel picks one)
 * With loops > 1 it runs that many such loops as processes, each with its own
 * SO_REUSEPORT listener on the port (nginx's workers with `reuseport`), so a
 * multi-loop model is compared with as many plain C loops.
 * Prints "PORT <n>" as the first line of stdout once listening.
 * Exits with status 0 on SIGTERM or SIGINT (and stops its loop processes).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF_SIZE 65536
#define MAX_EVENTS 256

struct conn {
  char *pending; /* unsent tail of the last reply, NULL when empty */
  size_t pending_len;
  size_t pending_off;
};

static volatile sig_atomic_t stop_requested;
static struct conn *conns; /* indexed by fd */
static size_t conns_cap;

static void on_signal(int sig) {
  (void)sig;
  stop_requested = 1;
}

static void die(const char *what) {
  fprintf(stderr, "ceiling: %s: %s\n", what, strerror(errno));
  exit(1);
}

static struct conn *conn_for(int fd) {
  if ((size_t)fd >= conns_cap) {
    size_t cap = conns_cap ? conns_cap : 1024;
    while (cap <= (size_t)fd) cap *= 2;
    struct conn *grown = realloc(conns, cap * sizeof *conns);
    if (!grown) die("realloc");
    memset(grown + conns_cap, 0, (cap - conns_cap) * sizeof *conns);
    conns = grown;
    conns_cap = cap;
  }
  return &conns[fd];
}

static void close_conn(int fd) {
  struct conn *c = conn_for(fd);
  free(c->pending);
  memset(c, 0, sizeof *c);
  /* close() removes the fd from the epoll set: it is the only reference. */
  close(fd);
}

static int set_interest(int ep, int fd, uint32_t events) {
  struct epoll_event ev = {.events = events, .data.fd = fd};
  return epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
}

/* Sends buf[0..len) as far as the socket takes it. Returns the number of bytes
 * sent, or -1 when the connection is dead. */
static ssize_t send_some(int fd, const char *buf, size_t len) {
  size_t off = 0;
  while (off < len) {
    ssize_t n = send(fd, buf + off, len - off, MSG_NOSIGNAL);
    if (n > 0) {
      off += (size_t)n;
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      break;
    } else {
      return -1;
    }
  }
  return (ssize_t)off;
}

static void on_readable(int ep, int fd, char *buf) {
  ssize_t n;
  do n = recv(fd, buf, BUF_SIZE, 0);
  while (n < 0 && errno == EINTR);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
    close_conn(fd);
    return;
  }
  if (n < 0) return;
  for (ssize_t i = 0; i < n; i++) {
    /* ASCII-only toupper: the same bytes every model produces, without the
     * locale lookup of toupper(3). Written as an unconditional store, like
     * the addon's, so the compiler vectorises it: a ceiling must not be
     * slower than the servers it bounds. */
    unsigned char ch = (unsigned char)buf[i];
    buf[i] = (char)(ch - ((unsigned char)(ch - 'a') < 26 ? 32 : 0));
  }
  ssize_t sent = send_some(fd, buf, (size_t)n);
  if (sent < 0) {
    close_conn(fd);
    return;
  }
  if (sent < n) {
    /* Keep the tail and stop reading this client until it drains: the
     * level-triggered loop would otherwise read again into the same buffer. */
    struct conn *c = conn_for(fd);
    c->pending_len = (size_t)(n - sent);
    c->pending_off = 0;
    c->pending = malloc(c->pending_len);
    if (!c->pending) die("malloc");
    memcpy(c->pending, buf + sent, c->pending_len);
    if (set_interest(ep, fd, EPOLLOUT) < 0) close_conn(fd);
  }
}

static void on_writable(int ep, int fd) {
  struct conn *c = conn_for(fd);
  ssize_t sent = send_some(fd, c->pending + c->pending_off, c->pending_len - c->pending_off);
  if (sent < 0) {
    close_conn(fd);
    return;
  }
  c->pending_off += (size_t)sent;
  if (c->pending_off == c->pending_len) {
    free(c->pending);
    c->pending = NULL;
    c->pending_len = c->pending_off = 0;
    if (set_interest(ep, fd, EPOLLIN) < 0) close_conn(fd);
  }
}

static void on_acceptable(int ep, int lfd) {
  /* Bounded so a connection storm cannot starve established clients. */
  for (int i = 0; i < 64; i++) {
    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      /* EAGAIN: drained. EMFILE and friends: the level-triggered listener
       * reports again; this server is a yardstick, not a fortress. */
      return;
    }
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0) {
      close(fd);
      continue;
    }
    conn_for(fd);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) close(fd);
  }
}

static int open_listener(struct sockaddr_storage *ss, socklen_t sslen, int reuseport) {
  int lfd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (lfd < 0) die("socket");
  int one = 1;
  if (setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0) die("setsockopt");
  if (reuseport && setsockopt(lfd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) die("setsockopt");
  if (bind(lfd, (struct sockaddr *)ss, sslen) < 0) die("bind");
  if (listen(lfd, 4096) < 0) die("listen");
  return lfd;
}

static void serve(int lfd) {
  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) die("epoll_create1");
  struct epoll_event lev = {.events = EPOLLIN, .data.fd = lfd};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev) < 0) die("epoll_ctl");
  static char buf[BUF_SIZE];
  struct epoll_event events[MAX_EVENTS];
  while (!stop_requested) {
    int n = epoll_wait(ep, events, MAX_EVENTS, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait");
    }
    for (int i = 0; i < n; i++) {
      int fd = events[i].data.fd;
      uint32_t ev = events[i].events;
      if (fd == lfd) {
        on_acceptable(ep, lfd);
      } else if (ev & EPOLLOUT) {
        on_writable(ep, fd);
      } else if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
        on_readable(ep, fd, buf);
      }
    }
  }
}

int main(int argc, char **argv) {
  int port = argc > 1 ? atoi(argv[1]) : 0;
  const char *host = argc > 2 ? argv[2] : "127.0.0.1";
  int loops = argc > 3 ? atoi(argv[3]) : 1;
  if (loops < 1) loops = 1;

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  /* No SA_RESTART: epoll_wait must return EINTR so the loop sees the flag. */
  if (sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0) die("sigaction");
  signal(SIGPIPE, SIG_IGN);

  struct sockaddr_storage ss;
  socklen_t sslen;
  memset(&ss, 0, sizeof ss);
  struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
  struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
  if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
    in4->sin_family = AF_INET;
    in4->sin_port = htons((uint16_t)port);
    sslen = sizeof *in4;
  } else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons((uint16_t)port);
    sslen = sizeof *in6;
  } else {
    fprintf(stderr, "ceiling: not an IP literal: %s\n", host);
    return 2;
  }

  int lfd = open_listener(&ss, sslen, loops > 1);
  if (getsockname(lfd, (struct sockaddr *)&ss, &sslen) < 0) die("getsockname");
  int bound = ntohs(ss.ss_family == AF_INET ? in4->sin_port : in6->sin6_port);

  pid_t children[1024];
  int nchildren = 0;
  for (int i = 1; i < loops && i < 1024; i++) {
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
      if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0) die("prctl");
      close(lfd);
      serve(open_listener(&ss, sslen, 1));
      _exit(0);
    }
    children[nchildren++] = pid;
  }

  printf("PORT %d\n", bound);
  fflush(stdout);
  serve(lfd);
  for (int i = 0; i < nchildren; i++) kill(children[i], SIGTERM);
  for (int i = 0; i < nchildren; i++) waitpid(children[i], NULL, 0);
  return 0;
}
