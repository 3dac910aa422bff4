import { Server, type ServerEvents, type ServerOptions } from '../server';
import { BLOCKING_LOOP, type ModelSpec } from '../spec';

export type IterativeServerOptions = ServerOptions;

/** One client at a time: accept, serve until EOF, accept the next. */
export class IterativeServer extends Server<ServerEvents, IterativeServerOptions> {
  static readonly spec: ModelSpec = {
    ...BLOCKING_LOOP, name: 'iterative', serial: true,
    summary: 'one client at a time: accept, serve until EOF, accept the next',
  };
}
