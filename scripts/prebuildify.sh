#!/bin/sh
# npm run prebuildify [-- TARGET...]
#
# Builds the addons the npm package carries, tagged with their libc as
# node-gyp-build looks for them:
#   prebuilds/linux-x64/netmodels.glibc.node    (TARGET x64)
#   prebuilds/linux-arm64/netmodels.glibc.node  cross-built (TARGET arm64)
# No TARGET builds both. Each is compiled by clang against a Debian 11
# sysroot (scripts/sysroot.sh: glibc 2.31, GCC 10's libstdc++, linked in
# statically), so it loads on glibc 2.28 or newer whatever this machine's
# glibc; scripts/check-abi.sh checks each one (glibc symbol versions up to
# 2.28, no libstdc++ or libgcc_s, N-API's registration the only export) and
# fails the run when one is over.
# TARGET from-build makes the x64 one from the addon `npm ci` / `npm run
# build:native` left in build/Release instead of building it again (CI):
# prebuildify runs the same `node-gyp rebuild`, so stripping that addon gives
# the file it would build, when that addon was built against the sysroot too:
#   ( eval "$(sh scripts/sysroot.sh --env x64)"; npm ci )
# The check refuses one built with the system's toolchain.
#
# Run it through npm: npm passes node-gyp the local Node headers (nodedir);
# called directly, node-gyp tries to download them.
#
# Needs clang, and for arm64 binutils-aarch64-linux-gnu (the linker; the
# io_uring model needs only the kernel headers the sysroot has):
#   apt-get install clang binutils-aarch64-linux-gnu
#
# prebuildify builds in build/ and moves the addon out of it: afterwards the
# checkout loads prebuilds/linux-x64 until `npm run build:native`.
set -eu
cd "$(dirname "$0")/.."

# Each target replaces its folder, so no stale addon (say, an untagged one
# from an older prebuildify) ships beside the new one.

# The file(1) description each addon must have.
check() { # FILE PATTERN
  desc=$(file -b "$1")
  echo "prebuildify: $1: $desc"
  case "$desc" in
    *"$2"*) ;;
    *) echo "prebuildify: $1 is not $2" >&2; exit 1 ;;
  esac
}

# Exports CC, CXX and LINK for the sysroot of ARCH (callers run it in a
# subshell). The output is kept first: set -e stops on a failure there,
# which an eval of the command substitution itself would hide.
sysroot_env() { # ARCH
  env_lines=$(sh scripts/sysroot.sh --env "$1")
  eval "$env_lines"
}

x64() {
  rm -rf prebuilds/linux-x64
  (
    sysroot_env x64
    prebuildify --napi --strip --tag-libc --arch x64
  )
  check prebuilds/linux-x64/netmodels.glibc.node 'ELF 64-bit LSB shared object, x86-64'
  sh scripts/check-abi.sh prebuilds/linux-x64/netmodels.glibc.node
}

from_build() {
  src=build/Release/netmodels.node
  if [ ! -f "$src" ]; then
    echo "prebuildify: no $src to reuse: npm run build:native first, or npm run prebuildify -- x64" >&2
    exit 1
  fi
  check "$src" 'ELF 64-bit LSB shared object, x86-64'
  rm -rf prebuilds/linux-x64
  mkdir -p prebuilds/linux-x64
  strip --strip-all -o prebuilds/linux-x64/netmodels.glibc.node "$src"
  check prebuilds/linux-x64/netmodels.glibc.node 'ELF 64-bit LSB shared object, x86-64'
  sh scripts/check-abi.sh prebuilds/linux-x64/netmodels.glibc.node
}

arm64() {
  cross=aarch64-linux-gnu
  if ! command -v "$cross-ld" >/dev/null 2>&1; then
    echo "prebuildify: no $cross-ld (Debian: apt-get install binutils-$cross)" >&2
    exit 1
  fi
  rm -rf prebuilds/linux-arm64
  (
    sysroot_env arm64
    AR=$cross-ar PREBUILD_STRIP_BIN=$cross-strip prebuildify --napi --strip --tag-libc --arch arm64
  )
  check prebuilds/linux-arm64/netmodels.glibc.node 'ELF 64-bit LSB shared object, ARM aarch64'
  sh scripts/check-abi.sh prebuilds/linux-arm64/netmodels.glibc.node
}

# arm64 first: build/ is left with the host's objects, not the cross ones.
[ "$#" -gt 0 ] || set -- arm64 x64
for target in "$@"; do
  case "$target" in
    x64) x64 ;;
    arm64) arm64 ;;
    from-build) from_build ;;
    *) echo "prebuildify: unknown target '$target' (x64, arm64, from-build)" >&2; exit 2 ;;
  esac
done
