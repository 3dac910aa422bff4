import { Server, type ServerOptions } from '../server';
import { integer, oneOf, type ModelSpec } from '../spec';

export interface ForkServerOptions extends ServerOptions {
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
}

/** fork() per connection; the parent only accepts; children are reaped. */
export class ForkServer extends Server {
  static readonly spec: ModelSpec = {
    name: 'fork',
    family: 'process',
    summary: 'fork() per connection; the parent only accepts; children are reaped',
    options: {
      maxChildren: integer(1, 65535, 256),
      reaper: oneOf(['pidfd', 'sigchld'] as const, 'pidfd'),
    },
  };

  constructor(options?: ForkServerOptions) {
    super(ForkServer.spec, options);
  }
}
