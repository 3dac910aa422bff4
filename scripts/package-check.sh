#!/bin/sh
# sh scripts/package-check.sh [--no-prepare]
#
# Proves the npm package as a user gets it: packs this checkout (with its x64
# prebuild: npm run prebuildify, or `npm run prebuildify -- from-build` to
# reuse build/Release), installs the tarball into a temporary project with no
# C/C++ compiler and no make on PATH, and there runs a CommonJS and an ES
# module round trip (an epoll server, one request over node:net, the
# uppercase reply, stop) and `npx netmodels bench --models epoll`.
# The bench gets the ordinary PATH: it builds its C ceiling server from the
# scripts/ceiling.c the package ships (into a cache inside the temporary
# project, so it is built from that copy here and now).
# --no-prepare packs dist/ as it is instead of compiling it again first (CI,
# where npm ci's prepare has just built it; saves 10 s).
set -eu
cd "$(dirname "$0")/.."

pack_flags=
case "${1-}" in
  '') ;;
  --no-prepare) pack_flags=--ignore-scripts ;;
  *) echo "usage: sh scripts/package-check.sh [--no-prepare]" >&2; exit 2 ;;
esac

prebuild=prebuilds/linux-x64/netmodels.glibc.node
if [ ! -f "$prebuild" ]; then
  echo "package-check: no $prebuild: npm run prebuildify first (-- from-build reuses build/Release)" >&2
  exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/netmodels-package-check.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
started=$(date +%s)
step() { echo "package-check: [$(($(date +%s) - started)) s] $*"; }

# npm pack runs `prepare` (tsc), so dist/ is current with lib/; scripts/pack.sh
# packs it as published (a package.json with the install script alone).
step "sh scripts/pack.sh $pack_flags"
tarball=$(sh scripts/pack.sh "$tmp" $pack_flags)
if ! tar -tzf "$tarball" | grep -qx "package/$prebuild"; then
  echo "package-check: $tarball does not carry $prebuild" >&2
  exit 1
fi

# A PATH with node, npm, npx and sh (npm runs the install script with it)
# and nothing else: no cc, c++, gcc, g++, clang, make or python, so node-gyp
# could not build the addon even if the install tried.
nocc="$tmp/bin"
mkdir -p "$nocc"
for tool in node npm npx sh; do
  ln -s "$(command -v "$tool")" "$nocc/$tool"
done
for tool in cc c++ gcc g++ clang clang++ make python3; do
  if PATH="$nocc" command -v "$tool" >/dev/null 2>&1; then
    echo "package-check: $tool is on the compiler-less PATH" >&2
    exit 1
  fi
done

project="$tmp/project"
mkdir -p "$project"
cat > "$project/package.json" <<'JSON'
{ "name": "netmodels-package-check", "private": true }
JSON
step "npm install $(basename "$tarball") with PATH=$nocc"
(cd "$project" && PATH="$nocc" npm install --no-audit --no-fund --prefer-offline --loglevel=error "$tarball")
installed="$project/node_modules/netmodels"
scripts=$(node -p "Object.keys(require('$installed/package.json').scripts).join(' ')")
if [ "$scripts" != install ]; then
  echo "package-check: the published package.json has scripts '$scripts': only 'install' belongs there" >&2
  exit 1
fi
if [ -e "$installed/build" ]; then
  echo "package-check: the install built the addon ($installed/build) instead of using the prebuild" >&2
  exit 1
fi

cat > "$project/round-trip.cjs" <<'JS'
const { createServer } = require('netmodels');
require('./check.cjs')(createServer, 'cjs');
JS
cat > "$project/round-trip.mjs" <<'JS'
import { createRequire } from 'node:module';
import { createServer } from 'netmodels';
createRequire(import.meta.url)('./check.cjs')(createServer, 'esm');
JS
# The round trip both module systems run, given their own createServer.
cat > "$project/check.cjs" <<'JS'
const net = require('node:net');
module.exports = async function check(createServer, label) {
  try {
    const server = createServer('epoll', { port: 0 });
    const { port } = await server.start();
    const request = 'hello, package\n';
    const reply = await new Promise((resolve, reject) => {
      let got = '';
      const socket = net.connect({ port, host: '127.0.0.1' }, () => socket.write(request));
      socket.setEncoding('latin1');
      socket.on('data', (chunk) => {
        got += chunk;
        if (got.length >= request.length) {
          socket.end();
          resolve(got);
        }
      });
      socket.on('error', reject);
      socket.on('close', () => resolve(got));
    });
    await server.stop();
    if (reply !== request.toUpperCase()) throw new Error(`reply ${JSON.stringify(reply)}`);
    console.log(`package-check: ${label}: epoll on port ${port} answered ${JSON.stringify(reply)}; stopped`);
  } catch (err) {
    console.error(`package-check: ${label}:`, err);
    process.exitCode = 1;
  }
};
JS
step "CommonJS round trip (PATH=$nocc)"
(cd "$project" && PATH="$nocc" node round-trip.cjs)
step "ES module round trip (PATH=$nocc)"
(cd "$project" && PATH="$nocc" node round-trip.mjs)

step "npx netmodels bench --models epoll --duration 0.3"
(cd "$project" && XDG_CACHE_HOME="$tmp/cache" npx netmodels bench --models epoll --duration 0.3)
step "ok ($(basename "$tarball"))"
