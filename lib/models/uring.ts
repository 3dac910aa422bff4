import { binding } from '../binding';
import { featureUnavailable } from '../errors';
import { Server, type EventLoopOptions, type ServerOptions } from '../server';
import { integer, type ModelSpec } from '../spec';

export interface UringServerOptions extends ServerOptions, EventLoopOptions {
  /**
   * Size of the io_uring submission queue, and the number of 2 KiB receive
   * buffers in its provided-buffer ring (rounded up to a power of two).
   * Default 4096 (8 MiB of buffers); at most 32768.
   */
  entries?: number;
}

/** One thread, a completion loop over io_uring: multishot accept and recv, provided buffers. */
export class UringServer extends Server {
  static readonly spec: ModelSpec = {
    name: 'uring',
    family: 'event',
    summary: 'one thread, io_uring completions: multishot accept/recv into provided buffers',
    options: { entries: integer(1, 32768, 4096) },
    requires: 'liburing',
  };

  constructor(options?: UringServerOptions) {
    if (!(binding.nativeModels as string[]).includes('uring')) {
      throw featureUnavailable(
        'UringServer',
        'in this build of netmodels: liburing was missing when it was compiled ' +
          '(install liburing-dev, or your distribution\'s liburing development package, then run npm rebuild netmodels)',
      );
    }
    super(UringServer.spec, options);
  }
}
