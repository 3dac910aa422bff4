#!/bin/sh
# npm run test:sanitize [-- test files...]
#
# Builds the addon with AddressSanitizer and UndefinedBehaviorSanitizer into
# build-sanitize/ (build/ is left alone) and runs the native-heavy test files
# against it, in node processes preloaded with the sanitizer runtimes.
# Arguments replace the default list of test files.
#
# Any sanitizer report fails the run, whichever process it came from:
#   - ASan writes its reports under build-sanitize/logs/ (one file per
#     process), which also catches the children forked by the process
#     models, whose crash a test might take for an ordinary exit, and
#     processes whose stderr a test captures;
#   - UBSan, built beside ASan, is its own runtime in GCC and ignores
#     log_path: its reports go to stderr, so the run's output is kept in
#     build-sanitize/vitest.log and searched for them (and for ASan reports
#     that could not reach their log file, e.g. with the fd table full).
# Both halt the process that reported, so the test in it fails as well.
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)
out=build-sanitize

CC=${CC:-gcc}
asan=$("$CC" -print-file-name=libasan.so)
ubsan=$("$CC" -print-file-name=libubsan.so)
# -print-file-name echoes the bare name back when it finds no such file.
if [ ! -e "$asan" ] || [ ! -e "$ubsan" ]; then
  echo "sanitize: $CC has no libasan.so/libubsan.so (Debian: apt-get install -y g++)" >&2
  exit 1
fi

# node-gyp builds into ./build of the directory it runs in: a package-like
# copy of the sources (binding.gyp globs native/ from its own directory)
# whose build/Release then holds the sanitized addon. node_modules
# (node-addon-api) resolves from the repository root above it.
# Copies keep their mtimes and gyp's Makefile also compares command lines,
# so a second run recompiles only what changed.
rm -rf "$out/native" "$out/scripts" "$out/logs" "$out/vitest.log" "$out/vitest.status"
mkdir -p "$out/logs"
cp -p binding.gyp "$out/"
cp -pR native "$out/native"
cat > "$out/package.json" <<'JSON'
{
  "name": "netmodels-sanitize-build",
  "private": true,
  "scripts": { "build": "node-gyp configure build" }
}
JSON

# gyp's Makefile appends $CXXFLAGS/$LDFLAGS after binding.gyp's own flags,
# so -O1 here wins over its -O3 (shorter, truer stacks).
# -fno-sanitize=vptr: UBSan's vptr check decides whether an object's memory
# is readable by writing it into a pipe; while a test has exhausted the fd
# table (the servers' EMFILE paths, test/emfile.test.ts) that pipe cannot be
# created and the check reports valid objects ("member call on address ...
# which does not point to an object of type 'BlockingModel' ... invalid
# vptr ... <memory cannot be printed>").
# -DNM_CHECK_THREADS=1: loop-only methods assert they run on their loop's
# thread (native/core/loop_thread.h); free in the release build.
flags="-fsanitize=address,undefined -fno-sanitize=vptr -fno-sanitize-recover=all -fno-omit-frame-pointer -g -O1 -DNM_CHECK_THREADS=1"
(cd "$out" && CFLAGS="$flags" CXXFLAGS="$flags" LDFLAGS="-fsanitize=address,undefined" npm run --silent build)
# lifecycle.test.ts runs dist/ in child processes: keep it current with lib/.
npm run --silent build:ts

if [ "$#" -eq 0 ]; then
  set -- test/conformance-*.test.ts test/http.test.ts test/loadgen.test.ts \
    test/loadgen-models.test.ts test/lifecycle.test.ts test/uring.test.ts test/js-handler.test.ts
fi

# Every process started from here inherits these, vitest's forks and the
# node/forked children the tests start included.
export NETMODELS_BINDING_DIR="$root/$out"
export NETMODELS_CONFIGS=sanitize  # one config per native code path (test/configs.ts)
# Tests that assert an order of real times (a gap below an idle timeout)
# stretch both: the sanitized addon runs several times slower (test/helpers.ts).
export NETMODELS_TEST_TIME_SCALE=3
export LD_PRELOAD="$asan:$ubsan"
# V8 keeps memory alive until exit by design: leak reports would be noise.
export ASAN_OPTIONS="detect_leaks=0:log_path=$root/$out/logs/asan"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

# POSIX sh has no pipefail: vitest's status travels through a file.
{
  status=0
  vitest run "$@" 2>&1 || status=$?
  echo "$status" > "$out/vitest.status"
} | tee "$out/vitest.log"
status=$(cat "$out/vitest.status")

unset LD_PRELOAD
failed=0
for f in $(find "$out/logs" -type f -size +0 | LC_ALL=C sort); do
  echo "==== $f" >&2
  cat "$f" >&2
  failed=1
done
if grep -E "runtime error: |ERROR: [A-Za-z]*Sanitizer|Sanitizer CHECK failed|ERROR: Can't open file" "$out/vitest.log" >&2; then
  failed=1
fi
if [ "$failed" -ne 0 ]; then
  echo "sanitize: sanitizer reports above" >&2
  exit 1
fi
exit "$status"
