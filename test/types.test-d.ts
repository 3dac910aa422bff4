// Type tests, tsd style: `npx tsc -p test/tsconfig.json` (npm test runs it
// first) fails if a line marked @ts-expect-error compiles, or if any other
// line does not. Nothing here runs.
import {
  createServer,
  EpollServer,
  ForkServer,
  loadgen,
  MODELS,
  PollServer,
  Server,
  type ChildExit,
  type Connection,
  type ModelName,
} from '../lib/index';

export async function typeTests(): Promise<void> {
  // createServer is typed per model.
  const epoll: EpollServer = createServer('epoll', { trigger: 'edge', loops: 2 });
  const poll: PollServer = createServer('poll');
  // @ts-expect-error poll has no trigger option
  createServer('poll', { trigger: 'edge' });
  // @ts-expect-error not a model
  createServer('epol');
  // @ts-expect-error not one of the triggers
  createServer('epoll', { trigger: 'sideways' });
  const fork = createServer('fork', { maxChildren: 4, reaper: 'pidfd' });
  const asFork: ForkServer = fork;
  // @ts-expect-error a forked child cannot run a JS handler
  createServer('fork', { handler: (conn: Connection) => conn.end() });
  // @ts-expect-error nor can a prefork child
  createServer('prefork', { handler: () => {} });
  createServer('prefork', { handler: 'http' });
  // A model known only as a ModelName gives the common Server.
  const any: Server = createServer(MODELS[0] as ModelName);
  any.on('connection', (conn: Connection) => conn.end());

  // Events are typed: known names, their arguments.
  epoll.on('listening', () => {});
  epoll.once('close', () => {});
  epoll.on('error', (err: Error) => err.message);
  epoll.on('connection', (conn: Connection) => conn.remoteAddress);
  epoll.off('error', () => {});
  epoll.prependListener('listening', () => {});
  epoll.on(Symbol('mine'), () => {});
  asFork.on('childExit', (exit: ChildExit) => exit.code);
  // @ts-expect-error a misspelt event
  epoll.on('eror', () => {});
  // @ts-expect-error a misspelt event, once
  epoll.once('lisening', () => {});
  // @ts-expect-error only ForkServer emits childExit
  epoll.on('childExit', () => {});
  // @ts-expect-error an error listener takes an Error
  epoll.on('error', (code: number) => code);
  // @ts-expect-error a misspelt event on the common Server
  any.addListener('conection', () => {});
  poll.removeListener('close', () => {});

  // listening is a read-only boolean.
  const listening: boolean = epoll.listening;
  // @ts-expect-error read-only
  epoll.listening = !listening;

  // await using / AsyncDisposable.
  const disposable: AsyncDisposable = epoll;
  await disposable[Symbol.asyncDispose]();

  // fd and signal options.
  new EpollServer({ fd: 3 });
  new EpollServer({ signal: AbortSignal.timeout(1000) });
  // @ts-expect-error fd is a number
  new EpollServer({ fd: '3' });
  // @ts-expect-error signal is an AbortSignal
  new EpollServer({ signal: true });
  await loadgen({ port: 1, signal: new AbortController().signal });
  // @ts-expect-error signal is an AbortSignal
  await loadgen({ port: 1, signal: 'stop' });
}
