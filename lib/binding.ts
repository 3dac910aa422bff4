// Loads the native addon (prebuilt or built at install) through node-gyp-build.
import * as path from 'node:path';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const load = require('node-gyp-build') as (dir: string) => unknown;

// NETMODELS_BINDING_DIR names another package-like directory to load the
// addon from (its build/Release): `npm run test:sanitize` points it at the
// sanitizer build in build-sanitize/. Nothing falls back to the normal build
// when it is set, so a run never tests the wrong addon unknowingly.
const dir = process.env.NETMODELS_BINDING_DIR || path.join(__dirname, '..');

function loadAddon(): unknown {
  try {
    return load(dir);
  } catch (err) {
    // node-gyp-build's message says what it looked for; ours, what to do.
    const e = err as Error;
    e.message +=
      `\nnetmodels: no addon for ${process.platform}-${process.arch} (Node ${process.version}) in ${dir}: ` +
      'install a C++ compiler, make and Python 3 (Debian/Ubuntu: build-essential python3) and run ' +
      '`npm rebuild netmodels` (the npm package carries prebuilds for Linux x64 and arm64, glibc 2.28 or newer).';
    throw e;
  }
}

/** The raw addon. Each part of the library narrows the piece it uses. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const binding: any = loadAddon();
