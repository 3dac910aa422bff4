import { Server, type EventLoopOptions, type ServerEvents, type ServerOptions } from '../server';
import { EVENT_LOOP, integer, oneOf, type ModelSpec } from '../spec';

export interface UringServerOptions extends ServerOptions, EventLoopOptions {
  /**
   * Size of the io_uring submission queue; its receive buffers are that
   * many times 2 KiB (rounded up to a power of two; a quarter of it with
   * incremental `buffers`). Default 4096 (8 MiB of buffers, or 2 MiB); at
   * most 32768.
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
  /**
   * How the provided receive buffers are consumed. `'incremental'`
   * (default): where the kernel has incrementally consumed buffer rings
   * (6.12) and capped bundles are in use, a quarter of that memory in 64 KiB
   * buffers that each completion takes only its bytes from, the next going
   * on where it stopped: small messages share a buffer, a 64 KiB one fills
   * one or two. Else as `'whole'`: 2 KiB buffers, one (or one per 2 KiB of
   * a bundle) per completion. `stats().ring` says which one runs.
   */
  buffers?: 'incremental' | 'whole';
}

/** One thread, a completion loop over io_uring: multishot accept and recv, provided buffers. */
export class UringServer extends Server<ServerEvents, UringServerOptions> {
  static readonly spec: ModelSpec = {
    ...EVENT_LOOP, name: 'uring', waits: 'completion', emfile: 'armed',
    summary: 'one thread, io_uring completions: multishot accept/recv into provided buffers',
    options: {
      entries: integer(1, 32768, 4096),
      recv: oneOf(['bundle', 'single'] as const, 'bundle'),
      buffers: oneOf(['incremental', 'whole'] as const, 'incremental'),
    },
  };
}
