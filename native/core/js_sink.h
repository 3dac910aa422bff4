// The seam between a loop that serves connections for a JavaScript handler
// and the bridge that carries bytes to and from the JS thread (native/js/).
// Plain C++: models see only these interfaces, never N-API.
//
// Batching is the contract: a loop reports everything that happened to its
// JS connections during one round into its JsSink, and calls Flush() once at
// the end of the round, which is one thread-safe call into JS carrying all
// of it. What JS does in reply comes back as one JsOps per loop per JS turn,
// posted to the loop's inbox.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

struct sockaddr;

namespace nm {

// A connection as another thread names it: the fd alone could already belong
// to a newer connection when a late message arrives, the generation cannot.
struct ConnRef {
  int fd;
  uint64_t generation;
};

// The bytes of one JS write: a copy (`own`), or, for a large Buffer, JS's
// own memory (`held`), kept alive by `keep` until its last holder lets go,
// on whatever thread; the bridge then releases the Buffer on the JS thread.
// A holder may keep `keep` (and so the bytes) past the JsOps it came in.
struct JsBytes {
  std::string own;
  const char* held = nullptr;
  size_t held_size = 0;
  std::shared_ptr<const void> keep;

  const char* data() const { return keep ? held : own.data(); }
  size_t size() const { return keep ? held_size : own.size(); }
};

// Everything one JS turn asked of one loop's connections, in order.
struct JsOps {
  enum class Kind : uint8_t {
    kWrite,    // send `bytes[index]`
    kEnd,      // half-close once the output is flushed
    kDestroy,  // close now, unsent output dropped
    kPause,    // stop reading
    kResume,   // read again
    kConsumed, // nothing but the flow control in `consumed`
    kNoDelay,  // TCP_NODELAY to `notify`
    kKeepAlive,  // SO_KEEPALIVE to `notify`; TCP_KEEPIDLE to `index` seconds when > 0
    kLast = kKeepAlive,
  };
  struct Op {
    ConnRef ref;
    Kind kind;
    uint64_t consumed;  // input bytes JS has taken since its last op (flow control)
    uint32_t index;     // kWrite: which entry of `bytes`; kKeepAlive: its idle seconds
    bool notify;        // kWrite: report Drained once the output is all sent; kNoDelay, kKeepAlive: on
  };
  std::vector<Op> ops;
  std::vector<JsBytes> bytes;
};

// One loop's outbox to JS. Called only on that loop's thread.
class JsSink {
 public:
  virtual ~JsSink() = default;
  // A new connection; `fd` is valid only during the call (addresses are read from it).
  virtual void Opened(ConnRef ref, int fd) = 0;
  virtual void Data(ConnRef ref, const char* data, size_t len) = 0;
  // The peer half-closed: no more data will come.
  virtual void Ended(ConnRef ref) = 0;
  // The output was all sent, after a write that asked to be told (notify).
  virtual void Drained(ConnRef ref) = 0;
  // JS's end(): the output was flushed and the write side is shut.
  virtual void Shut(ConnRef ref) = 0;
  // The connection is gone; `err` is 0, or the errno that broke it (a
  // reset peer: ECONNRESET), which JS reports as net.Socket does.
  virtual void Closed(ConnRef ref, int err) = 0;
  // A datagram for a UDP handler, from `peer`: `seq` is how JS's reply names
  // it (a kWrite whose ref.generation is `seq`); a kConsumed op's `consumed`
  // counts the bytes and `index` the datagrams JS has taken since the last.
  virtual void Datagram(uint64_t seq, const sockaddr* peer, const char* data, size_t len) = 0;
  // The end of a round: hands everything reported since the last Flush to JS.
  virtual void Flush() = 0;
};

// The bridge as a model sees it: each loop (an event loop, or the thread
// serving one connection of a blocking model) attaches, from any thread, and
// gets its sink; `apply` is how the bridge delivers JS's ops to that loop
// (the loop posts them to its inbox and applies them on its thread). A loop
// that ends before the server does detaches after its last Flush(): from
// then on `apply` is never called again.
class JsHub {
 public:
  virtual ~JsHub() = default;
  virtual JsSink* Attach(std::function<void(JsOps&&)> apply) = 0;
  virtual void Detach(JsSink* sink) = 0;
};

}  // namespace nm
