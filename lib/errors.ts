// Node-style errors (lib/internal/errors.js shape): a message, a `code`, and
// the right class. Validation helpers used by every option parser.
import { constants as osConstants } from 'node:os';
import { inspect } from 'node:util';

export type NodeStyleError = Error & { code: string };

function withCode<E extends Error>(error: E, code: string): E & { code: string } {
  Object.defineProperty(error, 'code', { value: code, enumerable: true, writable: true, configurable: true });
  return error as E & { code: string };
}

/**
 * What an operation cancelled through its `AbortSignal` rejects with, shaped
 * like Node's own: `name` 'AbortError', `code` 'ABORT_ERR', and the signal's
 * reason as `cause`.
 */
export class AbortError extends Error {
  readonly code = 'ABORT_ERR';
  constructor(message = 'The operation was aborted', options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AbortError';
  }
}

/** An `AbortSignal` option, or undefined; anything else throws ERR_INVALID_ARG_TYPE. */
export function validateSignal(name: string, value: unknown): AbortSignal | undefined {
  if (value === undefined) return undefined;
  if (!(value instanceof AbortSignal)) throw invalidArgType(name, 'an instance of AbortSignal', value);
  return value;
}

export function codedError(code: string, message: string): NodeStyleError {
  return withCode(new Error(message), code);
}

function describeReceived(value: unknown): string {
  if (value === null || value === undefined) return ` Received ${value}`;
  if (typeof value === 'function') return ` Received function ${value.name || '<anonymous>'}`;
  if (typeof value === 'object') {
    const ctor = (value as object).constructor?.name;
    return ctor ? ` Received an instance of ${ctor}` : ` Received ${inspect(value, { depth: -1 })}`;
  }
  let shown = inspect(value, { colors: false });
  if (shown.length > 28) shown = `${shown.slice(0, 25)}...`;
  return ` Received type ${typeof value} (${shown})`;
}

/** TypeError [ERR_INVALID_ARG_TYPE]: The "name" property must be of type number. Received ... */
export function invalidArgType(name: string, expected: string, value: unknown): TypeError & { code: string } {
  const kind = name.includes('.') ? 'property' : 'argument';
  return withCode(
    new TypeError(`The "${name}" ${kind} must be ${expected}.${describeReceived(value)}`),
    'ERR_INVALID_ARG_TYPE',
  );
}

/** RangeError [ERR_OUT_OF_RANGE]: The value of "name" is out of range. It must be <range>. Received <value> */
export function outOfRange(name: string, range: string, value: unknown): RangeError & { code: string } {
  return withCode(
    new RangeError(`The value of "${name}" is out of range. It must be ${range}. Received ${inspect(value)}`),
    'ERR_OUT_OF_RANGE',
  );
}

/** RangeError [ERR_INVALID_ARG_VALUE]: The property 'name' <reason>. Received <value> */
export function invalidArgValue(name: string, value: unknown, reason = 'is invalid'): RangeError & { code: string } {
  const kind = name.includes('.') ? 'property' : 'argument';
  return withCode(
    new RangeError(`The ${kind} '${name}' ${reason}. Received ${inspect(value)}`),
    'ERR_INVALID_ARG_VALUE',
  );
}

/** TypeError [ERR_FEATURE_UNAVAILABLE_ON_PLATFORM]: The feature <feature> is unavailable <why>. */
export function featureUnavailable(feature: string, why: string): TypeError & { code: string } {
  return withCode(new TypeError(`The feature ${feature} is unavailable ${why}`), 'ERR_FEATURE_UNAVAILABLE_ON_PLATFORM');
}

/** Validates an optional integer option; returns the default when undefined. */
export function validateInteger(
  name: string,
  value: unknown,
  min: number,
  max: number,
  fallback: number,
): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value);
  if (!Number.isInteger(value)) throw outOfRange(name, 'an integer', value);
  if (value < min || value > max) throw outOfRange(name, `>= ${min} && <= ${max}`, value);
  return value;
}

/** Validates an optional string option against a fixed set of choices. */
export function validateOneOf<T extends string>(
  name: string,
  value: unknown,
  choices: readonly T[],
  fallback: T,
): T {
  if (value === undefined) return fallback;
  if (typeof value !== 'string') throw invalidArgType(name, 'of type string', value);
  if (!(choices as readonly string[]).includes(value)) {
    throw invalidArgValue(name, value, `must be one of: ${choices.map((c) => `'${c}'`).join(', ')}`);
  }
  return value as T;
}

/** Validates that `options` is undefined or a plain object. */
export function validateOptionsObject(name: string, value: unknown): Record<string, unknown> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw invalidArgType(name, 'of type object', value);
  }
  return value as Record<string, unknown>;
}

/** Rejects option keys outside `known`, so a typo never passes silently. */
export function rejectUnknownOptions(
  name: string,
  options: Record<string, unknown>,
  known: readonly string[],
  owner: string,
  elsewhere?: (key: string) => readonly string[],
): void {
  for (const key of Object.keys(options)) {
    if (!known.includes(key) && options[key] !== undefined) {
      const takers = elsewhere?.(key) ?? [];
      const where = takers.length > 0 ? ` (${key} is an option of ${takers.join(', ')})` : '';
      throw invalidArgValue(`${name}.${key}`, options[key], `is not an option of ${owner}${where}`);
    }
  }
}

/** TypeError [code]: message — for a misuse Node reports as a TypeError (ERR_ILLEGAL_CONSTRUCTOR...). */
export function codedTypeError(code: string, message: string): NodeStyleError {
  return withCode(new TypeError(message), code);
}

/**
 * A system error shaped like the one `child_process.spawn` gives for a
 * program it cannot run: `spawn <file> ENOENT`, with `errno` (negative),
 * `code`, `syscall`, `path` and `spawnargs`.
 */
export function spawnError(code: 'ENOENT' | 'EACCES', file: string, args: readonly string[]): NodeStyleError {
  const errno = -(osConstants.errno[code] as number);
  const error = codedError(code, `spawn ${file} ${code}`);
  return Object.assign(error, { errno, syscall: `spawn ${file}`, path: file, spawnargs: [...args] });
}
