import { Server, type ServerEvents, type ServerOptions } from '../server';
import { BLOCKING_LOOP, integer, type ModelSpec } from '../spec';

export interface ThreadServerOptions extends ServerOptions {
  /** Stack size of each connection thread, in bytes. Default 256 KiB; at least 64 KiB. */
  stackSize?: number;
}

/** One thread per connection, each running a blocking read/handle/write loop. */
export class ThreadServer extends Server<ServerEvents, ThreadServerOptions> {
  static readonly spec: ModelSpec = {
    ...BLOCKING_LOOP, name: 'thread',
    summary: 'one thread per connection',
    options: { stackSize: integer(64 * 1024, 1024 * 1024 * 1024, 256 * 1024) },
  };
}
