// netmodels: the classic TCP server concurrency models, run natively.
import { codedError, invalidArgType, invalidArgValue } from './errors';
import { EpollServer, type EpollServerOptions } from './models/epoll';
import { ForkServer, type ForkServerOptions } from './models/fork';
import { IterativeServer, type IterativeServerOptions } from './models/iterative';
import { MODELS, type ModelName, type Server, type ServerOptions } from './server';

export { Server, MODELS, HANDLERS, nativeModels } from './server';
export type { AddressInfo, HandlerName, ModelName, ServerOptions, ServerStats } from './server';
export { IterativeServer, type IterativeServerOptions } from './models/iterative';
export { EpollServer, type EpollServerOptions } from './models/epoll';
export { ForkServer, type ForkServerOptions } from './models/fork';

interface ModelOptionsMap {
  iterative: IterativeServerOptions;
  epoll: EpollServerOptions;
  fork: ForkServerOptions;
  thread: ServerOptions;
  select: ServerOptions;
  poll: ServerOptions;
}

const CLASSES: Partial<Record<ModelName, new (options?: never) => Server>> = {
  iterative: IterativeServer,
  epoll: EpollServer,
  fork: ForkServer,
};

/** Creates a server of the named model: `createServer('epoll', { trigger: 'edge' })`. */
export function createServer<M extends ModelName>(model: M, options?: ModelOptionsMap[M]): Server {
  if (typeof model !== 'string') throw invalidArgType('model', 'of type string', model);
  if (!(MODELS as readonly string[]).includes(model)) {
    throw invalidArgValue('model', model, `must be one of: ${MODELS.map((m) => `'${m}'`).join(', ')}`);
  }
  const Class = CLASSES[model];
  if (!Class) throw codedError('ERR_NOT_IMPLEMENTED', `The ${model} model is not implemented yet`);
  return new Class(options as never);
}
