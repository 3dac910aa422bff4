#include "js/bridge_wrap.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdio>
#include <iterator>
#include <memory>
#include <string>

#include "core/sockaddr.h"
#include "errors.h"

namespace nm {

namespace {

// The wire format, exported to lib (Wire()): a batch's meta array holds
// five numbers per event (kind, fd, generation, a, b); jsOps()'s seven per
// op (loop, fd, generation, kind, consumed, index, notify).
enum Event : int { kOpened = 0, kData = 1, kEnded = 2, kDrained = 4, kClosed = 5, kShut = 6, kDatagram = 7 };
constexpr size_t kEventStride = 5;
constexpr size_t kOpStride = 7;

struct Batch {
  int loop = 0;
  std::vector<double> meta;
  std::string bytes;
  std::vector<std::string> peers;
};

void CallJs(Napi::Env env, Napi::Function on_batch, Batch* batch) {
  std::unique_ptr<Batch> owned(batch);
  if (env == nullptr || on_batch == nullptr) return;
  try {
    Napi::Float64Array meta = Napi::Float64Array::New(env, batch->meta.size());
    std::copy(batch->meta.begin(), batch->meta.end(), meta.Data());
    Napi::Buffer<char> bytes = Napi::Buffer<char>::Copy(env, batch->bytes.data(), batch->bytes.size());
    Napi::Array peers = Napi::Array::New(env, batch->peers.size());
    for (uint32_t i = 0; i < batch->peers.size(); i++) peers.Set(i, batch->peers[i]);
    on_batch.Call({Napi::Number::New(env, batch->loop), meta, bytes, peers});
  } catch (const Napi::Error& error) {
    // The user's handler threw: it becomes the process's uncaught exception,
    // as in a net.Server 'connection' listener. Not ThrowAsJavaScriptException():
    // in a terminating Worker the throw itself fails, and a C++ exception
    // must not leave this C callback.
    napi_throw(env, error.Value());
  }
}

// A Buffer at least this large is handed to the loops as it is, not
// copied: far above the size V8 may keep inside its heap (where a GC can
// move it), and large enough that a copy costs more than the reference.
constexpr size_t kHoldFrom = 64 * 1024;

// "remoteAddress,remotePort,family,localAddress,localPort" of a connection.
std::string Addresses(int fd) {
  sockaddr_storage peer{}, local{};
  socklen_t len = sizeof peer;
  std::string remote_ip, local_ip;
  int remote_port = 0, local_port = 0, family = 0, local_family = 0;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) == 0) {
    FormatIp(reinterpret_cast<sockaddr*>(&peer), &remote_ip, &remote_port, &family);
  }
  len = sizeof local;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) == 0) {
    FormatIp(reinterpret_cast<sockaddr*>(&local), &local_ip, &local_port, &local_family);
  }
  return remote_ip + "," + std::to_string(remote_port) + "," + std::to_string(family) + "," + local_ip +
         "," + std::to_string(local_port);
}

}  // namespace

// One loop's outbox. Used only on that loop's thread, except `apply`, which
// the JS thread calls (the loop makes it a post to its inbox).
class JsBridge::Outbox final : public JsSink {
 public:
  Outbox(int id, Napi::ThreadSafeFunction tsfn, std::function<void(JsOps&&)> apply)
      : apply(std::move(apply)), id_(id), tsfn_(tsfn) {
    batch_.loop = id_;
  }

  void Opened(ConnRef ref, int fd) override {
    Add(kOpened, ref, static_cast<double>(batch_.peers.size()), 0);
    batch_.peers.push_back(Addresses(fd));
  }
  void Data(ConnRef ref, const char* data, size_t len) override {
    Add(kData, ref, static_cast<double>(batch_.bytes.size()), static_cast<double>(len));
    batch_.bytes.append(data, len);
  }
  void Ended(ConnRef ref) override { Add(kEnded, ref, 0, 0); }
  void Drained(ConnRef ref) override { Add(kDrained, ref, 0, 0); }
  void Shut(ConnRef ref) override { Add(kShut, ref, 0, 0); }
  void Closed(ConnRef ref, int err) override { Add(kClosed, ref, err, 0); }
  // (kDatagram, peer, seq, offset, length): `peer` indexes the batch's peers,
  // "address,port,family", each sender once per batch.
  void Datagram(uint64_t seq, const sockaddr* peer, const char* data, size_t len) override {
    const socklen_t size = peer->sa_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
    std::string key(reinterpret_cast<const char*>(peer), size);
    auto [it, fresh] = peer_index_.try_emplace(std::move(key), batch_.peers.size());
    if (fresh) {
      std::string address;
      int port = 0, family = 0;
      FormatIp(peer, &address, &port, &family);
      batch_.peers.push_back(address + "," + std::to_string(port) + "," + std::to_string(family));
    }
    Add(kDatagram, {static_cast<int>(it->second), seq}, static_cast<double>(batch_.bytes.size()),
        static_cast<double>(len));
    batch_.bytes.append(data, len);
  }

  void Flush() override {
    if (batch_.meta.empty()) return;
    auto* out = new Batch(std::move(batch_));
    batch_ = Batch();
    peer_index_.clear();
    batch_.loop = id_;
    // napi_closing: the environment is going away; nobody is left to tell.
    if (tsfn_.NonBlockingCall(out, &CallJs) != napi_ok) delete out;
  }

  int id() const { return id_; }
  const std::function<void(JsOps&&)> apply;

 private:
  void Add(int kind, ConnRef ref, double a, double b) {
    const double event[] = {static_cast<double>(kind), static_cast<double>(ref.fd),
                            static_cast<double>(ref.generation), a, b};
    static_assert(sizeof event / sizeof event[0] == kEventStride, "one event is kEventStride numbers");
    batch_.meta.insert(batch_.meta.end(), std::begin(event), std::end(event));
  }

  const int id_;
  Napi::ThreadSafeFunction tsfn_;
  Batch batch_;
  std::unordered_map<std::string, size_t> peer_index_;  // this batch's datagram senders
};

// Takes the references that keep held Buffers (JsBytes::keep) alive back to
// the JS thread, the only one that may delete them, by the bridge's
// thread-safe function. Shared by the bridge and every keep: a keep may be
// let go after the bridge has released its function (an op dropped when
// the server stops); then nothing can reach the JS thread any more, and the
// reference is left to the environment's teardown, which frees what is left.
class JsBridge::Keeper {
 public:
  using Ref = Napi::Reference<Napi::Value>;
  explicit Keeper(Napi::ThreadSafeFunction tsfn) : tsfn_(tsfn) {}

  // Any thread: `ref` is no longer needed.
  void Let(Ref* ref) {
    std::lock_guard<std::mutex> lock(mu_);
    if (open_ && tsfn_.NonBlockingCall(ref, &Delete) == napi_ok) return;
    ref->SuppressDestruct();
    delete ref;
  }
  // JS thread, before the bridge's function is released or aborted.
  void Close() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = false;
  }

 private:
  static void Delete(Napi::Env env, Napi::Function, Ref* ref) {
    if (env == nullptr) ref->SuppressDestruct();  // the environment is going away
    delete ref;
  }

  std::mutex mu_;
  bool open_ = true;  // guarded by mu_
  Napi::ThreadSafeFunction tsfn_;
};

JsBridge::JsBridge(Napi::Env env, Napi::Function on_batch)
    : tsfn_(Napi::ThreadSafeFunction::New(env, on_batch, "netmodels:js-handler", 0, 1)),
      keeper_(std::make_shared<Keeper>(tsfn_)) {}

JsBridge::~JsBridge() { Release(); }

JsSink* JsBridge::Attach(std::function<void(JsOps&&)> apply) {
  std::lock_guard<std::mutex> lock(mu_);
  const int id = next_id_++;  // never reused: a late op cannot reach a newer loop
  auto outbox = std::make_unique<Outbox>(id, tsfn_, std::move(apply));
  Outbox* raw = outbox.get();
  loops_.emplace(id, std::move(outbox));
  return raw;
}

void JsBridge::Detach(JsSink* sink) {
  std::lock_guard<std::mutex> lock(mu_);
  loops_.erase(static_cast<Outbox*>(sink)->id());
}

Napi::Object JsBridge::Wire(Napi::Env env) {
  Napi::Object events = Napi::Object::New(env);
  for (auto [name, kind] : {std::pair{"opened", kOpened}, {"data", kData}, {"ended", kEnded}, {"drained", kDrained},
                            {"closed", kClosed}, {"shut", kShut}, {"datagram", kDatagram}}) {
    events.Set(name, static_cast<int>(kind));
  }
  Napi::Object ops = Napi::Object::New(env);
  using K = JsOps::Kind;
  for (auto [name, kind] : {std::pair{"write", K::kWrite}, {"end", K::kEnd}, {"destroy", K::kDestroy},
                            {"pause", K::kPause}, {"resume", K::kResume}, {"consumed", K::kConsumed},
                            {"noDelay", K::kNoDelay}, {"keepAlive", K::kKeepAlive}}) {
    ops.Set(name, static_cast<int>(kind));
  }
  Napi::Object wire = Napi::Object::New(env);
  wire.Set("eventStride", static_cast<double>(kEventStride));
  wire.Set("opStride", static_cast<double>(kOpStride));
  wire.Set("events", events);
  wire.Set("ops", ops);
  return wire;
}

void JsBridge::Dispatch(const Napi::CallbackInfo& info) {
  if (closed_) return;
  Napi::Env env = info.Env();
  Napi::Float64Array meta = info[0].As<Napi::Float64Array>();
  Napi::Array buffers = info[1].As<Napi::Array>();
  // A turn's ops are checked whole before any is applied: a malformed one
  // (lib and the addon disagreeing on the format) throws and applies none.
  if (meta.ElementLength() % kOpStride != 0) {
    throw CodedRangeError(env, "ERR_INVALID_ARG_VALUE", "jsOps: the ops are not whole (7 numbers each)");
  }
  std::unordered_map<int, JsOps> per_loop;
  const double* m = meta.Data();
  for (size_t i = 0; i + kOpStride <= meta.ElementLength(); i += kOpStride) {
    const double kind = m[i + 3];
    if (!(kind >= 0 && kind <= static_cast<int>(JsOps::Kind::kLast)) || kind != static_cast<int>(kind)) {
      char what[64];
      snprintf(what, sizeof what, "jsOps: unknown op kind %g", kind);
      throw CodedRangeError(env, "ERR_INVALID_ARG_VALUE", what);
    }
    JsOps& ops = per_loop[static_cast<int>(m[i])];
    JsOps::Op op;
    op.ref = {static_cast<int>(m[i + 1]), static_cast<uint64_t>(m[i + 2])};
    op.kind = static_cast<JsOps::Kind>(static_cast<int>(kind));
    op.consumed = static_cast<uint64_t>(m[i + 4]);
    // kWrite: an index into `buffers`, replaced below; kConsumed from a UDP
    // handler: the datagrams taken (0 from a connection's).
    op.index = static_cast<uint32_t>(m[i + 5]);
    op.notify = m[i + 6] != 0;
    if (op.kind == JsOps::Kind::kWrite) {
      Napi::Value value = m[i + 5] >= 0 && m[i + 5] < buffers.Length() ? buffers.Get(static_cast<uint32_t>(m[i + 5]))
                                                                        : env.Undefined();
      if (!value.IsBuffer()) throw CodedTypeError(env, "ERR_INVALID_ARG_TYPE", "jsOps: a write names no buffer");
      Napi::Buffer<char> data = value.As<Napi::Buffer<char>>();
      op.index = static_cast<uint32_t>(ops.bytes.size());
      JsBytes bytes;
      if (data.Length() < kHoldFrom) {
        bytes.own.assign(data.Data(), data.Length());
      } else {
        bytes.held = data.Data();
        bytes.held_size = data.Length();
        std::shared_ptr<Keeper> keeper = keeper_;
        bytes.keep = std::shared_ptr<const void>(new Keeper::Ref(Napi::Persistent(value)),
                                                 [keeper](Keeper::Ref* ref) { keeper->Let(ref); });
      }
      ops.bytes.push_back(std::move(bytes));
    }
    ops.ops.push_back(op);
  }
  // Under the lock, so a loop cannot detach (and free what `apply` posts
  // to) while its ops are handed over; `apply` only posts.
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& entry : per_loop) {
    auto it = loops_.find(entry.first);
    if (it != loops_.end()) it->second->apply(std::move(entry.second));
  }
}

void JsBridge::Release() {
  closed_ = true;
  if (keeper_) keeper_->Close();
  if (tsfn_) {
    tsfn_.Release();
    tsfn_ = Napi::ThreadSafeFunction();
  }
}

void JsBridge::Abort() {
  closed_ = true;
  if (keeper_) keeper_->Close();
  if (tsfn_) {
    tsfn_.Abort();
    tsfn_ = Napi::ThreadSafeFunction();
  }
}

}  // namespace nm
