#!/bin/sh
# sh scripts/pack.sh DEST_DIR [npm pack flags...]
#
# npm pack of the package as it is published: the files `npm pack` would
# take from this checkout, under a package.json whose scripts are the
# install script alone. The dev scripts (prepare's tsc, build, test...)
# mean nothing in an installed package, and npm lists every script it
# finds there in its install warnings. Packs a staging copy, so the
# checkout's own package.json is never rewritten (an interrupted pack
# cannot leave it changed). Prints the tarball's path.
set -eu
cd "$(dirname "$0")/.."
dest=${1:?usage: sh scripts/pack.sh DEST_DIR [npm pack flags...]}
shift
dest=$(cd "$dest" && pwd)

stage=$(mktemp -d "${TMPDIR:-/tmp}/netmodels-pack.XXXXXX")
trap 'rm -rf "$stage"' EXIT
# The file list npm would pack (prepare, when not skipped, has run by now).
npm pack --dry-run --json "$@" 2>/dev/null |
  node -e '
    const files = JSON.parse(require("fs").readFileSync(0, "utf8"))[0].files.map((f) => f.path);
    process.stdout.write(files.filter((f) => f !== "package.json").join("\n") + "\n");
  ' |
  while IFS= read -r f; do
    mkdir -p "$stage/$(dirname "$f")"
    cp -p "$f" "$stage/$f"
  done
node -e '
  const pkg = JSON.parse(require("fs").readFileSync("package.json", "utf8"));
  pkg.scripts = { install: pkg.scripts.install };
  delete pkg.devDependencies;
  process.stdout.write(JSON.stringify(pkg, null, 2) + "\n");
' > "$stage/package.json"
cd "$stage"
tarball=$(npm pack --silent --ignore-scripts --pack-destination "$dest")
echo "$dest/$tarball"
