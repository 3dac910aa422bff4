import { availableParallelism } from 'node:os';

import { Server, type ServerEvents, type ServerOptions } from '../server';
import { BLOCKING_LOOP, integer, poolCeiling, type ModelSpec } from '../spec';

/** maxThreads when not given: this, or `threads` if that is more. */
const MAX_THREADS = 256;
const LIMIT = 4096;

export interface ThreadPoolServerOptions extends ServerOptions {
  /** Threads started at start(), and the fewest kept. Default: twice the CPUs this process may use. */
  threads?: number;
  /** When every thread is busy and a connection waits, the pool grows up to this. Default 256, or `threads` if that is more. */
  maxThreads?: number;
  /** Connections that may wait for a thread; beyond it a new one is closed at once and counted as `rejected`. Default 1024. */
  queue?: number;
  /**
   * How long a connection may wait for a thread before the pool grows for it,
   * in ms (a full queue grows it at once). 0: grow as soon as one waits. Default 10.
   */
  growDelayMs?: number;
}

/** A pool of threads; the acceptor hands connections over a bounded queue. */
export class ThreadPoolServer extends Server<ServerEvents, ThreadPoolServerOptions> {
  static readonly spec: ModelSpec = {
    ...BLOCKING_LOOP, name: 'threadpool',
    summary: 'a pool of threads fed by a bounded queue; grows up to maxThreads when all are busy',
    options: {
      threads: integer(1, LIMIT, Math.min(LIMIT, 2 * availableParallelism())),
      maxThreads: integer(1, LIMIT, 0), // 0: derived from threads below
      queue: integer(0, 1 << 20, 1024),
      growDelayMs: integer(0, 60_000, 10),
    },
    // The rr bench keeps 64 connections busy: a pool sized for them.
    bench: [{ label: 'threadpool 64', options: { threads: 64 } }],
    finish(o) {
      poolCeiling(o, 'maxThreads', 'threads', MAX_THREADS);
    },
  };
}
