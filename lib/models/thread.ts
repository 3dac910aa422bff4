import { validateInteger } from '../errors';
import { Server, type ServerOptions } from '../server';

export interface ThreadServerOptions extends ServerOptions {
  /** Stack size of each connection thread, in bytes. Default 256 KiB; at least 64 KiB. */
  stackSize?: number;
}

/** One thread per connection, each running a blocking read/handle/write loop. */
export class ThreadServer extends Server {
  constructor(options?: ThreadServerOptions) {
    super('thread', options, {
      stackSize: (name, value) => validateInteger(name, value, 64 * 1024, 1024 * 1024 * 1024, 256 * 1024),
    });
  }
}
