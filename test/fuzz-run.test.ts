// fuzz/run.sh on a toolchain without clang's sanitizer runtimes (Debian's
// libclang-rt-N-dev, only a recommendation of clang's packages): it stops
// before building the harness and names the package for the compiler's major
// version. The compiler here is this machine's g++ behind a wrapper that
// answers -dumpversion as clang 14 does: g++ has no libFuzzer runtime
// (-fsanitize=fuzzer), so it stands for a clang without compiler-rt.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = path.join(__dirname, '..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'netmodels-fuzz-run-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A compiler driver: g++ with `flags` added, reporting clang 14.0.6's version. */
function compiler(name: string, flags: string): string {
  const file = path.join(tmp, name);
  fs.writeFileSync(
    file,
    `#!/bin/sh\nif [ "$1" = -dumpversion ]; then echo 14.0.6; exit 0; fi\nexec g++ ${flags} "$@"\n`,
    { mode: 0o755 },
  );
  return file;
}

function runFuzz(cxx: string) {
  return spawnSync('sh', [path.join(ROOT, 'fuzz', 'run.sh'), '-runs=0'], {
    env: { ...process.env, CLANGXX: cxx },
    encoding: 'utf8',
    timeout: 60_000,
  });
}

describe('fuzz/run.sh: a toolchain without the sanitizer runtimes', () => {
  it('names the package when <sanitizer/allocator_interface.h> is missing', () => {
    // -nostdinc: no system include directory, so the header cannot be found
    // even where this GCC ships sanitizer headers of its own.
    const r = runFuzz(compiler('no-header', '-nostdinc'));
    expect(r.error).toBeUndefined();
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('has no <sanitizer/allocator_interface.h> (Debian: apt-get install -y libclang-rt-14-dev)');
    expect(r.stderr).not.toContain('http_fuzz.cc');
  });

  it('names the package when the header is there but no libFuzzer target links', () => {
    const include = path.join(tmp, 'include');
    fs.mkdirSync(path.join(include, 'sanitizer'), { recursive: true });
    fs.writeFileSync(path.join(include, 'sanitizer', 'allocator_interface.h'), '#pragma once\n');
    const r = runFuzz(compiler('no-runtime', `-isystem '${include}'`));
    expect(r.error).toBeUndefined();
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('cannot link a libFuzzer target: no fuzzer/sanitizer runtime (Debian: apt-get install -y libclang-rt-14-dev)');
    expect(r.stderr).not.toContain('http_fuzz.cc');
  });
});
