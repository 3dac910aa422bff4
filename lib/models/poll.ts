import { Server, type ServerOptions } from '../server';

export type PollServerOptions = ServerOptions;

/** One thread, poll() over a pollfd array that grows with the connections. */
export class PollServer extends Server {
  constructor(options?: PollServerOptions) {
    super('poll', options);
  }
}
