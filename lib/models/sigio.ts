import { invalidArgValue } from '../errors';
import { Server, type EventLoopOptions, type ServerEvents, type ServerOptions } from '../server';
import { EVENT_LOOP, oneOf, type ModelSpec } from '../spec';

export interface SigioServerOptions extends ServerOptions, EventLoopOptions {
  /**
   * How the loop takes its signals off the queue: `'sigwait'` (default;
   * `sigwaitinfo()`, one signal per call) or `'signalfd'` (a `read()` of a
   * signalfd, up to 256 signals per call).
   */
  dequeue?: 'sigwait' | 'signalfd';
  /**
   * `'reuseport'` (default) or `'handoff'`; not `'shared'`: a socket's signal
   * goes to one thread, so loops cannot share a listener (with `fd` and
   * `loops` > 1 the default is `'handoff'`).
   */
  balance?: 'reuseport' | 'handoff';
}

/**
 * Signal-driven I/O: `O_ASYNC` + `F_SETSIG` queue a real-time signal per
 * readiness change, routed to the loop's thread and dequeued there; on queue
 * overflow (`RLIMIT_SIGPENDING`), one `poll()` rescan (`stats().overflows`).
 */
export class SigioServer extends Server<ServerEvents, SigioServerOptions> {
  static readonly spec: ModelSpec = {
    ...EVENT_LOOP, name: 'sigio', waits: 'signal',
    summary: 'one thread, a real-time signal per readiness change (O_ASYNC, F_SETSIG); poll() rescan on queue overflow',
    options: { dequeue: oneOf(['sigwait', 'signalfd'] as const, 'sigwait') },
    bench: [
      { label: 'sigio', options: { dequeue: 'sigwait' } },
      { label: 'sigio signalfd', options: { dequeue: 'signalfd' } },
    ],
    finish(native, given) {
      // A socket's signal has one owner (F_SETOWN is per open file), so
      // loops cannot share a listener: an inherited one is handed off.
      if ((native.loops as number) > 1 && native.balance === 'shared') {
        if (given.balance !== undefined) {
          throw invalidArgValue('options.balance', given.balance,
            "cannot be 'shared' for sigio: a socket's signal goes to one thread (use 'reuseport' or 'handoff')");
        }
        native.balance = 'handoff';
      }
    },
  };
}
