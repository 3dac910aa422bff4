#!/bin/sh
# sh scripts/sysroot.sh [--env] ARCH        (ARCH: x64 or arm64)
#
# Makes build-sysroot/bullseye-ARCH, a Debian 11 (bullseye) sysroot: glibc
# 2.31's headers and libraries, the kernel's UAPI headers and GCC 10's
# libstdc++ and libgcc (static, to link in; shared too, so a test can run
# node itself on this glibc), from Debian's archive. Prints its path; with --env,
# instead, the shell lines that point node-gyp's build at it:
#   ( eval "$(sh scripts/sysroot.sh --env x64)"; npm run build:native )
# CC, CXX and LINK become clang (it takes GCC's headers, start files and
# libraries from the sysroot, where g++ keeps its own) for the target, with
# libstdc++ and libgcc linked in statically and their symbols kept out of
# the addon's exports, and scripts/glibc-2.28.h included first in every
# C++ file. arm64 also needs binutils-aarch64-linux-gnu (the linker).
#
# The prebuilds are compiled against it (scripts/prebuildify.sh) so they load
# where the host's glibc would be too new to ask for: an addon linked on
# Debian 12 references GLIBC_2.34 symbols (pthread_* moved into libc there)
# and GCC 12's libstdc++. Linked against this glibc, with libstdc++ and libgcc
# linked in statically, the addon references nothing past GLIBC_2.28 (RHEL 8,
# Ubuntu 20.04, Debian 11): scripts/check-abi.sh checks that.
#
# The packages are pinned by version and SHA-256 (bullseye's last point
# release; bullseye takes no more), so the sysroot is the same everywhere.
# NETMODELS_DEBIAN_MIRROR names another mirror of the archive (default
# http://deb.debian.org/debian; archive.debian.org/debian once bullseye moves
# there). Needs curl and dpkg-deb. The .debs are kept in build-sysroot/debs.
set -eu
cd "$(dirname "$0")/.."

mirror=${NETMODELS_DEBIAN_MIRROR:-http://deb.debian.org/debian}
env=
if [ "${1-}" = --env ]; then
  env=1
  shift
fi
arch=${1:?usage: sh scripts/sysroot.sh [--env] x64|arm64}
case "$arch" in
  x64) deb_arch=amd64 triple=x86_64-linux-gnu ;;
  arm64) deb_arch=arm64 triple=aarch64-linux-gnu ;;
  *) echo "sysroot: unknown arch '$arch' (x64, arm64)" >&2; exit 2 ;;
esac

# pool path, then SHA-256 per architecture.
pins() {
  case "$deb_arch" in
    amd64) cat <<'EOF'
pool/main/g/glibc/libc6_2.31-13+deb11u11_amd64.deb 05f7264da867b37f4c5ce49266b558ea1e81e05a9464f623152fca70f3550282
pool/main/g/glibc/libc6-dev_2.31-13+deb11u11_amd64.deb e7f7b45d9c5cfcf37609f0b6efd3c645272c812144703af89dfd32218fcb0fd3
pool/main/l/linux/linux-libc-dev_5.10.223-1_amd64.deb e3be603bd12377bb90fcfb0f2048ca3a81c886e49d6f09945b82159d1c54f7b2
pool/main/g/gcc-10/libgcc-10-dev_10.2.1-6_amd64.deb 3b711374092b84e732c4e73cf33e02cff02e34a5f105eb6467de8d9038e4cd9d
pool/main/g/gcc-10/libstdc++-10-dev_10.2.1-6_amd64.deb 20b1f56863dcc5f187d6cb53b2aa6149bd013be4ec67e10c2c31a22fda619a01
pool/main/g/gcc-10/libstdc++6_10.2.1-6_amd64.deb 5c155c58935870bf3b4bfe769116841c0d286a74f59eccfd5645693ac23f06b1
pool/main/g/gcc-10/libgcc-s1_10.2.1-6_amd64.deb e478f2709d8474165bb664de42e16950c391f30eaa55bc9b3573281d83a29daf
EOF
    ;;
    arm64) cat <<'EOF'
pool/main/g/glibc/libc6_2.31-13+deb11u11_arm64.deb baaa9aa184e2f21738c5819055e6740cc5b22f198e3f416e33f82b40ff6933d8
pool/main/g/glibc/libc6-dev_2.31-13+deb11u11_arm64.deb 28d478134722dcd4b0bd2045a199301d18713bf95947b9fce66634e7aeacab2e
pool/main/l/linux/linux-libc-dev_5.10.223-1_arm64.deb 8b6374a64412d33eac61d74f77b8f932da4b8a707ea8a614791e2a35b8917618
pool/main/g/gcc-10/libgcc-10-dev_10.2.1-6_arm64.deb 80fc73d339ada2e194175afe83cd89014565242153b6e3c2128849d8817da367
pool/main/g/gcc-10/libstdc++-10-dev_10.2.1-6_arm64.deb cee7ca63613b50a8a51cc670db385c7e6d1181b72c94148fc8b7992e4570782d
pool/main/g/gcc-10/libstdc++6_10.2.1-6_arm64.deb 7869aa540cc46e9f3d4267d5bde2af0e5b429a820c1d6f1a4cfccfe788c31890
pool/main/g/gcc-10/libgcc-s1_10.2.1-6_arm64.deb e2fcdb378d3c1ad1bcb64d4fb6b37aab44011152beca12a4944f435a2582df1f
EOF
    ;;
  esac
}

root="build-sysroot/bullseye-$arch"
stamp="$root/.pins"

# What this script prints once the sysroot is there.
done_() {
  sysroot="$(pwd)/$root"
  if [ -z "$env" ]; then
    echo "$sysroot"
    exit 0
  fi
  if ! command -v clang++ >/dev/null 2>&1; then
    echo "sysroot: the build against the sysroot needs clang (Debian: apt-get install clang)" >&2
    exit 1
  fi
  cc="--target=$triple --sysroot=$sysroot"
  echo "export CC='clang $cc'"
  echo "export CXX='clang++ $cc -include $(pwd)/scripts/glibc-2.28.h'"
  echo "export LINK='clang++ $cc -static-libstdc++ -static-libgcc -Wl,--exclude-libs,ALL'"
  exit 0
}

# Already made from these very packages.
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$(pins)" ]; then
  done_
fi

for tool in curl dpkg-deb sha256sum; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "sysroot: needs $tool" >&2
    exit 1
  fi
done

mkdir -p build-sysroot/debs
rm -rf "$root"
mkdir -p "$root"
pins | while read -r file sum; do
  deb="build-sysroot/debs/$(basename "$file")"
  if ! echo "$sum  $deb" | sha256sum -c --status 2>/dev/null; then
    echo "sysroot: $mirror/$file" >&2
    curl -fsSL --retry 3 -o "$deb.part" "$mirror/$file"
    mv "$deb.part" "$deb"
    if ! echo "$sum  $deb" | sha256sum -c --status; then
      echo "sysroot: $deb does not have the SHA-256 pinned here ($sum): a changed mirror?" >&2
      rm -f "$deb"
      exit 1
    fi
  fi
  dpkg-deb -x "$deb" "$root"
done

# Debian links across /lib and /usr/lib by absolute paths (libpthread.so ->
# /lib/.../libpthread.so.0): inside a sysroot they would reach the host's
# libraries. Each becomes relative, so it stays inside.
find "$root" -type l | while read -r link; do
  target=$(readlink "$link")
  case "$target" in
    /*)
      rel=$(realpath -m --relative-to="$(dirname "$link")" "$root$target")
      ln -sfn "$rel" "$link"
      ;;
  esac
done
pins > "$stamp"
done_
