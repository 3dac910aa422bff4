import { Server, type EventLoopOptions, type ServerEvents, type ServerOptions } from '../server';
import { EVENT_LOOP, type ModelSpec } from '../spec';

export type PollServerOptions = ServerOptions & EventLoopOptions;

/** One thread, poll() over a pollfd array that grows with the connections. */
export class PollServer extends Server<ServerEvents, PollServerOptions> {
  static readonly spec: ModelSpec = {
    ...EVENT_LOOP, name: 'poll',
    summary: 'one thread, poll() over a pollfd array that grows with the connections',
  };
}
