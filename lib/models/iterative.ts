import { Server, type ServerOptions } from '../server';

export type IterativeServerOptions = ServerOptions;

/** One client at a time: accept, serve until EOF, accept the next. */
export class IterativeServer extends Server {
  constructor(options?: IterativeServerOptions) {
    super('iterative', options);
  }
}
