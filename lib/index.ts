// netmodels: the classic TCP server concurrency models, run natively.
import { invalidArgType, invalidArgValue } from './errors';
import { MODEL_TABLE, MODELS, type ModelClass, type ModelName, type ModelOptions } from './models/index';
import type { Server } from './server';

export { Server, HANDLERS } from './server';
export { Connection } from './connection';
export type { ConnectionAddresses } from './connection';
export type { AddressInfo, ConnectionHandler, DropInfo, EventLoopOptions, HandlerName, ServerEvents, ServerOptions, StopOptions } from './server';
export type { ServerStats, SyscallStats, WorkerStats } from './stats';
export { AbortError } from './errors';
export { MODELS, MODEL_TABLE, nativeModels } from './models/index';
export type { ModelName, ModelClass, ModelOptions } from './models/index';
export type { ModelSpec, ModelFamily, OptionSpec, BenchVariant } from './spec';
export { IterativeServer, type IterativeServerOptions } from './models/iterative';
export { EpollServer, type EpollServerOptions } from './models/epoll';
export { ForkServer, type ForkServerOptions, type ForkServerEvents, type ChildExit } from './models/fork';
export { PreforkServer, type PreforkServerOptions } from './models/prefork';
export { SelectServer, type SelectServerOptions } from './models/select';
export { PollServer, type PollServerOptions } from './models/poll';
export { ThreadServer, type ThreadServerOptions } from './models/thread';
export { ThreadPoolServer, type ThreadPoolServerOptions } from './models/threadpool';
export { UringServer, type UringServerOptions } from './models/uring';
export { SigioServer, type SigioServerOptions } from './models/sigio';
export { UdpServer, type UdpServerOptions, type UdpServerStats, type DatagramHandler, type RemoteInfo, type Reply } from './models/udp';
export * as sys from './sys';
export { loadgen } from './loadgen';
export type { LoadgenOptions, LoadReport, LoadProgress, LoadPhase, LatencyUs, LoadMode, LoadExpect } from './loadgen';

type IsUnion<T, U = T> = T extends unknown ? ([U] extends [T] ? false : true) : never;

/**
 * The server `createServer(model)` returns: the model's class for one model
 * (`'epoll'`: `EpollServer`), the common `Server` for a model known only as
 * a `ModelName` (the classes' events differ, so a union of them would take
 * no listener).
 */
export type ServerOf<M extends ModelName> = true extends IsUnion<M> ? Server : InstanceType<ModelClass<M>>;

/** Creates a server of the named model: `createServer('epoll', { trigger: 'edge' })` is an `EpollServer`. */
export function createServer<M extends ModelName>(model: M, options?: ModelOptions<M>): ServerOf<M> {
  if (typeof model !== 'string') throw invalidArgType('model', 'of type string', model);
  if (!(MODELS as readonly string[]).includes(model)) {
    throw invalidArgValue('model', model, `must be one of: ${MODELS.map((m) => `'${m}'`).join(', ')}`);
  }
  const Class = MODEL_TABLE[model] as unknown as new (options?: ModelOptions<M>) => ServerOf<M>;
  return new Class(options);
}
