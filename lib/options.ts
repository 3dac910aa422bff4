// The options every model takes, beside each model's own (lib/spec.ts): how
// each is checked, its default, and its `netmodels serve` flag. The Server's
// constructor checks them in this order, and the CLI's flags and usage
// derive from this one table.
import { isIP } from 'node:net';

import { binding } from './binding';
import { invalidArgType, invalidArgValue, rejectUnknownOptions, validateInteger, validateOneOf, validateSignal } from './errors';
import { isHostable } from './hosting';
import { modelOptions, modelsTaking, type ModelSpec } from './spec';

export const HANDLERS = ['uppercase', 'echo', 'discard', 'http'] as const;
export type HandlerName = (typeof HANDLERS)[number];

/** What a common option's check may look at beyond its own value. */
export interface OptionContext {
  readonly spec: ModelSpec;
  /** The options as the user passed them. */
  readonly given: Readonly<Record<string, unknown>>;
  /** The class being constructed, for errors: 'ForkServer'. */
  readonly owner: string;
}

export interface CommonOption {
  /** Validates `value` (undefined: not given) and returns it with the default applied. */
  check(name: string, value: unknown, context: OptionContext): unknown;
  /** Kept on the JavaScript side, not sent to the native server. */
  readonly local?: boolean;
  /** Not given with `fd`: that socket listens already. */
  readonly listens?: boolean;
  /**
   * Its `netmodels serve` flag: the name (default: the option's, dashed),
   * the value's type and hint (`'boolean'`: no value), and its usage line.
   */
  readonly flag?: { name?: string; type: 'string' | 'integer' | 'boolean'; hint?: string; help: string };
}

export const MAX_U32 = 2 ** 32 - 1;
const DEFAULT_HOST = '127.0.0.1';
const DEFAULT_BACKLOG = 511;
const DEFAULT_HIGH_WATER_MARK = 1 << 20;
/** `netmodels serve`'s port when none is given (the library's is 0). */
export const SERVE_PORT = 8000;

const integer = (min: number, max: number, fallback: number) => (name: string, value: unknown) =>
  validateInteger(name, value, min, max, fallback);

/**
 * In the order they are checked. Flags that name a count of connections
 * or a time take an integer; a handler module (`./app.js`) is the CLI's own.
 */
export const COMMON_OPTIONS: Readonly<Record<string, CommonOption>> = {
  host: {
    check(name, value) {
      const host = value === undefined ? DEFAULT_HOST : value;
      if (typeof host !== 'string') throw invalidArgType(name, 'of type string', host);
      if (isIP(host) === 0) throw invalidArgValue(name, host, 'must be an IPv4 or IPv6 address literal');
      return host;
    },
    listens: true,
    flag: { type: 'string', hint: 'H', help: `IPv4 or IPv6 address to listen on (default ${DEFAULT_HOST})` },
  },
  fd: {
    check(name, value, { spec, given }) {
      const fd = validateListenFd(name, value, spec.family === 'datagram');
      if (fd >= 0) {
        for (const [key, option] of Object.entries(COMMON_OPTIONS)) {
          if (option.listens && given[key] !== undefined) {
            throw invalidArgValue(`options.${key}`, given[key], 'cannot be given with options.fd (that socket listens already)');
          }
        }
      }
      return fd;
    },
    flag: { type: 'integer', hint: 'N', help: 'listen on this inherited listening socket instead (systemd: --fd 3)' },
  },
  signal: { check: validateSignal, local: true },
  ipv6Only: {
    check(name, value) {
      const v = value ?? false;
      if (typeof v !== 'boolean') throw invalidArgType(name, 'of type boolean', v);
      return v;
    },
    listens: true,
    flag: { type: 'boolean', help: "on an IPv6 --host, IPv6 clients only (default: '::' takes IPv4 clients too)" },
  },
  port: {
    check: integer(0, 65535, 0),
    listens: true,
    flag: { type: 'integer', hint: 'P', help: `port to listen on (default ${SERVE_PORT}; 0: the kernel picks one)` },
  },
  backlog: {
    check: integer(0, 65535, DEFAULT_BACKLOG),
    listens: true,
    flag: { type: 'integer', hint: 'N', help: `listen() backlog (default ${DEFAULT_BACKLOG})` },
  },
  handler: {
    check(name, value, { spec, owner }) {
      if (typeof value !== 'function' && !isHostable(value)) return validateOneOf(name, value, HANDLERS, 'uppercase');
      if (spec.jsHandler === null) {
        throw invalidArgType(
          name,
          `one of ${HANDLERS.map((h) => `'${h}'`).join(', ')} for ${owner}: a forked child cannot run JavaScript ` +
            '(use exec: [file, ...args] to run a program per connection)',
          value,
        );
      }
      if (isHostable(value) && spec.jsHandler !== 'connection') {
        throw invalidArgType(
          name,
          `a function (msg, rinfo, reply) or one of ${HANDLERS.filter((h) => h !== 'http').map((h) => `'${h}'`).join(', ')} for ${owner}: ` +
            'a server that takes connections needs a stream model',
          value,
        );
      }
      return 'js';
    },
    flag: { type: 'string', hint: 'H', help: `${HANDLERS.join('|')}, or ./module.js exporting a JS handler (default uppercase)` },
  },
  maxConnections: {
    check: integer(0, MAX_U32, 0),
    flag: { type: 'integer', hint: 'N', help: 'close connections beyond N open ones (default 0: no limit)' },
  },
  maxConnectionsPerSource: {
    check: integer(0, MAX_U32, 0),
    flag: { name: 'max-per-source', type: 'integer', hint: 'N', help: 'close connections beyond N open ones from one IP (default 0: no limit)' },
  },
  idleTimeoutMs: {
    check: integer(0, MAX_U32, 0),
    flag: { name: 'idle-timeout', type: 'integer', hint: 'MS', help: 'close a connection idle this long (default 0: never)' },
  },
  highWaterMark: { check: integer(1, 2 ** 40, DEFAULT_HIGH_WATER_MARK) },
};

/**
 * A model's options as its native side receives them: every key, common and
 * the model's own, checked and with its default (the native side keeps
 * none), then what the model derives from them (its spec's `finish`); and
 * the options kept here. Throws as the constructor does on a bad one.
 */
export function resolveOptions(
  spec: ModelSpec,
  given: Readonly<Record<string, unknown>>,
  owner: string,
): { native: Record<string, unknown>; signal: AbortSignal | undefined } {
  rejectUnknownOptions('options', given, [...Object.keys(COMMON_OPTIONS), ...Object.keys(modelOptions(spec))], owner, modelsTaking);
  const native: Record<string, unknown> = {};
  const local: Record<string, unknown> = {};
  for (const [key, option] of Object.entries(COMMON_OPTIONS)) {
    (option.local ? local : native)[key] = option.check(`options.${key}`, given[key], { spec, given, owner });
  }
  for (const [key, option] of Object.entries(modelOptions(spec))) {
    native[key] = option.check(`options.${key}`, given[key]);
  }
  // Several loops cannot each open a reuseport listener on an inherited
  // socket: they share it, or one accepts for all.
  if ((native.fd as number) >= 0 && typeof native.loops === 'number' && native.loops > 1 && native.balance === 'reuseport') {
    if (given.balance !== undefined) {
      throw invalidArgValue('options.balance', given.balance, "cannot be 'reuseport' with options.fd (use 'shared' or 'handoff')");
    }
    native.balance = 'shared';
  }
  spec.finish?.(native, given);
  return { native, signal: local.signal as AbortSignal | undefined };
}

/**
 * `options.fd`: -1 when absent, else an fd that is a listening TCP socket
 * (stream, listening, IPv4 or IPv6), or for a datagram model a UDP socket.
 * What it is not is said in the error.
 */
function validateListenFd(name: string, value: unknown, datagram: boolean): number {
  if (value === undefined) return -1;
  const fd = validateInteger(name, value, 0, 2 ** 31 - 1, -1);
  let why: string | null;
  try {
    const ops = binding.sys;
    if (ops.getsockopt(fd, 'SO_TYPE') !== (datagram ? 2 : 1)) why = `it is not a ${datagram ? 'datagram' : 'stream'} socket`;
    else if (!datagram && ops.getsockopt(fd, 'SO_ACCEPTCONN') !== 1) why = 'it is not listening';
    else if (ops.getsockname(fd).family === 'unix') why = 'it is a Unix domain socket';
    else why = null;
  } catch (err) {
    const code = (err as { code?: string }).code;
    why = code === 'EBADF' ? 'it is not an open descriptor' : code === 'ENOTSOCK' ? 'it is not a socket' : `${(err as Error).message}`;
  }
  if (why !== null) throw invalidArgValue(name, value, `must be ${datagram ? 'a UDP socket' : 'a listening TCP socket'}: ${why}`);
  return fd;
}
