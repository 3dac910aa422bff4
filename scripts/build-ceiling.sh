#!/bin/sh
# Builds the C ceiling server (scripts/ceiling.c) without npm or node-gyp.
# Usage: scripts/build-ceiling.sh [output]   (default: scripts/ceiling)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-"$here/ceiling"}
${CC:-cc} -O3 -Wall -Wextra -o "$out" "$here/ceiling.c"
echo "$out"
