import { Server, type ServerOptions } from '../server';

export type SelectServerOptions = ServerOptions;

/** One thread, select() over fd_sets; connections on fds >= FD_SETSIZE (1024) are rejected. */
export class SelectServer extends Server {
  constructor(options?: SelectServerOptions) {
    super('select', options);
  }
}
