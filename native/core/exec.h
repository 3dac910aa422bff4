// A program per connection, inetd / tcpserver style: the client socket
// becomes the program's stdin and stdout, the server's stderr stays its
// stderr (diagnostics go to the server's log, never to the client: xinetd's
// habit of sending them to the client is the known trap), and the
// environment carries the UCSPI variables tcpserver defines (PROTO,
// TCPREMOTEIP, TCPREMOTEPORT, TCPLOCALIP, TCPLOCALPORT) plus systemd's
// REMOTE_ADDR / REMOTE_PORT.
//
// argv and envp are built once, before any fork(); the per-connection values
// are written by the parent into fixed buffers that envp already points to,
// just before each fork(), so the child only calls dup2() and execve()
// (async-signal-safe) on memory it inherited.
#pragma once

#include <sys/socket.h>

#include <string>
#include <vector>

#include "core/listener.h"

namespace nm {

class ExecPlan {
 public:
  ExecPlan() = default;
  ExecPlan(const ExecPlan&) = delete;
  ExecPlan& operator=(const ExecPlan&) = delete;

  // `path`: the program, already resolved (absolute); `argv`: its argument
  // vector, argv[0] first; `env`: "NAME=value" entries (a UCSPI name among
  // them is replaced); `local`: where the server listens.
  void Init(const std::string& path, const std::vector<std::string>& argv,
            const std::vector<std::string>& env, const Endpoint& local);
  bool enabled() const { return !path_.empty(); }

  // In the parent, before each fork(): the connection's addresses into the
  // variables. 0, or -errno from getsockname (called only when the server
  // listens on a wildcard address, where the local IP varies).
  int SetConnection(int fd, const sockaddr_storage& peer);

  // In the child, after PrepareChild(): every signal at its default (also
  // the ignored ones, as libuv's spawn does: Node ignores SIGPIPE, programs
  // expect it), the client on fds 0 and 1, then execve. Never returns; a
  // failed execve leaves as a shell does: 127 when the file is missing,
  // 126 otherwise.
  [[noreturn]] void Run(int fd) const;

 private:
  // One "NAME=value" variable in a buffer envp points to.
  struct Var {
    char text[80];
  };
  enum { kRemoteIp, kRemotePort, kLocalIp, kLocalPort, kRemoteAddr, kRemotePortSd, kVars };
  void Set(int var, const char* value);

  std::string path_;
  std::vector<std::string> strings_;  // argv then env, owned; never resized after Init
  std::vector<char*> argv_, envp_;
  Var vars_[kVars] = {};
  bool local_wildcard_ = false;
};

}  // namespace nm
