// Loads a JavaScript handler from a module for `netmodels serve --handler
// ./file.js`: its default export, or its `handler` export, is the function,
// or a node server to host (http.createServer(app), ...).
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';

import { isHostable, type HostableServer } from './hosting';
import type { ConnectionHandler } from './server';

// A real dynamic import (this file is compiled to CommonJS, where `import()`
// would become require() and could not load an ES module).
const importModule = new Function('url', 'return import(url)') as (url: string) => Promise<Record<string, unknown>>;

/** Whether a `--handler` value names a module rather than a built-in protocol. */
export function isHandlerModule(value: string): boolean {
  return value.includes('/') || /\.[cm]?js$/.test(value);
}

export async function loadHandlerModule(file: string): Promise<ConnectionHandler | HostableServer> {
  const url = pathToFileURL(path.resolve(file)).href;
  const mod = await importModule(url);
  // An ES module's default or `handler` export; a CommonJS module's
  // module.exports (a function, or an object with `handler` or a compiled
  // `default`), which import() shows as `default`.
  const cjs = mod.default as Record<string, unknown> | undefined;
  const candidates = [mod.default, mod.handler, cjs?.handler, cjs?.default];
  const server = candidates.find(isHostable);
  if (server) return server;
  const handler = candidates.find((c) => typeof c === 'function');
  if (!handler) {
    throw Object.assign(new TypeError(`${file}: the module exports no handler function or server (export default (conn) => ..., export a 'handler', or module.exports = http.createServer(app))`), {
      code: 'ERR_INVALID_ARG_TYPE',
    });
  }
  return handler as ConnectionHandler;
}
