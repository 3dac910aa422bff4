// The one interface every concurrency model implements.
//
// Lifecycle, driven by server_wrap.cc:
//   Open()  on the JS thread: listening socket plus the model's own setup, so
//           every setup failure (EADDRINUSE, epoll_create...) rejects start();
//   Run()   on the model's own thread, until Stop(); when it returns every
//           client connection, thread and child is gone;
//   Stop()  from any thread, any number of times: makes Run() return promptly;
//   ~Model  closes the listener and whatever Open() created.
// Nothing here throws or touches N-API: failures are -errno.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/fd.h"
#include "core/handler.h"
#include "core/listener.h"
#include "core/stats.h"

namespace nm {

struct ModelOptions {
  std::string host = "127.0.0.1";
  int port = 0;
  int backlog = 511;
  HandlerKind handler = HandlerKind::kUppercase;
  uint64_t max_connections = 0;  // 0: no limit
  uint32_t idle_timeout_ms = 0;  // 0: off
  size_t high_water = 1 << 20;
  // Model-specific; each model reads only its own.
  bool edge_triggered = false;    // epoll
  size_t stack_size = 256 << 10;  // thread
  uint32_t max_children = 256;    // fork
  bool reap_with_sigchld = false; // fork
};

// Size of the buffer each loop or serving thread reads into.
constexpr size_t kReadBufferSize = 64 << 10;

class Model {
 public:
  explicit Model(const ModelOptions& options) : opt_(options), stats_(&own_stats_) {}
  virtual ~Model() = default;
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  int Open(SysError* error);
  virtual void Run() = 0;
  virtual void Stop() = 0;

  Stats& stats() { return *stats_; }
  const Endpoint& endpoint() const { return endpoint_; }

  // Set by the binding before Run(): reports a failure the loop met after
  // start (it may have survived it, or ended because of it).
  std::function<void(int err, const char* syscall)> on_error;

 protected:
  // Blocking models accept on a blocking listener.
  virtual bool NonBlockingListener() const { return true; }
  // The model's own setup after the listener exists; 0 or -errno.
  virtual int Prepare(SysError* error) = 0;

  bool AtCapacity() const {
    return opt_.max_connections != 0 &&
           stats_->active.load(std::memory_order_relaxed) >= opt_.max_connections;
  }
  // Closes a connection accepted but not served. Counted first, so a client
  // that sees the close also sees it in stats().
  void Refuse(int fd) {
    stats_->refused();
    ::close(fd);
  }
  void ReportError(int err, const char* syscall) {
    Stats::add(stats_->errors, 1);
    if (on_error) on_error(err, syscall);
  }

  ModelOptions opt_;
  Stats own_stats_;
  Stats* stats_;  // own_stats_, or shared memory (fork)
  Fd listener_;
  Endpoint endpoint_;
};

using ModelFactory = std::unique_ptr<Model> (*)(const ModelOptions&);

// Models register themselves by name from their own file (NM_REGISTER_MODEL),
// so adding a model touches no shared list.
struct ModelRegistrar {
  ModelRegistrar(const char* name, ModelFactory factory);
};
std::unique_ptr<Model> CreateModel(const std::string& name, const ModelOptions& options);
std::vector<std::string> ModelNames();
bool HasModel(const std::string& name);

#define NM_REGISTER_MODEL(name, Class)                                                 \
  static const ::nm::ModelRegistrar nm_registrar_##Class(                              \
      name, [](const ::nm::ModelOptions& o) -> std::unique_ptr<::nm::Model> {          \
        return std::make_unique<Class>(o);                                             \
      })

}  // namespace nm
