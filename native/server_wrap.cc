// NativeServer: a Napi::ObjectWrap over one Model and the thread that runs it.
// The only N-API code that touches servers; lib/server.ts owns option checks
// and the lifecycle seen by users.
#include <chrono>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>

#include "addon.h"
#include "errors.h"
#include "core/signals.h"
#include "js/bridge_wrap.h"
#include "models/model.h"

namespace nm {

namespace {

using Clock = std::chrono::steady_clock;

struct LoopError {
  int err;
  const char* syscall;
};

using NamedCounters = std::vector<std::pair<const char*, uint64_t>>;

// What outlives a server's event TSFN until its finalizer, which runs on the
// JS thread once every queued event was delivered: the stop() promise waits
// for it, so no event comes after stop() resolved ('close' is the last).
struct EventSink {
  std::vector<Napi::Promise::Deferred> on_drained;
  static void Finalize(Napi::Env /*env*/, EventSink* sink, EventSink* /*context*/) {
    for (auto& deferred : sink->on_drained) deferred.Resolve(deferred.Env().Undefined());
    delete sink;
  }
};

class ServerWrap : public Napi::ObjectWrap<ServerWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeServer",
                       {InstanceMethod<&ServerWrap::Start>("start"),
                        InstanceMethod<&ServerWrap::Stop>("stop"),
                        InstanceMethod<&ServerWrap::WantEvents>("wantEvents"),
                        InstanceMethod<&ServerWrap::SetMaxConnections>("setMaxConnections"),
                        InstanceMethod<&ServerWrap::JsOps>("jsOps"),
                        InstanceMethod<&ServerWrap::SetRef>("ref"),
                        InstanceMethod<&ServerWrap::GetStats>("stats")});
  }

  // new NativeServer(model: string, options: object); options were validated in JS.
  explicit ServerWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ServerWrap>(info) {
    Napi::Env env = info.Env();
    model_name_ = info[0].As<Napi::String>().Utf8Value();
    Napi::Object o = info[1].As<Napi::Object>();
    // The TS model table validated every key and applied every default;
    // the common fields are typed, the rest is copied by name for the
    // model to read (ModelOptions::Number / String / List).
    Napi::Array keys = o.GetPropertyNames();
    for (uint32_t i = 0; i < keys.Length(); i++) {
      const std::string key = keys.Get(i).As<Napi::String>().Utf8Value();
      Napi::Value v = o.Get(key);
      if (v.IsNumber()) {
        options_.numbers[key] = v.As<Napi::Number>().DoubleValue();
      } else if (v.IsBoolean()) {
        options_.numbers[key] = v.As<Napi::Boolean>().Value() ? 1 : 0;
      } else if (v.IsString()) {
        options_.strings[key] = v.As<Napi::String>().Utf8Value();
      } else if (v.IsArray()) {
        Napi::Array a = v.As<Napi::Array>();
        std::vector<std::string>& list = options_.lists[key];
        for (uint32_t j = 0; j < a.Length(); j++) list.push_back(a.Get(j).ToString().Utf8Value());
      }
    }
    options_.host = options_.String("host");
    options_.port = static_cast<int>(options_.Number("port"));
    options_.backlog = static_cast<int>(options_.Number("backlog"));
    options_.max_connections = static_cast<uint64_t>(options_.Number("maxConnections"));
    options_.max_per_source = static_cast<uint32_t>(options_.Number("maxConnectionsPerSource"));
    options_.idle_timeout_ms = static_cast<uint32_t>(options_.Number("idleTimeoutMs"));
    options_.high_water = static_cast<size_t>(options_.Number("highWaterMark"));
    // An inherited listening socket (options.fd), or -1: open one on host:port.
    options_.listen_fd = options_.numbers.count("fd") ? static_cast<int>(options_.Number("fd")) : -1;
    if (!ParseHandlerKind(options_.String("handler").c_str(), &options_.handler)) {
      throw CodedRangeError(env, "ERR_INVALID_ARG_VALUE", "unknown handler");
    }
    if (!HasModel(model_name_)) {
      throw CodedError(env, "ERR_NOT_IMPLEMENTED",
                       "The " + model_name_ + " model is not implemented");
    }
  }

  ~ServerWrap() override { Shutdown(); }

 private:
  // start(onError, onEvent, onBatch) -> { address, family, port }; throws a
  // system error. onEvent(name, payload) receives the model's ModelEvents;
  // onBatch the JS handler's batches (handler 'js' only, see JsBridge).
  Napi::Value Start(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (thread_.joinable()) {
      throw CodedError(env, "ERR_SERVER_ALREADY_LISTEN", "Listen method has been called more than once without closing.");
    }
    std::unique_ptr<Model> model = CreateModel(model_name_, options_);
    std::unique_ptr<JsBridge> bridge;
    if (options_.handler == HandlerKind::kJs) {
      bridge = std::make_unique<JsBridge>(env, info[2].As<Napi::Function>());
      model->UseJs(bridge.get());
    }
    SysError error;
    if (model->Open(&error) < 0) {
      throw ErrnoException(env, error.err, error.syscall, options_.host, options_.port);
    }
    on_error_ = Napi::ThreadSafeFunction::New(
        env, info[0].As<Napi::Function>(), "netmodels:server-error", 0, 1);
    model->on_error = [tsfn = on_error_](int err, const char* syscall) mutable {
      auto* data = new LoopError{err, syscall};
      if (tsfn.NonBlockingCall(data, &ServerWrap::EmitError) != napi_ok) delete data;
    };
    sink_ = new EventSink;
    on_event_ = Napi::ThreadSafeFunction::New(env, info[1].As<Napi::Function>(), "netmodels:server-event",
                                              0, 1, sink_, &EventSink::Finalize, sink_);
    model->on_event = [tsfn = on_event_](ModelEvent&& event) mutable {
      auto* data = new ModelEvent(std::move(event));
      if (tsfn.NonBlockingCall(data, &ServerWrap::EmitEvent) != napi_ok) delete data;
    };
    model->WantEvents(events_wanted_);
    try {
      // Model threads, and every thread or child they start, run with all
      // signals blocked: signals are for Node's thread and the reaper's.
      BlockAllSignals masked;
      thread_ = std::thread([m = model.get()] { m->Run(); });
      Stats::add(model->stats().sys.clone, 1);
    } catch (const std::system_error& e) {
      on_error_.Release();
      on_error_ = Napi::ThreadSafeFunction();
      on_event_.Release();
      on_event_ = Napi::ThreadSafeFunction();
      sink_ = nullptr;  // its finalizer frees it
      throw ErrnoException(env, e.code().value(), "pthread_create");
    }
    model_ = std::move(model);
    bridge_ = std::move(bridge);
    if (!refed_) ApplyRef(env);
    started_ = Clock::now();
    napi_add_env_cleanup_hook(env, &ServerWrap::OnEnvExit, this);
    hooked_ = true;

    const Endpoint& ep = model_->endpoint();
    Napi::Object address = Napi::Object::New(env);
    address.Set("address", ep.address);
    address.Set("family", ep.family == 6 ? "IPv6" : "IPv4");
    address.Set("port", ep.port);
    return address;
  }

  static void EmitError(Napi::Env env, Napi::Function callback, LoopError* data) {
    if (env != nullptr && callback != nullptr) {
      callback.Call({ErrnoException(env, data->err, data->syscall).Value()});
    }
    delete data;
  }

  static void EmitEvent(Napi::Env env, Napi::Function callback, ModelEvent* event) {
    if (env != nullptr && callback != nullptr) {
      Napi::Object payload = Napi::Object::New(env);
      for (const ModelEvent::Field& f : event->fields) {
        switch (f.kind) {
          case ModelEvent::Field::Kind::kNull: payload.Set(f.key, env.Null()); break;
          case ModelEvent::Field::Kind::kNumber: payload.Set(f.key, f.number); break;
          case ModelEvent::Field::Kind::kString: payload.Set(f.key, f.text); break;
        }
      }
      callback.Call({Napi::String::New(env, event->name), payload});
    }
    delete event;
  }

  // wantEvents(on): whether the model builds and sends its events (someone
  // listens to one of them). Kept for the next start() too.
  void WantEvents(const Napi::CallbackInfo& info) {
    events_wanted_ = info[0].ToBoolean().Value();
    if (model_) model_->WantEvents(events_wanted_);
  }

  // setMaxConnections(n): maxConnections from the next accept on, for the
  // running model and the next start(); -1 refuses every new connection
  // (a drain), for this run only. Validated in JS.
  void SetMaxConnections(const Napi::CallbackInfo& info) {
    const double n = info[0].As<Napi::Number>().DoubleValue();
    const uint64_t max = n < 0 ? Model::kRefuseAll : static_cast<uint64_t>(n);
    if (n >= 0) options_.max_connections = max;
    if (model_) model_->SetMaxConnections(max);
  }

  // ref(on): whether a running server keeps the event loop alive, as
  // net.Server's ref()/unref(). Its thread-safe functions are what hold it;
  // kept for the next start() too.
  void SetRef(const Napi::CallbackInfo& info) {
    refed_ = info[0].ToBoolean().Value();
    ApplyRef(info.Env());
  }
  void ApplyRef(Napi::Env env) {
    for (Napi::ThreadSafeFunction* f : {&on_error_, &on_event_}) {
      if (*f) refed_ ? f->Ref(env) : f->Unref(env);
    }
    if (bridge_) bridge_->Ref(env, refed_);
  }

  // jsOps(meta, buffers): one JS turn's writes, ends, destroys and flow
  // control for the JS handler's connections (see JsBridge::Dispatch).
  void JsOps(const Napi::CallbackInfo& info) {
    if (bridge_ && model_) bridge_->Dispatch(info);
  }

  // stop() -> Promise<void>, resolved once the loop thread is joined and every
  // connection, thread and child is gone. The join happens off the JS thread.
  Napi::Value Stop(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto* worker = new StopWorker(env, this, info.This().As<Napi::Object>());
    Napi::Promise promise = worker->Promise();
    worker->Queue();
    return promise;
  }

  class StopWorker : public Napi::AsyncWorker {
   public:
    StopWorker(Napi::Env env, ServerWrap* self, Napi::Object receiver)
        : Napi::AsyncWorker(env, "netmodels:stop"), self_(self), deferred_(env) {
      // Keeps the wrapper alive while the thread is being joined.
      receiver_ = Napi::Persistent(receiver);
    }
    Napi::Promise Promise() { return deferred_.Promise(); }
    void Execute() override { self_->Join(); }
    void OnOK() override {
      EventSink* draining = self_->Finalize();
      if (draining != nullptr) {
        draining->on_drained.push_back(deferred_);
      } else {
        deferred_.Resolve(Env().Undefined());
      }
    }

   private:
    ServerWrap* self_;
    Napi::Promise::Deferred deferred_;
    Napi::ObjectReference receiver_;
  };

  // Stops the model and joins its thread. Runs on a worker thread (stop()) or
  // on the JS thread (cleanup hook, destructor); the mutex makes a second
  // caller wait for the first instead of joining twice.
  void Join() {
    std::lock_guard<std::mutex> lock(join_mu_);
    if (!thread_.joinable()) return;
    model_->Stop();
    thread_.join();
  }

  // ObjectWrap's Finalize(Napi::Env), which ours would hide (clang warns).
  using Napi::ObjectWrap<ServerWrap>::Finalize;

  // On the JS thread, after Join(): the model is only ever replaced or
  // destroyed here, so stats() on the JS thread never races with it.
  // Returns the sink of the event TSFN it released, whose finalizer runs
  // once the events still queued are delivered (null: none).
  EventSink* Finalize() {
    EventSink* draining = nullptr;
    if (model_ && !thread_.joinable()) {
      final_ = model_->Totals();
      final_counters_.clear();
      model_->Counters(&final_counters_);
      stopped_ = Clock::now();
      model_.reset();  // closes the listener and every fd the model opened
      // The loops are gone: batches still queued reach JS, then the
      // bridge's function is released.
      bridge_.reset();
    }
    if (on_error_) {
      on_error_.Release();
      on_error_ = Napi::ThreadSafeFunction();
    }
    if (on_event_) {
      draining = sink_;
      on_event_.Release();
      on_event_ = Napi::ThreadSafeFunction();
      sink_ = nullptr;
    }
    if (hooked_) {
      napi_remove_env_cleanup_hook(Env(), &ServerWrap::OnEnvExit, this);
      hooked_ = false;
    }
    return draining;
  }

  void Shutdown() {
    Join();
    Finalize();
  }

  // A server still running when its environment (process or worker) exits.
  // The hook is removed by Finalize(), so a TSFN release there would be too
  // late: it is aborted here instead.
  static void OnEnvExit(void* arg) {
    auto* self = static_cast<ServerWrap*>(arg);
    self->hooked_ = false;
    self->Join();
    if (self->on_error_) {
      self->on_error_.Abort();
      self->on_error_ = Napi::ThreadSafeFunction();
    }
    if (self->bridge_) self->bridge_->Abort();
    if (self->on_event_) {
      self->on_event_.Abort();
      self->on_event_ = Napi::ThreadSafeFunction();
      self->sink_ = nullptr;  // its finalizer frees it
    }
    self->Finalize();
  }

  Napi::Value GetStats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const bool running = model_ != nullptr;
    const StatsSnapshot s = running ? model_->Totals() : final_;
    const auto until = running ? Clock::now() : stopped_;
    Napi::Object o = Napi::Object::New(env);
    auto set = [&](const char* key, uint64_t v) { o.Set(key, static_cast<double>(v)); };
#define NM_SET(name, key) set(key, s.name);
    NM_COUNTERS(NM_SET)
#undef NM_SET
    o.Set("syscalls", SyscallsObject(env, s.syscalls));
    NamedCounters counters;
    if (running) model_->Counters(&counters);
    for (const auto& c : running ? counters : final_counters_) set(c.first, c.second);
    o.Set("running", running);
    if (running) {
      std::vector<WorkerStats> workers;
      model_->Workers(&workers);
      if (!workers.empty()) o.Set("workers", WorkersArray(env, workers));
      std::vector<std::pair<const char*, std::string>> facts;
      model_->Describe(&facts);
      for (const auto& f : facts) o.Set(f.first, f.second);
    }
    o.Set("uptimeMs", started_.time_since_epoch().count() == 0
                          ? 0.0
                          : std::chrono::duration<double, std::milli>(until - started_).count());
    return o;
  }

  static Napi::Object SyscallsObject(Napi::Env env, const SyscallSnapshot& s) {
    Napi::Object o = Napi::Object::New(env);
    auto set = [&](const char* key, uint64_t v) { o.Set(key, static_cast<double>(v)); };
#define NM_SET(name) set(#name, s.name);
    NM_SYSCALLS(NM_SET)
#undef NM_SET
    return o;
  }

  static Napi::Array WorkersArray(Napi::Env env, const std::vector<WorkerStats>& workers) {
    Napi::Array out = Napi::Array::New(env, workers.size());
    for (uint32_t i = 0; i < workers.size(); i++) {
      const WorkerStats& w = workers[i];
      Napi::Object o = Napi::Object::New(env);
      if (w.pid >= 0) o.Set("pid", static_cast<double>(w.pid));
      if (w.state != nullptr) o.Set("state", w.state);
#define NM_SET(name, key) o.Set(key, static_cast<double>(w.name));
      NM_WORKER_COUNTERS(NM_SET)
#undef NM_SET
      o.Set("syscalls", SyscallsObject(env, w.syscalls));
      out.Set(i, o);
    }
    return out;
  }

  std::string model_name_;
  ModelOptions options_;
  std::unique_ptr<JsBridge> bridge_;  // handler 'js': outlives model_
  bool refed_ = true;
  std::unique_ptr<Model> model_;
  std::thread thread_;
  std::mutex join_mu_;
  Napi::ThreadSafeFunction on_error_;
  Napi::ThreadSafeFunction on_event_;
  EventSink* sink_ = nullptr;  // owned by on_event_ (freed by its finalizer)
  bool events_wanted_ = false;
  NamedCounters final_counters_;
  bool hooked_ = false;
  StatsSnapshot final_;
  Clock::time_point started_{};
  Clock::time_point stopped_{};
};

}  // namespace

void InitServers(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeServer", ServerWrap::Define(env));
  Napi::Array names = Napi::Array::New(env);
  uint32_t i = 0;
  for (const std::string& name : ModelNames()) names.Set(i++, name);
  exports.Set("nativeModels", names);
  // The keys of stats() the counter lists make, for the tests to hold
  // against lib's (lib/stats-keys.ts).
  Napi::Object keys = Napi::Object::New(env);
  auto list = [&](const char* what, std::initializer_list<const char*> of) {
    Napi::Array a = Napi::Array::New(env, of.size());
    uint32_t n = 0;
    for (const char* key : of) a.Set(n++, key);
    keys.Set(what, a);
  };
#define NM_KEY(name, key) key,
  list("stats", {NM_COUNTERS(NM_KEY)});
  list("worker", {NM_WORKER_COUNTERS(NM_KEY)});
#undef NM_KEY
#define NM_KEY(name) #name,
  list("syscalls", {NM_SYSCALLS(NM_KEY)});
#undef NM_KEY
  exports.Set("statsKeys", keys);
  exports.Set("wire", JsBridge::Wire(env));
}

}  // namespace nm
