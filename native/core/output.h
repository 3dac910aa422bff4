// Where a handler's replies go: the seam between a protocol (core/handler.h,
// core/http.h) and the connection that sends.
#pragma once

#include <cstddef>

namespace nm {

// emit() either sends now or queues; the connection decides. Implementations
// must be async-signal-safe when used in a forked child.
class Output {
 public:
  virtual void emit(const char* data, size_t len) = 0;

 protected:
  ~Output() = default;
};

}  // namespace nm
