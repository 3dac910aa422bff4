// The JS-handler bridge: carries a server's connections between its loops
// and the JS thread, in batches. N-API lives here (and in server_wrap.cc);
// the loops see only the JsHub / JsSink interfaces of core/js_sink.h.
//
// Out (loop -> JS): each loop has an outbox (a JsSink) that collects the
// round's events and bytes; Flush() hands them to one thread-safe call.
// Back (JS -> loops): Dispatch() takes one JS turn's ops for every loop and
// gives each loop its share in one piece (one inbox post, one wakeup).
#pragma once

#include <napi.h>

#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "core/js_sink.h"

namespace nm {

class JsBridge final : public JsHub {
 public:
  // `on_batch(loop, meta: Float64Array, bytes: Buffer, peers: string[])` is
  // called on the JS thread; see Outbox for the layout of `meta`.
  JsBridge(Napi::Env env, Napi::Function on_batch);
  ~JsBridge() override;

  JsSink* Attach(std::function<void(JsOps&&)> apply) override;
  void Detach(JsSink* sink) override;

  // JS thread: ops(meta: Float64Array, bytes: Buffer[]), seven numbers per
  // op: loop, fd, generation, kind, consumed, index into bytes, notify.
  // Throws, applying none of them, on an op it does not know.
  void Dispatch(const Napi::CallbackInfo& info);
  // The wire format as lib reads and writes it (lib/wire.ts holds its own
  // copy; test/wire.test.ts compares them): { eventStride, opStride,
  // events: { name: kind }, ops: { name: kind } }.
  static Napi::Object Wire(Napi::Env env);
  // JS thread, once every loop has stopped: batches still queued are
  // delivered, then the function is released; later ops are dropped.
  void Release();
  // The environment is going away: nothing more is called into it.
  void Abort();
  // JS thread: whether the pending batches keep the event loop alive.
  void Ref(Napi::Env env, bool on) {
    if (tsfn_) on ? tsfn_.Ref(env) : tsfn_.Unref(env);
  }

 private:
  class Outbox;
  class Keeper;
  Napi::ThreadSafeFunction tsfn_;
  std::shared_ptr<Keeper> keeper_;
  // Attach/Detach come from loop threads, Dispatch from the JS thread.
  std::mutex mu_;
  std::unordered_map<int, std::unique_ptr<Outbox>> loops_;  // by id; guarded by mu_
  int next_id_ = 0;                                         // guarded by mu_
  bool closed_ = false;
};

}  // namespace nm
