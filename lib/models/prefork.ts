import { availableParallelism } from 'node:os';

import { outOfRange } from '../errors';
import { Server, type HandlerName, type ServerEvents, type ServerOptions } from '../server';
import { integer, oneOf, poolCeiling, PROCESSES, type ModelSpec } from '../spec';

/** maxWorkers when not given: this, or `workers` if that is more. */
const MAX_WORKERS = 256;
const LIMIT = 4096;

export interface PreforkServerOptions extends Omit<ServerOptions, 'handler'> {
  /** A built-in protocol only: a forked child cannot run JavaScript (a function is refused here at compile time, and at construction). */
  handler?: HandlerName;
  /** Children forked at start(), and the fewest kept. Default: the CPUs this process may use (`os.availableParallelism()`). */
  workers?: number;
  /** Fewer idle children than this: fork more (1, 2, 4 ... per second, at most 32), up to `maxWorkers`. Default 1. */
  minSpareWorkers?: number;
  /** More idle children than this (and more than `workers` in all): retire one a second. Default 10. */
  maxSpareWorkers?: number;
  /** Children alive at most. Default 256, or `workers` if that is more. */
  maxWorkers?: number;
  /** A child leaves after serving this many connections and is replaced. 0 (default) = never. */
  maxRequestsPerChild?: number;
  /** How exited children are noticed: `'pidfd'` (default) or `'sigchld'`, as for ForkServer. */
  reaper?: 'pidfd' | 'sigchld';
}

/** A pool of processes forked up front, each blocking in accept() on the shared listener. */
export class PreforkServer extends Server<ServerEvents, PreforkServerOptions> {
  static readonly spec: ModelSpec = {
    ...PROCESSES, name: 'prefork',
    summary: 'processes forked up front accept on the shared listener; spare-worker rules; respawned when they exit',
    options: {
      workers: integer(1, LIMIT, Math.min(LIMIT, availableParallelism())),
      minSpareWorkers: integer(0, LIMIT, 1),
      maxSpareWorkers: integer(1, LIMIT, 10),
      maxWorkers: integer(1, LIMIT, 0), // 0: derived from workers below
      maxRequestsPerChild: integer(0, 2 ** 32 - 1, 0),
      reaper: oneOf(['pidfd', 'sigchld'] as const, 'pidfd'),
    },
    // The rr bench keeps 64 connections busy: a pool sized for them.
    bench: [{ label: 'prefork 64', options: { workers: 64 } }],
    finish(o) {
      poolCeiling(o, 'maxWorkers', 'workers', MAX_WORKERS);
      if ((o.minSpareWorkers as number) > (o.maxSpareWorkers as number)) {
        throw outOfRange('options.minSpareWorkers', `<= options.maxSpareWorkers (${o.maxSpareWorkers})`, o.minSpareWorkers);
      }
    },
  };
}
