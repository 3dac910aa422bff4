// The N-API face of the load generator: `loadgenStart(options, onProgress?)`
// returns a Promise for the report. Options arrive validated by
// lib/loadgen.ts; this layer only re-checks their types so a direct call into
// the binding cannot crash the process.
//
// Lifetime of one run (a Job):
//   - `done` (a ThreadSafeFunction) carries the report to the JS thread,
//     resolves the promise, and its finalizer deletes the Job. It is ref'd: a
//     pending run keeps the process alive, as a pending socket would.
//   - `progress` (optional) carries progress snapshots; unref'd.
//   - The last worker thread releases both, so neither outlives the run.
//   - The promise carries `stop()`: it ends the run early (an AbortSignal
//     in lib/loadgen.ts); the report still comes, from what was measured.
//     It reaches the Job through a StopHandle the finalizer clears, so a
//     call after the run is gone does nothing.
//   - An env cleanup hook stops and joins the threads when the process or
//     worker exits mid-run. It is added after both ThreadSafeFunctions are
//     created, so it runs before Node tears them down (hooks run in reverse
//     order of registration) and no thread ever calls into a dead one.
#include <napi.h>

#include <memory>
#include <string>
#include <utility>

#include "addon.h"
#include "errors.h"
#include "loadgen/loadgen.h"

namespace nm {

namespace {

using loadgen::Expect;
using loadgen::LoadRun;
using loadgen::Mode;
using loadgen::Options;
using loadgen::Progress;
using loadgen::Report;

struct Job;

void DeliverReport(Napi::Env env, Napi::Function, Job* job, Report* report);
void DeliverProgress(Napi::Env env, Napi::Function callback, std::nullptr_t*, Progress* progress);

using DoneTsfn = Napi::TypedThreadSafeFunction<Job, Report, DeliverReport>;
using ProgressTsfn = Napi::TypedThreadSafeFunction<std::nullptr_t, Progress, DeliverProgress>;

// What the promise's stop() holds: the Job while it lives. Set and cleared on
// the JS thread only (stop() and the finalizer both run there).
struct StopHandle {
  Job* job = nullptr;
};

struct Job {
  explicit Job(Napi::Env env) : deferred(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise::Deferred deferred;
  std::unique_ptr<LoadRun> run;
  DoneTsfn done;
  ProgressTsfn progress;
  bool has_progress = false;
  bool hook_registered = false;
  std::shared_ptr<StopHandle> stop_handle;
};

void OnEnvCleanup(void* arg) {
  Job* job = static_cast<Job*>(arg);
  job->hook_registered = false;  // Node removes a hook as it runs it
  job->run->Stop();
  job->run->Join();
}

void FinalizeJob(Napi::Env env, void*, Job* job) {
  if (job->stop_handle) job->stop_handle->job = nullptr;
  if (job->hook_registered) napi_remove_env_cleanup_hook(env, OnEnvCleanup, job);
  job->run.reset();  // joins, if the report never reached JS
  delete job;
}

Napi::Object LatencyObject(Napi::Env env, const loadgen::LatencySummary& l) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("min", l.min);
  o.Set("mean", l.mean);
  o.Set("stdev", l.stdev);
  o.Set("p50", l.p50);
  o.Set("p75", l.p75);
  o.Set("p90", l.p90);
  o.Set("p975", l.p975);
  o.Set("p99", l.p99);
  o.Set("p999", l.p999);
  o.Set("p9999", l.p9999);
  o.Set("max", l.max);
  return o;
}

void DeliverReport(Napi::Env env, Napi::Function, Job* job, Report* raw) {
  std::unique_ptr<Report> report(raw);
  if (env == nullptr) return;  // torn down with the environment
  // Every thread has finished its loop; this only reaps them.
  job->run->Join();
  try {
    Napi::Object o = Napi::Object::New(env);
    o.Set("connected", static_cast<double>(report->connected));
    o.Set("unstarted", static_cast<double>(report->unstarted));
    o.Set("requests", static_cast<double>(report->requests));
    o.Set("rps", report->rps);
    o.Set("bytesPerSec", report->bytes_per_sec);
    o.Set("readBytesPerSec", report->read_bytes_per_sec);
    o.Set("writtenBytesPerSec", report->written_bytes_per_sec);
    o.Set("errors", static_cast<double>(report->errors));
    o.Set("mismatches", static_cast<double>(report->mismatches));
    o.Set("lost", static_cast<double>(report->lost));
    o.Set("late", static_cast<double>(report->late));
    o.Set("latencyUs", LatencyObject(env, report->latency_us));
    o.Set("durationMs", report->duration_ms);
    o.Set("setupCut", report->setup_cut);
    Napi::Object codes = Napi::Object::New(env);
    for (const auto& [err, count] : report->error_codes) {
      const char* name = err == loadgen::kErrEof ? "EOF" : ErrnoName(err);
      codes.Set(name, static_cast<double>(count));
    }
    o.Set("errorCodes", codes);
    o.Set("non2xx", static_cast<double>(report->non2xx));
    o.Set("timeouts", static_cast<double>(report->timeouts));
    Napi::Object statuses = Napi::Object::New(env);
    for (const auto& [status, count] : report->statuses) statuses.Set(std::to_string(status), static_cast<double>(count));
    o.Set("statuses", statuses);
    job->deferred.Resolve(o);
  } catch (const Napi::Error& e) {
    // In a terminating Worker the rejection can fail too; nothing can be
    // delivered then, and no exception may leave this callback.
    try {
      job->deferred.Reject(e.Value());
    } catch (const Napi::Error&) {
    }
  }
}

void DeliverProgress(Napi::Env env, Napi::Function callback, std::nullptr_t*, Progress* raw) {
  std::unique_ptr<Progress> p(raw);
  if (env == nullptr || callback.IsEmpty()) return;
  try {
    Napi::Object o = Napi::Object::New(env);
    o.Set("phase", p->phase == loadgen::Phase::kSetup    ? "setup"
                   : p->phase == loadgen::Phase::kWarmup ? "warmup"
                                                         : "measure");
    o.Set("elapsedMs", p->elapsed_ms);
    o.Set("requests", static_cast<double>(p->requests));
    o.Set("rps", p->rps);
    o.Set("errors", static_cast<double>(p->errors));
    callback.Call({o});
  } catch (const Napi::Error&) {
    // lib/loadgen.ts wraps the user's callback so it never throws; a direct
    // caller's exception is dropped rather than thrown into Node's loop.
  }
}

uint32_t GetU32(Napi::Object o, const char* key, uint32_t fallback) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return fallback;
  if (!v.IsNumber()) {
    throw CodedTypeError(o.Env(), "ERR_INVALID_ARG_TYPE",
                         std::string("The \"options.") + key + "\" property must be of type number.");
  }
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= 4294967295.0)) {
    throw CodedRangeError(o.Env(), "ERR_OUT_OF_RANGE",
                          std::string("The value of \"options.") + key + "\" is out of range.");
  }
  return static_cast<uint32_t>(d);
}

std::string GetString(Napi::Object o, const char* key, const char* fallback) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return fallback;
  if (!v.IsString()) {
    throw CodedTypeError(o.Env(), "ERR_INVALID_ARG_TYPE",
                         std::string("The \"options.") + key + "\" property must be of type string.");
  }
  return v.As<Napi::String>().Utf8Value();
}

Options ParseOptions(Napi::Object o) {
  Napi::Env env = o.Env();
  Options opt;
  opt.host = GetString(o, "host", "127.0.0.1");
  opt.port = static_cast<int>(GetU32(o, "port", 0));
  const std::string mode = GetString(o, "mode", "rr");
  if (mode == "rr") opt.mode = Mode::kRequestReply;
  else if (mode == "hold") opt.mode = Mode::kHold;
  else if (mode == "churn") opt.mode = Mode::kChurn;
  else if (mode == "udp") opt.mode = Mode::kUdp;
  else if (mode == "http") opt.mode = Mode::kHttp;
  else throw CodedRangeError(env, "ERR_INVALID_ARG_VALUE", "options.mode must be 'rr', 'hold', 'churn', 'udp' or 'http'");
  opt.http_path = GetString(o, "path", "/");
  opt.pipeline = GetU32(o, "pipeline", 1);
  opt.request_timeout_ms = GetU32(o, "requestTimeoutMs", 10000);
  if (opt.pipeline < 1 || opt.request_timeout_ms < 1 || opt.http_path.empty() || opt.http_path[0] != '/' ||
      opt.http_path.find_first_of(" \r\n") != std::string::npos) {
    throw CodedRangeError(env, "ERR_OUT_OF_RANGE", "loadgen http option out of range");
  }
  const std::string expect = GetString(o, "expect", "uppercase");
  if (expect == "uppercase") opt.expect = Expect::kUppercase;
  else if (expect == "echo") opt.expect = Expect::kEcho;
  else if (expect == "none") opt.expect = Expect::kNone;
  else throw CodedRangeError(env, "ERR_INVALID_ARG_VALUE", "options.expect must be 'uppercase', 'echo' or 'none'");
  opt.connections = GetU32(o, "connections", 64);
  opt.idle = GetU32(o, "idle", 0);
  opt.message_size = GetU32(o, "messageSize", 64);
  opt.duration_ms = GetU32(o, "durationMs", 3000);
  opt.warmup_ms = GetU32(o, "warmupMs", 0);
  opt.connect_timeout_ms = GetU32(o, "connectTimeoutMs", 3000);
  opt.threads = GetU32(o, "threads", 1);
  opt.progress_interval_ms = GetU32(o, "progressIntervalMs", 250);
  opt.rate = GetU32(o, "rate", 0);
  if (opt.rate > 0 && opt.mode != Mode::kRequestReply) {
    throw CodedRangeError(env, "ERR_INVALID_ARG_VALUE", "options.rate applies to mode 'rr' only");
  }
  opt.timeout_ms = GetU32(o, "timeoutMs", 200);
  // udp: a datagram's leading digits name its seq among the client's in
  // flight, so a tiny datagram carries fewer of them. (A table, not pow():
  // libm's pow asks for GLIBC_2.29, above the prebuilds' floor.)
  static constexpr uint32_t kNumbered[] = {1, 10, 100, 1000};
  if (opt.mode == Mode::kUdp && opt.message_size < 4 && opt.pipeline > kNumbered[opt.message_size]) {
    throw CodedRangeError(env, "ERR_OUT_OF_RANGE", "options.pipeline is more than a datagram of options.messageSize bytes can number");
  }
  if (opt.port < 1 || opt.port > 65535 || opt.connections < 1 || opt.message_size < 1 ||
      opt.duration_ms < 1 || opt.connect_timeout_ms < 1 || opt.threads < 1 || opt.progress_interval_ms < 1 ||
      opt.timeout_ms < 1) {
    throw CodedRangeError(env, "ERR_OUT_OF_RANGE", "loadgen option out of range");
  }
  return opt;
}

Napi::Value LoadgenStart(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) {
    throw CodedTypeError(env, "ERR_INVALID_ARG_TYPE", "The \"options\" argument must be of type object.");
  }
  const bool has_progress = info.Length() > 1 && !info[1].IsUndefined();
  if (has_progress && !info[1].IsFunction()) {
    throw CodedTypeError(env, "ERR_INVALID_ARG_TYPE", "The \"onProgress\" argument must be of type function.");
  }
  Options options = ParseOptions(info[0].As<Napi::Object>());
  const std::string host = options.host;
  const int port = options.port;

  auto run = std::make_unique<LoadRun>(std::move(options));
  const char* syscall = "";
  if (int rc = run->Prepare(&syscall); rc < 0) throw ErrnoException(env, rc, syscall, host, port);

  // From here the Job belongs to the `done` function's finalizer.
  Job* job = new Job(env);
  job->run = std::move(run);
  Napi::Promise promise = job->deferred.Promise();
  job->stop_handle = std::make_shared<StopHandle>();
  job->stop_handle->job = job;
  promise.Set("stop", Napi::Function::New(
                          env,
                          [handle = job->stop_handle](const Napi::CallbackInfo&) {
                            if (handle->job != nullptr) handle->job->run->Stop();
                          },
                          "stop"));
  job->done = DoneTsfn::New(env, "netmodels:loadgen", 0, 1, job, FinalizeJob, static_cast<void*>(nullptr));
  job->has_progress = has_progress;
  if (has_progress) {
    job->progress = ProgressTsfn::New(env, info[1].As<Napi::Function>(), "netmodels:loadgen:progress", 0, 1);
    job->progress.Unref(env);
  }
  napi_status status = napi_add_env_cleanup_hook(env, OnEnvCleanup, job);
  job->hook_registered = status == napi_ok;

  LoadRun::ProgressFn on_progress;
  if (has_progress) {
    on_progress = [job](const Progress& p) {
      // napi_closing (environment exiting) just drops the snapshot.
      auto* copy = new Progress(p);
      if (job->progress.NonBlockingCall(copy) != napi_ok) delete copy;
    };
  }
  auto on_done = [job](Report&& report) {
    if (job->has_progress) job->progress.Release();
    auto* heap = new Report(std::move(report));
    if (job->done.NonBlockingCall(heap) != napi_ok) delete heap;
    job->done.Release();
  };
  if (int rc = job->run->Start(std::move(on_progress), std::move(on_done)); rc < 0) {
    job->deferred.Reject(ErrnoException(env, rc, "pthread_create").Value());
    if (has_progress) job->progress.Release();
    job->done.Release();  // the finalizer deletes the Job
  }
  return promise;
}

}  // namespace

void InitLoadgen(Napi::Env env, Napi::Object exports) {
  exports.Set("loadgenStart", Napi::Function::New(env, LoadgenStart, "loadgenStart"));
}

}  // namespace nm
