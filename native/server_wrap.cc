// NativeServer: a Napi::ObjectWrap over one Model and the thread that runs it.
// The only N-API code that touches servers; lib/server.ts owns option checks
// and the lifecycle seen by users.
#include <chrono>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>

#include "addon.h"
#include "errors.h"
#include "models/model.h"

namespace nm {

namespace {

using Clock = std::chrono::steady_clock;

struct StatsSnapshot {
  uint64_t accepted = 0, active = 0, peak_active = 0, closed = 0, rejected = 0, bytes_in = 0,
           bytes_out = 0, reads = 0, writes = 0, wakeups = 0, reaped = 0, errors = 0;
};

StatsSnapshot Snapshot(const Stats& s) {
  auto get = [](const Stats::Counter& c) { return c.load(std::memory_order_relaxed); };
  return {get(s.accepted), get(s.active), get(s.peak_active), get(s.closed),
          get(s.rejected), get(s.bytes_in), get(s.bytes_out),  get(s.reads),
          get(s.writes),   get(s.wakeups),  get(s.reaped),     get(s.errors)};
}

struct LoopError {
  int err;
  const char* syscall;
};

class ServerWrap : public Napi::ObjectWrap<ServerWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeServer",
                       {InstanceMethod<&ServerWrap::Start>("start"),
                        InstanceMethod<&ServerWrap::Stop>("stop"),
                        InstanceMethod<&ServerWrap::GetStats>("stats")});
  }

  // new NativeServer(model: string, options: object); options were validated in JS.
  explicit ServerWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ServerWrap>(info) {
    Napi::Env env = info.Env();
    model_name_ = info[0].As<Napi::String>().Utf8Value();
    Napi::Object o = info[1].As<Napi::Object>();
    auto num = [&](const char* key, double fallback) {
      Napi::Value v = o.Get(key);
      return v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : fallback;
    };
    auto str = [&](const char* key, const char* fallback) {
      Napi::Value v = o.Get(key);
      return v.IsString() ? v.As<Napi::String>().Utf8Value() : std::string(fallback);
    };
    options_.host = str("host", "127.0.0.1");
    options_.port = static_cast<int>(num("port", 0));
    options_.backlog = static_cast<int>(num("backlog", 511));
    options_.max_connections = static_cast<uint64_t>(num("maxConnections", 0));
    options_.idle_timeout_ms = static_cast<uint32_t>(num("idleTimeoutMs", 0));
    options_.high_water = static_cast<size_t>(num("highWaterMark", 1 << 20));
    options_.edge_triggered = str("trigger", "level") == "edge";
    options_.stack_size = static_cast<size_t>(num("stackSize", 256 << 10));
    options_.max_children = static_cast<uint32_t>(num("maxChildren", 256));
    options_.reap_with_sigchld = str("reaper", "pidfd") == "sigchld";
    if (!ParseHandlerKind(str("handler", "uppercase").c_str(), &options_.handler)) {
      throw CodedRangeError(env, "ERR_INVALID_ARG_VALUE", "unknown handler");
    }
    if (!HasModel(model_name_)) {
      throw CodedError(env, "ERR_NOT_IMPLEMENTED",
                       "The " + model_name_ + " model is not implemented");
    }
  }

  ~ServerWrap() override { Shutdown(); }

 private:
  // start(onError) -> { address, family, port }; throws a system error.
  Napi::Value Start(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (thread_.joinable()) {
      throw CodedError(env, "ERR_SERVER_ALREADY_LISTEN", "Listen method has been called more than once without closing.");
    }
    std::unique_ptr<Model> model = CreateModel(model_name_, options_);
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
    try {
      thread_ = std::thread([m = model.get()] { m->Run(); });
    } catch (const std::system_error& e) {
      on_error_.Release();
      on_error_ = Napi::ThreadSafeFunction();
      throw ErrnoException(env, e.code().value(), "pthread_create");
    }
    model_ = std::move(model);
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
      self_->Finalize();
      deferred_.Resolve(Env().Undefined());
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

  // On the JS thread, after Join(): the model is only ever replaced or
  // destroyed here, so stats() on the JS thread never races with it.
  void Finalize() {
    if (model_ && !thread_.joinable()) {
      final_ = Snapshot(model_->stats());
      stopped_ = Clock::now();
      model_.reset();  // closes the listener and every fd the model opened
    }
    if (on_error_) {
      on_error_.Release();
      on_error_ = Napi::ThreadSafeFunction();
    }
    if (hooked_) {
      napi_remove_env_cleanup_hook(Env(), &ServerWrap::OnEnvExit, this);
      hooked_ = false;
    }
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
    self->Finalize();
  }

  Napi::Value GetStats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const bool running = model_ != nullptr;
    const StatsSnapshot s = running ? Snapshot(model_->stats()) : final_;
    const auto until = running ? Clock::now() : stopped_;
    Napi::Object o = Napi::Object::New(env);
    auto set = [&](const char* key, uint64_t v) { o.Set(key, static_cast<double>(v)); };
    set("accepted", s.accepted);
    set("active", s.active);
    set("peakActive", s.peak_active);
    set("closed", s.closed);
    set("rejected", s.rejected);
    set("bytesIn", s.bytes_in);
    set("bytesOut", s.bytes_out);
    set("reads", s.reads);
    set("writes", s.writes);
    set("wakeups", s.wakeups);
    set("reaped", s.reaped);
    set("errors", s.errors);
    o.Set("running", running);
    o.Set("uptimeMs", started_.time_since_epoch().count() == 0
                          ? 0.0
                          : std::chrono::duration<double, std::milli>(until - started_).count());
    return o;
  }

  std::string model_name_;
  ModelOptions options_;
  std::unique_ptr<Model> model_;
  std::thread thread_;
  std::mutex join_mu_;
  Napi::ThreadSafeFunction on_error_;
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
}

}  // namespace nm
