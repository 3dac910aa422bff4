// ForkServer's `exec` and `env`: checks, and the program resolved on PATH in
// this process at construction, never in the child (which may only call
// execve on what it was given).
import { accessSync, constants as fsConstants, statSync } from 'node:fs';
import * as path from 'node:path';

import { invalidArgType, invalidArgValue, spawnError } from './errors';
import type { OptionSpec } from './spec';

function checkString(name: string, value: unknown): string {
  if (typeof value !== 'string') throw invalidArgType(name, 'of type string', value);
  if (value.includes('\u0000')) throw invalidArgValue(name, value, 'must be a string without null bytes');
  return value;
}

/** `exec: [file, ...args]`; `[]` when not given. */
export function argvOption(): OptionSpec<string[]> {
  return {
    check(name, value) {
      if (value === undefined) return [];
      if (!Array.isArray(value)) throw invalidArgType(name, 'an instance of Array', value);
      if (value.length === 0) throw invalidArgValue(name, value, 'must name a program');
      const argv = value.map((v, i) => checkString(`${name}[${i}]`, v));
      if (argv[0] === '') throw invalidArgValue(`${name}[0]`, argv[0], 'must not be empty');
      return argv;
    },
    cli: { type: 'list', hint: '-- FILE [ARG...]' },
  };
}

/** `env: { NAME: 'value' }` as `NAME=value` entries; undefined when not given. */
export function envOption(): OptionSpec<string[] | undefined> {
  return {
    check(name, value) {
      if (value === undefined) return undefined;
      if (value === null || typeof value !== 'object' || Array.isArray(value)) {
        throw invalidArgType(name, 'of type object', value);
      }
      const out: string[] = [];
      for (const [key, v] of Object.entries(value)) {
        if (v === undefined) continue;
        if (key === '' || key.includes('=') || key.includes('\u0000')) {
          throw invalidArgValue(`${name}.${key}`, v, 'must have a name without "=" or null bytes');
        }
        out.push(`${key}=${checkString(`${name}.${key}`, v)}`);
      }
      return out;
    },
  };
}

/** Why `file` cannot be run, or null if it can: the errno execve would give. */
function probe(file: string): 'ENOENT' | 'EACCES' | null {
  try {
    if (!statSync(file).isFile()) return 'EACCES';
    accessSync(file, fsConstants.X_OK);
    return null;
  } catch (err) {
    return (err as { code?: string }).code === 'EACCES' ? 'EACCES' : 'ENOENT';
  }
}

/**
 * The absolute path of the program `argv[0]` names: a name with a slash is
 * taken as a path (relative to the current directory); a bare name is looked
 * up on `pathVar` as execvp does (an empty entry is the current directory;
 * EACCES if only files that cannot be run were found). Throws a
 * spawn-style ENOENT / EACCES error.
 */
export function resolveProgram(argv: readonly string[], pathVar: string | undefined): string {
  const file = argv[0];
  if (file.includes('/')) {
    const full = path.resolve(file);
    const why = probe(full);
    if (why) throw spawnError(why, file, argv);
    return full;
  }
  let denied = false;
  for (const dir of (pathVar ?? '/bin:/usr/bin').split(':')) {
    const full = path.resolve(dir || '.', file);
    const why = probe(full);
    if (!why) return full;
    if (why === 'EACCES') denied = true;
  }
  throw spawnError(denied ? 'EACCES' : 'ENOENT', file, argv);
}

/** `NAME=value` entries of this process's environment. */
export function processEnv(): string[] {
  return Object.entries(process.env)
    .filter((e): e is [string, string] => e[1] !== undefined)
    .map(([k, v]) => `${k}=${v}`);
}
