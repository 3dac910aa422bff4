#include "core/exec.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "core/sockaddr.h"

namespace nm {

namespace {

constexpr const char* kNames[] = {"TCPREMOTEIP", "TCPREMOTEPORT", "TCPLOCALIP",
                                  "TCPLOCALPORT", "REMOTE_ADDR", "REMOTE_PORT"};
constexpr const char kProto[] = "PROTO=TCP";
// Set by tcpserver only when it looked them up (-h, -r, -l); it unsets them
// otherwise, and so does this server, which never looks them up: a value
// from `env` or from a parent run under tcpserver would let every client
// pass for a host a script trusts.
constexpr const char* kUnset[] = {"TCPREMOTEHOST", "TCPREMOTEINFO", "TCPLOCALHOST"};

bool IsOurs(const std::string& entry) {
  const size_t eq = entry.find('=');
  const std::string name = entry.substr(0, eq);
  if (name == "PROTO") return true;
  for (const char* ours : kNames) {
    if (name == ours) return true;
  }
  for (const char* unset : kUnset) {
    if (name == unset) return true;
  }
  return false;
}

}  // namespace

void ExecPlan::Init(const std::string& path, const std::vector<std::string>& argv,
                    const std::vector<std::string>& env, const Endpoint& local) {
  path_ = path;
  strings_ = argv;
  for (const std::string& entry : env) {
    if (!IsOurs(entry)) strings_.push_back(entry);
  }
  for (size_t i = 0; i < strings_.size(); i++) {
    (i < argv.size() ? argv_ : envp_).push_back(&strings_[i][0]);
  }
  argv_.push_back(nullptr);
  envp_.insert(envp_.begin(), const_cast<char*>(kProto));
  for (Var& v : vars_) envp_.insert(envp_.begin() + 1, v.text);
  envp_.push_back(nullptr);
  local_wildcard_ = local.address == "0.0.0.0" || local.address == "::";
  Set(kLocalIp, local.address.c_str());
  Set(kLocalPort, std::to_string(local.port).c_str());
}

void ExecPlan::Set(int var, const char* value) {
  snprintf(vars_[var].text, sizeof vars_[var].text, "%s=%s", kNames[var], value);
}

int ExecPlan::SetConnection(int fd, const sockaddr_storage& peer) {
  std::string ip;
  int port = 0, family = 0;
  FormatIp(reinterpret_cast<const sockaddr*>(&peer), &ip, &port, &family);
  const std::string port_text = std::to_string(port);
  Set(kRemoteIp, ip.c_str());
  Set(kRemotePort, port_text.c_str());
  Set(kRemoteAddr, ip.c_str());
  Set(kRemotePortSd, port_text.c_str());
  if (!local_wildcard_) return 0;
  sockaddr_storage local{};
  socklen_t len = sizeof local;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) < 0) return -errno;
  FormatIp(reinterpret_cast<const sockaddr*>(&local), &ip, &port, &family);
  Set(kLocalIp, ip.c_str());
  return 0;
}

void ExecPlan::Run(int fd) const {
  for (int sig = 1; sig < NSIG; ++sig) {
    struct sigaction current;
    if (sig == SIGKILL || sig == SIGSTOP || sigaction(sig, nullptr, &current) < 0) continue;
    if (!(current.sa_flags & SA_SIGINFO) && current.sa_handler == SIG_IGN) {
      struct sigaction dfl = {};
      dfl.sa_handler = SIG_DFL;
      sigaction(sig, &dfl, nullptr);
    }
  }
  // dup2 leaves the copies without FD_CLOEXEC; the accepted fd keeps it.
  if ((fd != 0 && dup2(fd, 0) < 0) || (fd != 1 && dup2(fd, 1) < 0)) _exit(126);
  if (fd == 2) {
    // Only if the server had no stderr: the client must not get one.
    const int null = open("/dev/null", O_WRONLY);
    if (null < 0 || dup2(null, 2) < 0) _exit(126);
    close(null);
  } else {
    // Node marks its stdio close-on-exec: without this the program would
    // start with no stderr at all. The flag is per descriptor table, so the
    // server's own fd 2 keeps it.
    const int flags = fcntl(2, F_GETFD);
    if (flags >= 0 && (flags & FD_CLOEXEC)) fcntl(2, F_SETFD, flags & ~FD_CLOEXEC);
  }
  execve(path_.c_str(), argv_.data(), envp_.data());
  _exit(errno == ENOENT || errno == ENOTDIR ? 127 : 126);
}

}  // namespace nm
