import { Server, type ServerOptions } from '../server';
import type { ModelSpec } from '../spec';

export type IterativeServerOptions = ServerOptions;

/** One client at a time: accept, serve until EOF, accept the next. */
export class IterativeServer extends Server {
  static readonly spec: ModelSpec = {
    name: 'iterative',
    family: 'blocking',
    serial: true, jsHandler: 'connection', childPerConnection: false, waits: 'blocking', idleTimeout: true, linger: 'blocking', emfile: 'blocking',
    summary: 'one client at a time: accept, serve until EOF, accept the next',
    options: {},
  };

  constructor(options?: IterativeServerOptions) {
    super(IterativeServer.spec, options);
  }
}
