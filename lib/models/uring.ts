import { Server, type EventLoopOptions, type ServerOptions } from '../server';
import { integer, oneOf, type ModelSpec } from '../spec';

export interface UringServerOptions extends ServerOptions, EventLoopOptions {
  /**
   * Size of the io_uring submission queue, and the number of 2 KiB receive
   * buffers in its provided-buffer ring (rounded up to a power of two).
   * Default 4096 (8 MiB of buffers); at most 32768.
   */
  entries?: number;
  /**
   * How a multishot recv fills provided buffers. `'bundle'` (default): one
   * completion for up to 64 KiB spread over several buffers, where the
   * kernel has receive bundles (6.10) with their per-recv cap (6.14), else
   * as `'single'`: one completion per buffer. `stats().ring` says which
   * one runs.
   */
  recv?: 'bundle' | 'single';
}

/** One thread, a completion loop over io_uring: multishot accept and recv, provided buffers. */
export class UringServer extends Server {
  static readonly spec: ModelSpec = {
    name: 'uring',
    family: 'event',
    serial: false, jsHandler: 'connection', childPerConnection: false, waits: 'completion', idleTimeout: true, linger: 'loop', emfile: 'armed',
    summary: 'one thread, io_uring completions: multishot accept/recv into provided buffers',
    options: { entries: integer(1, 32768, 4096), recv: oneOf(['bundle', 'single'] as const, 'bundle') },
  };

  constructor(options?: UringServerOptions) {
    super(UringServer.spec, options);
  }
}
