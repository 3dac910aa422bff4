#include "core/handler.h"

#include <cstring>

namespace nm {

namespace {

// ASCII toupper without the locale lookup, written so the compiler vectorises it.
void Uppercase(char* data, size_t len) {
  auto* p = reinterpret_cast<unsigned char*>(data);
  for (size_t i = 0; i < len; i++) {
    const unsigned char c = p[i];
    p[i] = static_cast<unsigned char>(c - ((static_cast<unsigned char>(c - 'a') < 26) ? 32 : 0));
  }
}

}  // namespace

Verdict Handle(HandlerState& state, char* data, size_t len, Output& out) {
  switch (state.kind) {
    case HandlerKind::kUppercase:
      Uppercase(data, len);
      out.emit(data, len);
      return Verdict::kMore;
    case HandlerKind::kEcho:
      out.emit(data, len);
      return Verdict::kMore;
    case HandlerKind::kDiscard:
      return Verdict::kMore;
    case HandlerKind::kHttp:
      return HandleHttp(state.http, data, len, out) ? Verdict::kMore : Verdict::kClose;
    case HandlerKind::kJs:
      state.js.sink->Data(state.js.ref, data, len);
      state.js.unacked += len;
      return state.js.unacked >= state.js.high_water ? Verdict::kWait : Verdict::kMore;
  }
  return Verdict::kMore;
}

bool ParseHandlerKind(const char* name, HandlerKind* kind) {
  static const struct {
    const char* name;
    HandlerKind kind;
  } kKinds[] = {{"uppercase", HandlerKind::kUppercase},
                {"echo", HandlerKind::kEcho},
                {"discard", HandlerKind::kDiscard},
                {"http", HandlerKind::kHttp},
                {"js", HandlerKind::kJs}};
  for (const auto& k : kKinds) {
    if (strcmp(name, k.name) == 0) {
      *kind = k.kind;
      return true;
    }
  }
  return false;
}

}  // namespace nm
