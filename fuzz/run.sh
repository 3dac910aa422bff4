#!/bin/sh
# Builds the libFuzzer harness of the HTTP/1.1 framing (native/core/http.cc)
# with clang and runs it on the seed corpus; arguments go to libFuzzer
# (e.g. -max_total_time=60).
# New inputs the fuzzer finds land in fuzz/out/corpus, never in the seeds.
set -eu
cd "$(dirname "$0")/.."
CXX=${CLANGXX:-clang++}
if ! command -v "$CXX" >/dev/null 2>&1; then
  echo "fuzz: $CXX not found (Debian: apt-get install -y clang)" >&2
  exit 1
fi
mkdir -p fuzz/out/corpus
# The sanitizer headers (<sanitizer/allocator_interface.h>) and the libFuzzer,
# ASan and UBSan runtimes come with compiler-rt, which Debian packages apart
# from clang (libclang-rt-N-dev, N its major version) and pulls in only as a
# recommendation. Probed as the harness uses them, whatever the runtimes'
# directory layout in this LLVM.
rt="libclang-rt-$("$CXX" -dumpversion | cut -d. -f1)-dev"
if ! echo '#include <sanitizer/allocator_interface.h>' | "$CXX" -x c++ -fsyntax-only - 2>/dev/null; then
  echo "fuzz: $CXX has no <sanitizer/allocator_interface.h> (Debian: apt-get install -y $rt)" >&2
  exit 1
fi
echo 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }' |
  "$CXX" -x c++ -fsanitize=fuzzer,address,undefined - -o fuzz/out/probe 2>/dev/null || {
  echo "fuzz: $CXX cannot link a libFuzzer target: no fuzzer/sanitizer runtime (Debian: apt-get install -y $rt)" >&2
  exit 1
}
rm -f fuzz/out/probe
"$CXX" -std=c++17 -g -O1 -Wall -Wextra -Inative \
  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  fuzz/http_fuzz.cc native/core/http.cc -o fuzz/out/http_fuzz
exec fuzz/out/http_fuzz -dict=fuzz/http.dict -max_len=4096 -rss_limit_mb=512 \
  -artifact_prefix=fuzz/out/ fuzz/out/corpus fuzz/corpus "$@"
