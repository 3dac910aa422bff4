import { validateOneOf } from '../errors';
import { Server, type ServerOptions } from '../server';

export interface EpollServerOptions extends ServerOptions {
  /** `'level'` (default) or `'edge'` (drains accept and recv until EAGAIN). */
  trigger?: 'level' | 'edge';
}

/** One thread, epoll_wait(). */
export class EpollServer extends Server {
  constructor(options?: EpollServerOptions) {
    super('epoll', options, {
      trigger: (name, value) => validateOneOf(name, value, ['level', 'edge'] as const, 'level'),
    });
  }
}
