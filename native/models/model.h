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

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/fd.h"
#include "core/handler.h"
#include "core/js_sink.h"
#include "core/listener.h"
#include "core/source_limit.h"
#include "core/stats.h"

namespace nm {

// What a model is built with. The common fields are typed; each model reads
// its own extras by name (Number("stackSize"), String("trigger")...). The
// TypeScript model table validates every option and sends every key with its
// default applied, so no default is repeated here: an extra a model reads
// and the table does not send is a bug, seen as 0 / "" / {}.
struct ModelOptions {
  std::string host;
  int port = 0;
  int backlog = 0;
  HandlerKind handler = HandlerKind::kUppercase;
  uint64_t max_connections = 0;  // 0: no limit
  uint32_t max_per_source = 0;   // open connections per remote IP; 0: no limit
  uint32_t idle_timeout_ms = 0;  // 0: off
  size_t high_water = 0;
  // Where the listener comes from. By default the model opens its own;
  // with reuse_port it joins an SO_REUSEPORT group; with listen_fd >= 0 it
  // uses a duplicate of that listening socket (a composite sharing one
  // listener, or an inherited one); with no_listener it accepts nothing and
  // serves only what is handed to it with Adopt().
  bool reuse_port = false;
  int listen_fd = -1;
  bool no_listener = false;

  std::map<std::string, double> numbers;
  std::map<std::string, std::string> strings;
  std::map<std::string, std::vector<std::string>> lists;

  double Number(const std::string& key) const {
    auto it = numbers.find(key);
    return it == numbers.end() ? 0 : it->second;
  }
  const std::string& String(const std::string& key) const {
    static const std::string kEmpty;
    auto it = strings.find(key);
    return it == strings.end() ? kEmpty : it->second;
  }
  const std::vector<std::string>& List(const std::string& key) const {
    static const std::vector<std::string> kEmpty;
    auto it = lists.find(key);
    return it == lists.end() ? kEmpty : it->second;
  }
};

// A part's counters (stats().workers[i]; WorkerStats in lib/server.ts), by
// field and key, as NM_COUNTERS: `served` is the part's `closed`.
#define NM_WORKER_COUNTERS(X)                                                                     \
  X(accepted, "accepted") X(active, "active") X(served, "served") X(bytes_in, "bytesIn")         \
  X(bytes_out, "bytesOut") X(wakeups, "wakeups")

// One part of a model as stats().workers reports it: a loop, a pool thread,
// a prefork child. Fields a model does not have stay at their defaults and
// are left out of the JS object (pid < 0, state null).
struct WorkerStats {
#define NM_FIELD(name, key) uint64_t name = 0;
  NM_WORKER_COUNTERS(NM_FIELD)
#undef NM_FIELD
  SyscallSnapshot syscalls;
  int64_t pid = -1;
  const char* state = nullptr;  // "idle" | "busy"
};

// A named event a model reports to JavaScript ('childExit'), with a small
// flat payload: each field a number, a string or null.
struct ModelEvent {
  struct Field {
    const char* key;
    enum class Kind { kNull, kNumber, kString } kind;
    double number;
    std::string text;
  };
  explicit ModelEvent(const char* event_name) : name(event_name) {}
  ModelEvent& Number(const char* key, double v) {
    fields.push_back({key, Field::Kind::kNumber, v, {}});
    return *this;
  }
  ModelEvent& String(const char* key, std::string v) {
    fields.push_back({key, Field::Kind::kString, 0, std::move(v)});
    return *this;
  }
  ModelEvent& Null(const char* key) {
    fields.push_back({key, Field::Kind::kNull, 0, {}});
    return *this;
  }
  const char* name;  // a string literal
  std::vector<Field> fields;
};

// A part's counters as stats().workers shows them.
WorkerStats SnapshotWorker(const Stats& s);

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
  // The whole server's counters; a composite sums its parts.
  virtual StatsSnapshot Totals() { return stats_->snapshot(); }
  const Endpoint& endpoint() const { return endpoint_; }

  // Composition: makes this model count into `shared` (owned by the caller,
  // outliving the model) instead of its own block. Only before Open().
  void UseStats(Stats* shared) { stats_ = shared; }
  // Likewise for the per-source counts: the parts of a composite must share
  // one table (a composite's acceptor admits, the part that closes releases).
  void UseSources(SourceLimit* shared) { sources_ = shared; }
  // The bridge to a JavaScript handler (handler kJs), set by the binding or
  // a composite before Open(); it outlives the model.
  void UseJs(JsHub* hub) { js_hub_ = hub; }
  // Likewise for maxConnections: the parts of a composite read the whole
  // server's limit (a process model maps its own into shared memory).
  void UseLimit(std::atomic<uint64_t>* shared) { limit_ = shared; }
  // Likewise for events: a part reports through its composite.
  void UseEvents(Model* composite) {
    on_event = [composite](ModelEvent&& event) { composite->Emit(std::move(event)); };
    wanted_ = &composite->events_wanted;
  }

  // maxConnections while running (0: no limit; kRefuseAll: every new
  // connection is refused, as a drain does): from any thread, seen by the
  // next accept. Connections already open stay.
  static constexpr uint64_t kRefuseAll = ~uint64_t{0};
  void SetMaxConnections(uint64_t max) { limit_->store(max, std::memory_order_relaxed); }

  // Takes a connection accepted elsewhere (a composite's acceptor): from any
  // thread, after Open(). The model owns `fd` from here on and serves it, or
  // rejects it if it cannot. Only models that can be parts implement it; the
  // caller stops handing over before it stops the model.
  virtual void Adopt(int fd) { Reject(fd); }

  // stats().workers: one entry per part, or none for a model of one part.
  // Called on the JS thread while Run() goes on: read atomics only.
  virtual void Workers(std::vector<WorkerStats>* /*out*/) {}
  // Facts about how the model runs that are not counters, shown in stats()
  // as strings (fork: which reaper it really uses after a fallback).
  virtual void Describe(std::vector<std::pair<const char*, std::string>>* /*out*/) {}
  // Counters only this model keeps (fork: exitedOk, exitedFailed), shown in
  // stats() beside the common ones, and read once more after Run() returned.
  virtual void Counters(std::vector<std::pair<const char*, uint64_t>>* /*out*/) {}

  // Set by the binding before Run(): reports a failure the loop met after
  // start (it may have survived it, or ended because of it).
  std::function<void(int err, const char* syscall)> on_error;
  // Set by the binding before Run(): carries a ModelEvent to JavaScript,
  // from any thread. Events are built and sent only while events_wanted is
  // set (someone listens), which the binding may change at any time.
  std::function<void(ModelEvent&&)> on_event;
  std::atomic<bool> events_wanted{false};
  // Sets events_wanted, from the JS thread. A model whose children build
  // events overrides it to tell them too.
  virtual void WantEvents(bool on) { events_wanted.store(on, std::memory_order_relaxed); }

 protected:
  // Blocking models accept on a blocking listener.
  virtual bool NonBlockingListener() const { return true; }
  // The model's own setup after the listener exists; 0 or -errno.
  virtual int Prepare(SysError* error) = 0;

  uint64_t MaxConnections() const { return limit_->load(std::memory_order_relaxed); }
  bool AtCapacity() const {
    const uint64_t max = MaxConnections();
    return max == kRefuseAll || (max != 0 && stats_->server_active() >= max);
  }
  // Closes a connection refused for maxConnections (Reject), and reports
  // 'drop' with its addresses, as net.Server does, when someone listens.
  void Drop(int fd);
  // The 'drop' event of a connection between `local` and `remote`; an
  // address of family AF_UNSPEC (unknown) leaves its fields empty.
  static ModelEvent DropEvent(const sockaddr* local, const sockaddr* remote);
  // Closes a connection accepted but not served. Counted first, so a client
  // that sees the close also sees it in stats(): as rejected at once, or,
  // when it was already counted open (fork counts before it forks), as
  // that count undone.
  void Reject(int fd, bool counted_open = false) {
    sources_->Release(fd);
    if (counted_open) {
      stats_->revoke();
    } else {
      stats_->reject();
    }
    ::close(fd);
  }
  // maxConnectionsPerSource for `fd`, just accepted from `peer`: false when
  // it was rejected (counted, closed). Every close of an admitted fd must
  // Release it from sources_ first; Reject() does.
  bool AdmitSource(int fd, const sockaddr_storage& peer) {
    if (sources_->Admit(fd, peer)) return true;
    Reject(fd);
    return false;
  }
  bool WantsEvents() const { return on_event && wanted_->load(std::memory_order_relaxed); }
  void Emit(ModelEvent&& event) {
    if (WantsEvents()) on_event(std::move(event));
  }
  void ReportError(int err, const char* syscall) {
    Stats::add(stats_->errors, 1);
    if (on_error) on_error(err, syscall);
  }

  ModelOptions opt_;
  Stats own_stats_;
  Stats* stats_;  // own_stats_, a composite's block, or shared memory (fork)
  SourceLimit own_sources_{opt_.max_per_source};
  SourceLimit* sources_ = &own_sources_;  // or a composite's table
  JsHub* js_hub_ = nullptr;
  std::atomic<uint64_t> own_limit_{opt_.max_connections};
  std::atomic<uint64_t>* limit_ = &own_limit_;  // or a composite's, or shared memory
  const std::atomic<bool>* wanted_ = &events_wanted;  // or a composite's
  Fd listener_;
  Endpoint endpoint_;
};

// Several independent loops of the event model `name` (options "loops" > 1,
// "balance"): one server, one start/stop/stats. Defined in loops.cc.
std::unique_ptr<Model> CreateLoops(const std::string& name, const ModelOptions& options);

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
