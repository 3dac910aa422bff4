#!/bin/sh
# Builds the HTTP handler's libFuzzer harness with clang and runs it on the
# seed corpus; arguments go to libFuzzer (e.g. -max_total_time=60).
# New inputs the fuzzer finds land in fuzz/out/corpus, never in the seeds.
set -eu
cd "$(dirname "$0")/.."
CXX=${CLANGXX:-clang++}
if ! command -v "$CXX" >/dev/null 2>&1; then
  echo "fuzz: $CXX not found (Debian: apt-get install -y clang)" >&2
  exit 1
fi
mkdir -p fuzz/out/corpus
"$CXX" -std=c++17 -g -O1 -Wall -Wextra -Inative \
  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  fuzz/http_fuzz.cc native/core/handler.cc -o fuzz/out/http_fuzz
exec fuzz/out/http_fuzz -dict=fuzz/http.dict -max_len=4096 -rss_limit_mb=512 \
  -artifact_prefix=fuzz/out/ fuzz/out/corpus fuzz/corpus "$@"
