#!/bin/sh
# sh scripts/check-abi.sh [--glibc X.Y | --exports] ADDON...
#
# What an addon asks of the machine that loads it, read from its dynamic
# symbol table (readelf, which reads any architecture's ELF):
#   - no symbol version of glibc above X.Y (default 2.28: RHEL/Rocky 8,
#     Ubuntu 20.04, Debian 11), each one above named with its symbols;
#   - no libstdc++ or libgcc_s (GLIBCXX_, CXXABI_, GCC_ versions, or a
#     NEEDED entry): those systems' libstdc++ is older than any compiler
#     that builds the addon, so it carries its own, linked in statically;
#   - no export but N-API's module registration (napi_register_module_v1,
#     node_api_module_get_api_version_v1): the addon is built with hidden
#     visibility, and libstdc++'s symbols stay inside it.
# --exports checks the exports alone: a build from source with the system
# toolchain, whose glibc and libstdc++ are the machine's own.
# scripts/prebuildify.sh runs it on each prebuild; test/prebuild.test.ts too.
# Exits 1, saying what is over, when an addon fails.
set -eu

ceiling=2.28
exports_only=
case "${1-}" in
  --glibc) ceiling=${2:?usage: sh scripts/check-abi.sh [--glibc X.Y | --exports] ADDON...}; shift 2 ;;
  --exports) exports_only=1; shift ;;
esac
if [ "$#" -eq 0 ]; then
  echo "usage: sh scripts/check-abi.sh [--glibc X.Y | --exports] ADDON..." >&2
  exit 2
fi
case "$ceiling" in
  [0-9]*.[0-9]*) ;;
  *) echo "check-abi: --glibc wants a version like 2.28, not '$ceiling'" >&2; exit 2 ;;
esac
if ! command -v readelf >/dev/null 2>&1; then
  echo "check-abi: needs readelf (binutils)" >&2
  exit 1
fi

status=0
for addon in "$@"; do
  if [ ! -f "$addon" ]; then
    echo "check-abi: no $addon" >&2
    status=1
    continue
  fi
  # NAME@VERSION (or NAME@@VERSION) per symbol; UND for the ones it needs.
  syms=$(readelf --dyn-syms --wide "$addon")
  needed=$(readelf --dynamic --wide "$addon" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
  problems=$(
    printf '%s\n' "$syms" | awk -v ceiling="$ceiling" -v exports_only="$exports_only" '
      # Compares dotted versions numerically: 1 when a > b.
      function newer(a, b,   x, y, n, i) {
        n = split(a, x, "."); split(b, y, ".")
        for (i = 1; i <= n || i in y; i++) {
          if ((x[i] + 0) != (y[i] + 0)) return (x[i] + 0) > (y[i] + 0)
        }
        return 0
      }
      $1 ~ /^[0-9]+:$/ && NF >= 8 {
        name = $8; version = ""
        if (index(name, "@")) { version = name; sub(/^[^@]*@+/, "", version); sub(/@.*/, "", name) }
        if ($7 == "UND") {
          if (exports_only) next
          if (version ~ /^GLIBC_[0-9.]+$/) {
            v = substr(version, 7)
            if (newer(v, ceiling) && ++count[v] <= 4) over[v] = over[v] " " name
          } else if (match(version, /^(GLIBCXX|CXXABI|GCC)_/)) {
            family = substr(version, 1, RLENGTH - 1); v = substr(version, RLENGTH + 1)
            if (!(family in top) || newer(v, top[family])) top[family] = v
          }
        } else if (($5 == "GLOBAL" || $5 == "WEAK") && $6 == "DEFAULT" && name != "") {
          if (name != "napi_register_module_v1" && name != "node_api_module_get_api_version_v1") {
            if (++exported <= 4) some = some " " name
          }
        }
      }
      END {
        for (v in over) print "needs GLIBC_" v ", above " ceiling ":" over[v] (count[v] > 4 ? " ..." : "")
        for (family in top) print "needs " family "_" top[family] " (" (family == "GCC" ? "libgcc_s" : "libstdc++") ", which must be linked in statically)"
        if (exported) print "exports " exported " symbols besides the N-API registration (hidden visibility lost?):" some (exported > 4 ? " ..." : "")
      }' | sort -V
  )
  if [ -z "$exports_only" ]; then
    for lib in $needed; do
      case "$lib" in
        libstdc++.so*|libgcc_s.so*) problems="$problems
links $lib (-static-libstdc++ -static-libgcc link it in)" ;;
      esac
    done
  fi
  problems=$(printf '%s\n' "$problems" | sed '/^$/d')
  if [ -n "$problems" ]; then
    printf '%s\n' "$problems" | sed "s|^|check-abi: $addon: |" >&2
    if [ -z "$exports_only" ]; then
      echo "check-abi: $addon: the prebuilds must load on glibc $ceiling with the system's libstdc++ left alone: build them with npm run prebuildify (against the sysroot of scripts/sysroot.sh)" >&2
    fi
    status=1
    continue
  fi
  highest=$(printf '%s\n' "$syms" | grep -o '@GLIBC_[0-9.]*' | sed 's/@GLIBC_//' | sort -u -t. -k1,1n -k2,2n -k3,3n | tail -n 1)
  if [ -n "$exports_only" ]; then
    echo "check-abi: $addon: exports the N-API registration alone"
  else
    echo "check-abi: $addon: glibc ${highest:-none} at most (ceiling $ceiling), no libstdc++ or libgcc_s, exports the N-API registration alone"
  fi
done
exit "$status"
