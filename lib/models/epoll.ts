import { Server, type EventLoopOptions, type ServerOptions } from '../server';
import { oneOf, type ModelSpec } from '../spec';

export interface EpollServerOptions extends ServerOptions, EventLoopOptions {
  /** `'level'` (default) or `'edge'` (drains accept and recv until EAGAIN). */
  trigger?: 'level' | 'edge';
}

/** One thread, epoll_wait(). */
export class EpollServer extends Server {
  static readonly spec: ModelSpec = {
    name: 'epoll',
    family: 'event',
    serial: false, jsHandler: 'connection', childPerConnection: false, waits: 'readiness', idleTimeout: true, linger: 'loop', emfile: 'reserve',
    summary: 'one thread, epoll_wait(); level- or edge-triggered',
    options: { trigger: oneOf(['level', 'edge'] as const, 'level') },
    bench: [
      { label: 'epoll level', options: { trigger: 'level' } },
      { label: 'epoll edge', options: { trigger: 'edge' } },
      { label: 'epoll + js', options: { trigger: 'level' }, js: true },
    ],
  };

  constructor(options?: EpollServerOptions) {
    super(EpollServer.spec, options);
  }
}
