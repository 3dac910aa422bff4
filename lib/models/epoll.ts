import { Server, type EventLoopOptions, type ServerEvents, type ServerOptions } from '../server';
import { EVENT_LOOP, oneOf, type ModelSpec } from '../spec';

export interface EpollServerOptions extends ServerOptions, EventLoopOptions {
  /** `'level'` (default) or `'edge'` (drains accept and recv until EAGAIN). */
  trigger?: 'level' | 'edge';
}

/** One thread, epoll_wait(). */
export class EpollServer extends Server<ServerEvents, EpollServerOptions> {
  static readonly spec: ModelSpec = {
    ...EVENT_LOOP, name: 'epoll',
    summary: 'one thread, epoll_wait(); level- or edge-triggered',
    options: { trigger: oneOf(['level', 'edge'] as const, 'level') },
    bench: [
      { label: 'epoll level', options: { trigger: 'level' } },
      { label: 'epoll edge', options: { trigger: 'edge' } },
      { label: 'epoll + js', options: { trigger: 'level' }, js: true },
    ],
  };
}
