// Loads the native addon (prebuilt or built at install) through node-gyp-build.
import * as path from 'node:path';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const load = require('node-gyp-build') as (dir: string) => unknown;

/** The raw addon. Each part of the library narrows the piece it uses. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const binding: any = load(path.join(__dirname, '..'));
