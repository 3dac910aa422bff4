import { constants as osConstants } from 'node:os';

import { invalidArgValue } from '../errors';
import { argvOption, envOption, processEnv, resolveProgram } from '../exec';
import { Server, type HandlerName, type ServerEvents, type ServerOptions } from '../server';
import { integer, oneOf, PROCESSES, type ModelSpec } from '../spec';

export interface ForkServerOptions extends Omit<ServerOptions, 'handler'> {
  /** A built-in protocol only: a forked child cannot run JavaScript (a function is refused here at compile time, and at construction). */
  handler?: HandlerName;
  /** Live children at most; beyond it new connections are closed at once and counted as `rejected`. Default 256. */
  maxChildren?: number;
  /**
   * How exited children are noticed: `'pidfd'` (default; one pidfd per child,
   * Linux 5.4+, falls back to `'sigchld'` on older kernels — `stats().reaper`
   * tells which is in use) or `'sigchld'` (a chained SIGCHLD handler plus a
   * periodic sweep). Either way only this server's own children are reaped,
   * never with `waitpid(-1)`.
   */
  reaper?: 'pidfd' | 'sigchld';
  /**
   * A program per connection, inetd / tcpserver style: `[file, ...args]`.
   * `file` is a path, or a name looked up on `PATH` (of `env` when given)
   * at construction; a missing file throws `ENOENT`, one that cannot be run
   * `EACCES`. The child gets the client socket as stdin and stdout, keeps
   * the server's stderr, and `execve`s it. Not with `handler`.
   */
  exec?: readonly string[];
  /**
   * The program's environment (default: this process's, at construction),
   * plus `PROTO=TCP`, `TCPREMOTEIP`, `TCPREMOTEPORT`, `TCPLOCALIP`,
   * `TCPLOCALPORT`, `REMOTE_ADDR` and `REMOTE_PORT`. Only with `exec`.
   */
  env?: Readonly<Record<string, string | undefined>>;
}

/** `'childExit'`: a child was reaped. */
export interface ChildExit {
  pid: number;
  /** Its exit status, or null if a signal killed it (or the status was lost). */
  code: number | null;
  /** The signal that killed it, or null. */
  signal: NodeJS.Signals | null;
  /** From fork() to reaping. */
  durationMs: number;
  /** The client it served. */
  remoteAddress: string;
  remotePort: number;
}

const signalNames = new Map(Object.entries(osConstants.signals).map(([name, n]) => [n as number, name as NodeJS.Signals]));

/** ForkServer's events: every server's, and `'childExit'`. */
export interface ForkServerEvents extends ServerEvents {
  childExit: [exit: ChildExit];
}

/** fork() per connection; the parent only accepts; children are reaped. */
export class ForkServer extends Server<ForkServerEvents, ForkServerOptions> {
  static readonly spec: ModelSpec = {
    ...PROCESSES, name: 'fork', childPerConnection: true, emfile: 'blocking',
    summary: 'fork() per connection; the parent only accepts; children are reaped',
    options: {
      maxChildren: integer(1, 65535, 256),
      reaper: oneOf(['pidfd', 'sigchld'] as const, 'pidfd'),
      exec: argvOption(),
      env: envOption(),
    },
    events: ['childExit'],
    finish(native, given) {
      const argv = native.exec as string[];
      const env = native.env as string[] | undefined;
      if (argv.length === 0) {
        if (env) throw invalidArgValue('options.env', given.env, 'is only used with options.exec');
        Object.assign(native, { execPath: '', env: [] });
        return;
      }
      if (given.handler !== undefined) {
        throw invalidArgValue('options.handler', given.handler, 'cannot be combined with options.exec');
      }
      const entries = env ?? processEnv();
      const pathVar = entries.find((e) => e.startsWith('PATH='))?.slice(5);
      Object.assign(native, { execPath: resolveProgram(argv, pathVar), env: entries });
    },
  };

  protected override modelEvent(name: string, payload: Record<string, unknown>): void {
    if (name === 'childExit' && typeof payload.signal === 'number') {
      payload.signal = signalNames.get(payload.signal) ?? null;
    }
    super.modelEvent(name, payload);
  }
}
