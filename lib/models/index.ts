// The model table: one line per model, in the order MODELS lists them.
// Everything that enumerates models derives from it: MODELS, createServer's
// per-model types, option validation, the CLI's flags and the bench's rows.
import { binding } from '../binding';
import { registerSpecs } from '../spec';
import { EpollServer } from './epoll';
import { ForkServer } from './fork';
import { IterativeServer } from './iterative';
import { PollServer } from './poll';
import { PreforkServer } from './prefork';
import { SelectServer } from './select';
import { SigioServer } from './sigio';
import { ThreadServer } from './thread';
import { ThreadPoolServer } from './threadpool';
import { UringServer } from './uring';
import { UdpServer } from './udp';

export const MODEL_TABLE = {
  iterative: IterativeServer,
  fork: ForkServer,
  prefork: PreforkServer,
  thread: ThreadServer,
  threadpool: ThreadPoolServer,
  select: SelectServer,
  poll: PollServer,
  epoll: EpollServer,
  uring: UringServer,
  sigio: SigioServer,
  udp: UdpServer,
} as const;

registerSpecs(Object.values(MODEL_TABLE).map((c) => c.spec));

type Table = typeof MODEL_TABLE;
export type ModelName = keyof Table;
/** The class of a model: `ModelClass<'epoll'>` is `typeof EpollServer`. */
export type ModelClass<M extends ModelName> = Table[M];
/** The options a model's constructor takes. */
export type ModelOptions<M extends ModelName> = NonNullable<ConstructorParameters<Table[M]>[0]>;

/** Every model, in order. */
export const MODELS = Object.freeze(Object.keys(MODEL_TABLE)) as readonly ModelName[];

/** Models whose native part is compiled into this build. */
export function nativeModels(): ModelName[] {
  return MODELS.filter((m) => binding.nativeModels.includes(m));
}
