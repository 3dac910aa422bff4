#include "models/model.h"

#include <sys/socket.h>

#include "core/sockaddr.h"

#include <map>

namespace nm {

namespace {

std::map<std::string, ModelFactory>& Registry() {
  static std::map<std::string, ModelFactory> registry;
  return registry;
}

}  // namespace

ModelRegistrar::ModelRegistrar(const char* name, ModelFactory factory) {
  Registry()[name] = factory;
}

std::unique_ptr<Model> CreateModel(const std::string& name, const ModelOptions& options) {
  auto it = Registry().find(name);
  if (it == Registry().end()) return nullptr;
  if (options.Number("loops") > 1) return CreateLoops(name, options);
  return it->second(options);
}

bool HasModel(const std::string& name) { return Registry().count(name) != 0; }

std::vector<std::string> ModelNames() {
  std::vector<std::string> names;
  for (const auto& entry : Registry()) names.push_back(entry.first);
  return names;
}

WorkerStats SnapshotWorker(const Stats& s) {
  const StatsSnapshot n = s.snapshot();
  WorkerStats w;
  w.accepted = n.accepted;
  w.active = n.active;
  w.bytes_in = n.bytes_in;
  w.bytes_out = n.bytes_out;
  w.wakeups = n.wakeups;
  w.served = n.closed;
  w.syscalls = n.syscalls;
  return w;
}

void Model::Drop(int fd) {
  if (WantsEvents()) {
    sockaddr_storage local{}, peer{};
    socklen_t len = sizeof local;
    // A peer already gone (ENOTCONN) leaves its fields empty, as net.Server's.
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) < 0) local.ss_family = AF_UNSPEC;
    len = sizeof peer;
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) < 0) peer.ss_family = AF_UNSPEC;
    Emit(DropEvent(reinterpret_cast<sockaddr*>(&local), reinterpret_cast<sockaddr*>(&peer)));
  }
  Reject(fd);
}

ModelEvent Model::DropEvent(const sockaddr* local, const sockaddr* remote) {
  std::string local_ip, remote_ip;
  int local_port = 0, remote_port = 0, family = 0;
  if (local->sa_family != AF_UNSPEC) FormatIp(local, &local_ip, &local_port, &family);
  if (remote->sa_family != AF_UNSPEC) FormatIp(remote, &remote_ip, &remote_port, &family);
  ModelEvent event("drop");
  event.String("localAddress", local_ip).Number("localPort", local_port);
  event.String("remoteAddress", remote_ip).Number("remotePort", remote_port);
  event.String("remoteFamily", family == 6 ? "IPv6" : "IPv4");
  return event;
}

int Model::Open(SysError* error) {
  if (opt_.no_listener) return Prepare(error);
  if (opt_.listen_fd >= 0) {
    int r = AdoptListener(opt_.listen_fd, NonBlockingListener(), &listener_, &endpoint_, error);
    return r < 0 ? r : Prepare(error);
  }
  ListenOptions listen;
  listen.host = opt_.host;
  listen.port = opt_.port;
  listen.backlog = opt_.backlog;
  listen.nonblocking = NonBlockingListener();
  listen.reuse_port = opt_.reuse_port;
  listen.ipv6_only = opt_.Number("ipv6Only") != 0;
  int r = ListenTcp(listen, &listener_, &endpoint_, error);
  if (r < 0) return r;
  return Prepare(error);
}

}  // namespace nm
