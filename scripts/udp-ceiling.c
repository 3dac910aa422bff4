/*
 * The UDP yardstick: the smallest honest batched UDP server doing the
 * uppercase echo, as the C ceiling is for TCP. The UDP bench compares the
 * udp model's rows with it, so it does only what any such server must:
 *   - one blocking UDP socket: recvmmsg() with MSG_WAITFORONE waits for
 *     one datagram, then takes what else is queued, up to 64, into 64
 *     buffers of 65,507 bytes; toupper in place, one sendmmsg() of the
 *     replies to their senders (MSG_DONTWAIT: a full send buffer drops);
 *   - a datagram larger than a buffer (MSG_TRUNC) is not answered;
 *   - its receive queue is the size the udp model asks for by default
 *     (rcvbuf, 4 MiB unless given): SO_RCVBUF, then SO_RCVBUFFORCE where
 *     permitted, so neither drops where the other would not.
 *
 * Usage: udp-ceiling [port [host [loops [rcvbuf]]]]   (port 0 = the kernel picks one)
 * With loops > 1 it runs that many such loops as processes, each with its
 * own SO_REUSEPORT socket on the port.
 * Prints "PORT <n>" as the first line of stdout once bound.
 * Exits with status 0 on SIGTERM or SIGINT (and stops its loop processes).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define BATCH 64
#define MAX_DATAGRAM 65507

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig) {
  (void)sig;
  stop_requested = 1;
}

static int rcvbuf = 4 * 1024 * 1024;

static int bind_socket(const char *host, int port, int reuse, struct sockaddr_storage *ss, socklen_t *len) {
  memset(ss, 0, sizeof *ss);
  struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
  if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons((unsigned short)port);
    *len = sizeof *v4;
  } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons((unsigned short)port);
    *len = sizeof *v6;
  } else {
    fprintf(stderr, "udp-ceiling: bad host %s\n", host);
    return -1;
  }
  int fd = socket(ss->ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int on = 1;
  if (reuse && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) < 0) return -1;
  if (rcvbuf > 0) {
    int got = 0;
    socklen_t got_len = sizeof got;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf) < 0) return -1;
    /* The kernel keeps twice what it granted. */
    if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &got_len) < 0) return -1;
    if (got / 2 < rcvbuf && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) < 0 && errno != EPERM) return -1;
  }
  if (bind(fd, (struct sockaddr *)ss, *len) < 0) {
    perror("udp-ceiling: bind");
    return -1;
  }
  return fd;
}

static void serve(int fd) {
  static char bufs[BATCH][MAX_DATAGRAM];
  struct sockaddr_storage peers[BATCH];
  struct iovec iov[BATCH], out_iov[BATCH];
  struct mmsghdr in[BATCH], out[BATCH];
  while (!stop_requested) {
    for (int i = 0; i < BATCH; i++) {
      iov[i].iov_base = bufs[i];
      iov[i].iov_len = MAX_DATAGRAM;
      memset(&in[i], 0, sizeof in[i]);
      in[i].msg_hdr.msg_name = &peers[i];
      in[i].msg_hdr.msg_namelen = sizeof peers[i];
      in[i].msg_hdr.msg_iov = &iov[i];
      in[i].msg_hdr.msg_iovlen = 1;
    }
    int n = recvmmsg(fd, in, BATCH, MSG_WAITFORONE, NULL);
    if (n < 0) {
      if (errno == EINTR) continue;
      perror("udp-ceiling: recvmmsg");
      return;
    }
    int queued = 0;
    for (int i = 0; i < n; i++) {
      if (in[i].msg_hdr.msg_flags & MSG_TRUNC) continue;
      unsigned char *p = (unsigned char *)bufs[i];
      for (unsigned j = 0; j < in[i].msg_len; j++) p[j] = (unsigned char)(p[j] - ((unsigned char)(p[j] - 'a') < 26 ? 32 : 0));
      out_iov[queued].iov_base = bufs[i];
      out_iov[queued].iov_len = in[i].msg_len;
      memset(&out[queued], 0, sizeof out[queued]);
      out[queued].msg_hdr.msg_name = &peers[i];
      out[queued].msg_hdr.msg_namelen = in[i].msg_hdr.msg_namelen;
      out[queued].msg_hdr.msg_iov = &out_iov[queued];
      out[queued].msg_hdr.msg_iovlen = 1;
      queued++;
    }
    for (int done = 0; done < queued;) {
      int r = sendmmsg(fd, out + done, (unsigned)(queued - done), MSG_DONTWAIT);
      if (r < 0) {
        if (errno == EINTR) continue;
        done++; /* dropped: UDP may */
      } else {
        done += r;
      }
    }
  }
}

int main(int argc, char **argv) {
  int port = argc > 1 ? atoi(argv[1]) : 0;
  const char *host = argc > 2 ? argv[2] : "127.0.0.1";
  int loops = argc > 3 ? atoi(argv[3]) : 1;
  if (loops < 1) loops = 1;
  if (argc > 4) rcvbuf = atoi(argv[4]);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  /* No SA_RESTART: recvmmsg() must return EINTR so the loop sees the flag. */
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  struct sockaddr_storage ss;
  socklen_t len;
  int fd = bind_socket(host, port, loops > 1, &ss, &len);
  if (fd < 0) return 1;
  getsockname(fd, (struct sockaddr *)&ss, &len);
  port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port : ((struct sockaddr_in6 *)&ss)->sin6_port);
  pid_t children[1024];
  int forked = 0;
  for (int i = 1; i < loops && i < 1024; i++) {
    pid_t pid = fork();
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGTERM);
      int own = bind_socket(host, port, 1, &ss, &len);
      if (own < 0) _exit(1);
      close(fd);
      serve(own);
      _exit(0);
    }
    if (pid > 0) children[forked++] = pid;
  }
  printf("PORT %d\n", port);
  fflush(stdout);
  serve(fd);
  for (int i = 0; i < forked; i++) kill(children[i], SIGTERM);
  for (int i = 0; i < forked; i++) waitpid(children[i], NULL, 0);
  return 0;
}
