// netmodels: the classic TCP server concurrency models, run natively.
import { invalidArgType, invalidArgValue } from './errors';
import { EpollServer, type EpollServerOptions } from './models/epoll';
import { ForkServer, type ForkServerOptions } from './models/fork';
import { IterativeServer, type IterativeServerOptions } from './models/iterative';
import { PollServer, type PollServerOptions } from './models/poll';
import { SelectServer, type SelectServerOptions } from './models/select';
import { ThreadServer, type ThreadServerOptions } from './models/thread';
import { MODELS, type ModelName, type Server } from './server';

export { Server, MODELS, HANDLERS, nativeModels } from './server';
export type { AddressInfo, HandlerName, ModelName, ServerOptions, ServerStats } from './server';
export { IterativeServer, type IterativeServerOptions } from './models/iterative';
export { EpollServer, type EpollServerOptions } from './models/epoll';
export { ForkServer, type ForkServerOptions } from './models/fork';
export { SelectServer, type SelectServerOptions } from './models/select';
export { PollServer, type PollServerOptions } from './models/poll';
export { ThreadServer, type ThreadServerOptions } from './models/thread';
export * as sys from './sys';
export { loadgen } from './loadgen';
export type { LoadgenOptions, LoadReport, LoadProgress, LatencyUs, LoadMode, LoadExpect } from './loadgen';

interface ModelOptionsMap {
  iterative: IterativeServerOptions;
  epoll: EpollServerOptions;
  fork: ForkServerOptions;
  thread: ThreadServerOptions;
  select: SelectServerOptions;
  poll: PollServerOptions;
}

const CLASSES: Record<ModelName, new (options?: never) => Server> = {
  iterative: IterativeServer,
  fork: ForkServer,
  thread: ThreadServer,
  select: SelectServer,
  poll: PollServer,
  epoll: EpollServer,
};

/** Creates a server of the named model: `createServer('epoll', { trigger: 'edge' })`. */
export function createServer<M extends ModelName>(model: M, options?: ModelOptionsMap[M]): Server {
  if (typeof model !== 'string') throw invalidArgType('model', 'of type string', model);
  if (!(MODELS as readonly string[]).includes(model)) {
    throw invalidArgValue('model', model, `must be one of: ${MODELS.map((m) => `'${m}'`).join(', ')}`);
  }
  return new CLASSES[model](options as never);
}
