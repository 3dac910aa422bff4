import { Server, type EventLoopOptions, type ServerOptions } from '../server';
import type { ModelSpec } from '../spec';

export type PollServerOptions = ServerOptions & EventLoopOptions;

/** One thread, poll() over a pollfd array that grows with the connections. */
export class PollServer extends Server {
  static readonly spec: ModelSpec = {
    name: 'poll',
    family: 'event',
    serial: false, jsHandler: 'connection', childPerConnection: false, waits: 'readiness', idleTimeout: true, linger: 'loop', emfile: 'reserve',
    summary: 'one thread, poll() over a pollfd array that grows with the connections',
    options: {},
  };

  constructor(options?: PollServerOptions) {
    super(PollServer.spec, options);
  }
}
