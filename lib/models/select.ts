import { Server, type EventLoopOptions, type ServerOptions } from '../server';
import type { ModelSpec } from '../spec';

export type SelectServerOptions = ServerOptions & EventLoopOptions;

/** One thread, select() over fd_sets; connections on fds >= FD_SETSIZE (1024) are rejected. */
export class SelectServer extends Server {
  static readonly spec: ModelSpec = {
    name: 'select',
    family: 'event',
    serial: false, jsHandler: 'connection', childPerConnection: false, waits: 'readiness', maxFd: 1024, idleTimeout: true, linger: 'loop', emfile: 'reserve',
    summary: 'one thread, select() over fd_sets (FD_SETSIZE = 1024)',
    options: {},
  };

  constructor(options?: SelectServerOptions) {
    super(SelectServer.spec, options);
  }
}
