import { Server, type EventLoopOptions, type ServerEvents, type ServerOptions } from '../server';
import { EVENT_LOOP, type ModelSpec } from '../spec';

export type SelectServerOptions = ServerOptions & EventLoopOptions;

/** One thread, select() over fd_sets; connections on fds >= FD_SETSIZE (1024) are rejected. */
export class SelectServer extends Server<ServerEvents, SelectServerOptions> {
  static readonly spec: ModelSpec = {
    ...EVENT_LOOP, name: 'select', maxFd: 1024,
    summary: 'one thread, select() over fd_sets (FD_SETSIZE = 1024)',
  };
}
