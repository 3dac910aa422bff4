#!/usr/bin/env node
// Build-time probe for liburing, run by binding.gyp.
//   node scripts/liburing.js have  -> 1 if <liburing.h> compiles, else 0
//   node scripts/liburing.js libs  -> the static archive's path if the
//                                     compiler finds one, else -luring
// NETMODELS_LIBURING=0 builds without it (to check that such a build works).
'use strict';
const { execFileSync } = require('node:child_process');

// The first compiler driver that runs (node-gyp itself needs a C++ one).
const compilers = [process.env.CC, 'cc', process.env.CXX, 'c++'].filter(Boolean);

function run(args, input) {
  let last;
  for (const cc of compilers) {
    try {
      return execFileSync(cc, args, { input, stdio: ['pipe', 'pipe', 'ignore'] }).toString().trim();
    } catch (err) {
      last = err;
      if (err.code !== 'ENOENT') break; // it ran and said no
    }
  }
  throw last;
}

function have() {
  if (process.env.NETMODELS_LIBURING === '0') return false;
  try {
    run(['-E', '-x', 'c', '-'], '#include <liburing.h>\n');
    return true;
  } catch {
    return false;
  }
}

function libs() {
  // A prebuild links the archive so it does not need liburing.so at run time;
  // -print-file-name echoes the bare name when the compiler finds no such file.
  try {
    const archive = run(['-print-file-name=liburing.a']);
    if (archive.startsWith('/')) return require('node:path').normalize(archive);
  } catch {
    // no compiler answer: fall back to the shared library
  }
  return '-luring';
}

process.stdout.write(process.argv[2] === 'libs' ? libs() : have() ? '1' : '0');
