// A test-only window onto the HTTP/1.1 request framing (core/http.h, the
// built-in "http" handler): `httpFrame(bytes, splits?)` runs HandleHttp() on
// a buffer with no socket, cut at the given offsets into one call per piece,
// and stops at the call that says close, as a connection does. It returns
// { output, closed, ends, consumed }: the replies, whether the parser closed,
// the output length after each call made, and the input bytes handed over.
// The tests replay the fuzzer's corpus through it, every split point
// included, on machines without clang.
#include <napi.h>

#include <vector>

#include "addon.h"
#include "core/http.h"

namespace nm {

namespace {

class Collect final : public Output {
 public:
  void emit(const char* data, size_t len) override { bytes.insert(bytes.end(), data, data + len); }
  std::vector<char> bytes;
};

Napi::Value HttpFrame(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsBuffer()) {
    throw Napi::TypeError::New(env, "httpFrame(bytes: Buffer, splits?: number[])");
  }
  auto buf = info[0].As<Napi::Buffer<char>>();
  const char* input = buf.Data();
  const size_t size = buf.Length();
  std::vector<size_t> cuts;
  if (info.Length() > 1 && !info[1].IsUndefined()) {
    if (!info[1].IsArray()) throw Napi::TypeError::New(env, "splits must be an array of offsets");
    auto splits = info[1].As<Napi::Array>();
    size_t last = 0;
    for (uint32_t i = 0; i < splits.Length(); i++) {
      Napi::Value v = splits.Get(i);
      const double at = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
      if (!(at > static_cast<double>(last) && at < static_cast<double>(size)) ||
          at != static_cast<double>(static_cast<size_t>(at))) {
        throw Napi::RangeError::New(env, "splits must be increasing offsets inside the buffer");
      }
      last = static_cast<size_t>(at);
      cuts.push_back(last);
    }
  }
  cuts.push_back(size);

  HttpState state;
  Collect out;
  Napi::Array ends = Napi::Array::New(env);
  bool closed = false;
  size_t from = 0;
  for (size_t cut : cuts) {
    if (cut == from) continue;  // an empty buffer
    closed = !HandleHttp(state, input + from, cut - from, out);
    ends.Set(ends.Length(), Napi::Number::New(env, static_cast<double>(out.bytes.size())));
    from = cut;
    if (closed) break;
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("output", Napi::Buffer<char>::Copy(env, out.bytes.data(), out.bytes.size()));
  result.Set("closed", Napi::Boolean::New(env, closed));
  result.Set("ends", ends);
  result.Set("consumed", Napi::Number::New(env, static_cast<double>(from)));
  return result;
}

}  // namespace

void InitHttpProbe(Napi::Env env, Napi::Object exports) {
  exports.Set("httpFrame", Napi::Function::New(env, HttpFrame, "httpFrame"));
}

}  // namespace nm
