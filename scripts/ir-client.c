/*
 * The fixed-count client of scripts/ir-per-request.js: C connections, each
 * round sends SIZE bytes on every one of them and then reads every reply in
 * full (so the server sees up to C requests per wakeup), checking that the
 * reply is the uppercase echo. After WARM rounds it prints "W" and waits
 * for a line on stdin, after the measured rounds "M" and waits again, so
 * the caller can zero and dump the server's counters around exactly
 * C x ROUNDS requests, with connecting and closing outside the window.
 *
 * Usage: ir-client port connections rounds size warm
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

static void die(const char *what) {
  perror(what);
  exit(1);
}

static void handshake(const char *say) {
  char ch;
  printf("%s\n", say);
  fflush(stdout);
  if (read(0, &ch, 1) != 1) die("stdin");
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: ir-client port connections rounds size warm\n");
    return 2;
  }
  int port = atoi(argv[1]), conns = atoi(argv[2]), rounds = atoi(argv[3]), size = atoi(argv[4]);
  int warm = atoi(argv[5]);
  int *fds = calloc((size_t)conns, sizeof *fds);
  char *msg = malloc((size_t)size), *buf = malloc((size_t)size);
  if (!fds || !msg || !buf) die("malloc");
  for (int i = 0; i < size; i++) msg[i] = (char)('a' + i % 26);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (int i = 0; i < conns; i++) {
    int one = 1;
    if ((fds[i] = socket(AF_INET, SOCK_STREAM, 0)) < 0) die("socket");
    if (setsockopt(fds[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0) die("setsockopt");
    if (connect(fds[i], (struct sockaddr *)&a, sizeof a) < 0) die("connect");
  }
  for (int r = 0; r < warm + rounds; r++) {
    if (r == warm) handshake("W");
    for (int i = 0; i < conns; i++) {
      if (send(fds[i], msg, (size_t)size, 0) != size) die("send");
    }
    for (int i = 0; i < conns; i++) {
      for (int got = 0; got < size;) {
        ssize_t n = recv(fds[i], buf + got, (size_t)(size - got), 0);
        if (n <= 0) die("recv");
        got += (int)n;
      }
      if (buf[0] != 'A' || buf[size - 1] != msg[size - 1] - 32) {
        fprintf(stderr, "ir-client: not the uppercase echo\n");
        return 1;
      }
    }
  }
  handshake("M");
  for (int i = 0; i < conns; i++) close(fds[i]);
  return 0;
}
