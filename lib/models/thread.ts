import { Server, type ServerOptions } from '../server';
import { integer, type ModelSpec } from '../spec';

export interface ThreadServerOptions extends ServerOptions {
  /** Stack size of each connection thread, in bytes. Default 256 KiB; at least 64 KiB. */
  stackSize?: number;
}

/** One thread per connection, each running a blocking read/handle/write loop. */
export class ThreadServer extends Server {
  static readonly spec: ModelSpec = {
    name: 'thread',
    family: 'blocking',
    serial: false, jsHandler: 'connection', childPerConnection: false, waits: 'blocking', idleTimeout: true, linger: 'blocking', emfile: 'blocking',
    summary: 'one thread per connection',
    options: { stackSize: integer(64 * 1024, 1024 * 1024 * 1024, 256 * 1024) },
  };

  constructor(options?: ThreadServerOptions) {
    super(ThreadServer.spec, options);
  }
}
