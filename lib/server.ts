// The abstract Server every model class extends: option checks, lifecycle,
// events. A model's own class only names its model and its extra options.
import { EventEmitter } from 'node:events';

import { binding } from './binding';
import { AbortError, codedError, codedTypeError, invalidArgType, validateInteger, validateOptionsObject } from './errors';
import type { ModelName } from './models/index';
import type { ServerStats } from './stats';
import type { Connection } from './connection';
import { JsLink, type JsOpsSink } from './js-link';
import { Hosting, isHostable, type HostableServer } from './hosting';
import { MAX_U32, resolveOptions, type HandlerName } from './options';
import type { ModelSpec } from './spec';

export type { ModelName } from './models/index';

export { HANDLERS, type HandlerName } from './options';
export type { ServerStats, SyscallStats, WorkerStats } from './stats';

/** Options every model accepts. */
export interface ServerOptions {
  /** IPv4 or IPv6 literal to listen on. Default `'127.0.0.1'` (never a wildcard by default). */
  host?: string;
  /** TCP port; `0` (default) lets the kernel pick, and `start()` reports it. */
  port?: number;
  /**
   * On an IPv6 `host`, accept IPv6 clients only. Default `false`: on `'::'`
   * the server is dual-stack (IPv4 clients arrive as `::ffff:a.b.c.d`), as
   * `net.Server` listens. Not with `fd`.
   */
  ipv6Only?: boolean;
  /**
   * Listen on this inherited listening TCP socket instead of opening one on
   * `host`:`port` (not given with them): a socket systemd passed (`fd: 3`
   * with `LISTEN_FDS=1`), or one a parent process opened, as
   * `net.Server.listen({ fd })`. Checked at construction. The server works
   * on a duplicate: `stop()` closes only that, and the socket keeps
   * listening for whoever else holds it. Its file status flags are shared
   * with every holder: the models make it non-blocking, prefork blocking.
   */
  fd?: number;
  /** listen() backlog. Default 511. Not with `fd` (that socket listens already). */
  backlog?: number;
  /**
   * Aborting it stops the server, as `stop()` does; `start()` with it
   * already aborted rejects with an `AbortError`.
   */
  signal?: AbortSignal;
  /**
   * The protocol: a built-in one, `'uppercase'` (default), `'echo'`,
   * `'discard'` or `'http'`, run natively; or your JavaScript,
   * `(conn: Connection) => void`, called once per accepted connection (every
   * model that runs in this process; not fork or prefork); or your node
   * server (`http.Server`, `https.Server`, an http2 server, `tls.Server`,
   * `net.Server`: Express, Koa, ws behind http), which gets every connection
   * by its `'connection'` event and behaves as if it had listened: see
   * README "Run your node:http app on a netmodels model".
   */
  handler?: HandlerName | ConnectionHandler | HostableServer;
  /** Beyond this many open connections new ones are closed at once and counted as `rejected`. 0 = no limit. */
  maxConnections?: number;
  /**
   * Beyond this many open connections from one remote IP, new ones from it
   * are closed at once and counted as `rejected` (tcpserver `-C`, systemd
   * `MaxConnectionsPerSource`, xinetd `per_source`). 0 (default) = no limit.
   */
  maxConnectionsPerSource?: number;
  /** Close a connection idle for this long. 0 (default) = never. */
  idleTimeoutMs?: number;
  /** Pending output per connection above which the server stops reading from it. Default 1 MiB. */
  highWaterMark?: number;
}

/** Options of the event-loop models (select, poll, epoll, uring, sigio). */
export interface EventLoopOptions {
  /**
   * Independent loops of this model, each on its own thread, behind one
   * start/stop/stats. Default 1; `'auto'`: the CPUs this process may use.
   */
  loops?: number | 'auto';
  /**
   * How connections reach the loops: `'reuseport'` (default; one SO_REUSEPORT
   * listener per loop, the kernel spreads by hash), `'handoff'` (one acceptor
   * hands each connection to the next loop, round-robin) or `'shared'` (one
   * listener watched by every loop; EPOLLEXCLUSIVE for epoll).
   */
  balance?: 'reuseport' | 'handoff' | 'shared';
}

export interface AddressInfo {
  address: string;
  family: 'IPv4' | 'IPv6';
  port: number;
}

/**
 * The events of a server and their arguments. `server.on()`, `once()`,
 * `off()` and the other listener methods take only these names (and
 * symbols), so a misspelt event does not compile.
 */
export interface ServerEvents {
  /** `start()` succeeded (emitted on the next tick). */
  listening: [];
  /** `stop()` finished: nothing is left. */
  close: [];
  /** An error the running model met (also counted in `stats().errors`). */
  error: [err: Error];
  /** A connection for the JS handler (`handler` a function). */
  connection: [conn: Connection];
  /** A connection refused for `maxConnections` (or during `stop({ drainMs })`), as net.Server's `'drop'`. */
  drop: [data: DropInfo];
  newListener: [event: string | symbol, listener: (...args: any[]) => void];
  removeListener: [event: string | symbol, listener: (...args: any[]) => void];
}

type Args<T> = T extends unknown[] ? T : never;

/** What `'drop'` tells of a refused connection, as node's net.Server. */
export interface DropInfo {
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
  remoteFamily: 'IPv4' | 'IPv6';
}

/** `stop()`'s options. */
export interface StopOptions {
  /**
   * Stop accepting at once (a new connection is refused: closed, counted in
   * `rejected`, `'drop'`), let the open connections finish for up to this
   * long, then close the rest as `stop()` does. net.Server's `close()`.
   * Default 0: close them at once.
   */
  drainMs?: number;
}

/** The JS side of the JS-handler bridge, as the server drives it. */
export interface HandlerLink {
  /** The batch callback handed to the native start(). */
  readonly onBatch: JsLink['onBatch'];
  /** Binds the link to the started server's native side. */
  attach(native: JsOpsSink): void;
  /** After stop(): nothing more goes to the native side. */
  closeAll(): void;
}

/** Your protocol in JavaScript: called once per accepted connection, on the JS thread. */
export type ConnectionHandler = (conn: Connection) => void;

export interface NativeServer extends JsOpsSink {
  start(
    onError: (err: Error) => void,
    onEvent: (name: string, payload: Record<string, unknown>) => void,
    onBatch?: JsLink['onBatch'],
  ): AddressInfo;
  stop(): Promise<void>;
  wantEvents(on: boolean): void;
  setMaxConnections(max: number): void;
  ref(on: boolean): void;
  stats(): Omit<ServerStats, 'model' | 'address' | 'port'>;
}

// Running servers are referenced from here so one the user dropped is not
// collected while its native thread still serves (as a listening
// net.Server is kept by its handle).
const running = new Set<Server>();

type State = 'stopped' | 'starting' | 'running' | 'stopping';

/** A listener method typed by the server's events, and the untyped one for symbols. */
type ListenerMethod<Events, This> = {
  <E extends keyof Events>(event: E, listener: (...args: Args<Events[E]>) => void): This;
  (event: symbol, listener: (...args: any[]) => void): This;
};

/** Listener methods typed by the server's events (`Events`): declared here, inherited from EventEmitter. */
export interface Server<Events extends ServerEvents = ServerEvents, Options extends object = ServerOptions> {
  on: ListenerMethod<Events, this>;
  once: ListenerMethod<Events, this>;
  off: ListenerMethod<Events, this>;
  addListener: ListenerMethod<Events, this>;
  removeListener: ListenerMethod<Events, this>;
  prependListener: ListenerMethod<Events, this>;
  prependOnceListener: ListenerMethod<Events, this>;
}

// `Events` types the listener methods (the interface above), `Options` the
// constructor of a model class, which declares none of its own.
export abstract class Server<Events extends ServerEvents = ServerEvents, Options extends object = ServerOptions> extends EventEmitter {
  readonly #model: ModelName;
  readonly #native: NativeServer;
  #state: State = 'stopped';
  #address: AddressInfo | null = null;
  #lastAddress: AddressInfo | null = null;
  #stopping: Promise<void> | null = null;
  readonly #handler: Function | null = null;
  readonly #highWaterMark: number;
  #link: HandlerLink | null = null;
  readonly #hosting: Hosting | null = null;
  readonly #signal: AbortSignal | undefined;
  #onAbort: (() => void) | null = null;
  #maxConnections: number;
  #draining = false;

  /** A model class is constructed with its options; its `static spec` says what they are. */
  constructor(options?: Options) {
    super();
    const spec = (new.target as unknown as { spec?: ModelSpec }).spec;
    if (typeof spec !== 'object' || spec === null || typeof spec.name !== 'string') {
      throw codedTypeError(
        'ERR_ILLEGAL_CONSTRUCTOR',
        'Server is abstract: construct a model class (EpollServer, ...) or call createServer(model, options)',
      );
    }
    const model = spec.name as ModelName;
    this.#model = model;
    const o = validateOptionsObject('options', options);
    const owner = `${this.constructor.name}`;
    const { native, signal } = resolveOptions(spec, o, owner);
    this.#signal = signal;
    if (isHostable(o.handler)) {
      this.#hosting = new Hosting(o.handler, this);
      this.#handler = this.#hosting.handler;
    } else if (typeof o.handler === 'function') {
      this.#handler = o.handler;
    }
    this.#highWaterMark = native.highWaterMark as number;
    this.#maxConnections = native.maxConnections as number;
    this.#native = new binding.NativeServer(model, native);
    // The model's own events are built natively only while someone listens.
    const events = [...(spec.events ?? []), ...(spec.family === 'datagram' ? [] : ['drop'])];
    if (events.length > 0) {
      const listened = () => events.some((name) => this.listenerCount(name) > 0);
      const emitter = this as EventEmitter; // `Events` is open here: the untyped methods
      emitter.on('newListener', (name: string | symbol) => {
        if (typeof name === 'string' && events.includes(name)) this.#native.wantEvents(true);
      });
      emitter.on('removeListener', (name: string | symbol) => {
        if (typeof name === 'string' && events.includes(name)) this.#native.wantEvents(listened());
      });
    }
  }

  /**
   * The JS side of the bridge for a function handler. A model whose handler
   * is not called per connection (udp: per datagram) brings its own.
   */
  protected handlerLink(handler: Function, highWaterMark: number): HandlerLink {
    return new JsLink(handler as ConnectionHandler, (conn) => this.emit('connection', conn), highWaterMark);
  }

  /**
   * A model's own event, from its native side. Emitted only when someone
   * listens; a model class may override this to shape the payload.
   */
  protected modelEvent(name: string, payload: Record<string, unknown>): void {
    if (this.listenerCount(name) > 0) this.emit(name, payload);
  }

  /** The concurrency model this server runs. */
  get model(): ModelName {
    return this.#model;
  }

  /** Whether the server is accepting connections (from `start()` to `stop()`). */
  get listening(): boolean {
    return this.#state === 'running';
  }

  /** Binds, listens and starts the model's thread; resolves once connections are accepted. */
  async start(): Promise<AddressInfo> {
    if (this.#state !== 'stopped') {
      throw codedError('ERR_SERVER_ALREADY_LISTEN', 'Listen method has been called more than once without closing.');
    }
    const signal = this.#signal;
    if (signal?.aborted) throw new AbortError(undefined, { cause: signal.reason });
    this.#hosting?.claim();
    this.#state = 'starting';
    const link = this.#handler ? this.handlerLink(this.#handler, this.#highWaterMark) : null;
    try {
      this.#native.setMaxConnections(this.#maxConnections);
      const address = this.#native.start((err) => {
        // A loop error is always counted in stats().errors; it is emitted when
        // someone listens, rather than crash the process as an unhandled
        // 'error'. One still queued when stop() finished is not emitted
        // after 'close'.
        if (this.#state !== 'stopped' && this.listenerCount('error') > 0) this.emit('error', err);
      }, (name, payload) => this.modelEvent(name, payload), link?.onBatch);
      link?.attach(this.#native);
      this.#link = link;
      this.#address = this.#lastAddress = { ...address };
    } catch (err) {
      this.#state = 'stopped';
      this.#hosting?.stopped();
      Error.captureStackTrace?.(err as object, this.start);
      // As net.Server reports a failed listen(): on 'error' for whoever
      // listens there, and (here) as the rejection too.
      if (this.listenerCount('error') > 0) process.nextTick(() => this.emit('error', err as Error));
      throw err;
    }
    this.#state = 'running';
    running.add(this);
    if (signal) {
      this.#onAbort = () => {
        // A stop() that fails is reported as a loop error would be.
        this.stop().catch((err: Error) => {
          if (this.listenerCount('error') > 0) this.emit('error', err);
        });
      };
      signal.addEventListener('abort', this.#onAbort, { once: true });
    }
    this.#hosting?.started();
    // 'listening' on the next tick (a listener added just after start() is
    // called still hears it) and before start() resolves, whatever queue
    // the caller's continuation runs from.
    await new Promise<void>((resolve) => process.nextTick(resolve));
    if (this.#state === 'running') this.emit('listening');
    return { ...this.#address };
  }

  /**
   * The most connections served at once (0: no limit), as net.Server's
   * `maxConnections`: settable while running, for every model (prefork's
   * children read it from shared memory); it applies from the next accept,
   * and connections already open stay. Kept for later `start()`s.
   */
  get maxConnections(): number {
    return this.#maxConnections;
  }

  set maxConnections(value: number) {
    if (value === undefined) throw invalidArgType('maxConnections', 'of type number', value);
    this.#maxConnections = validateInteger('maxConnections', value, 0, MAX_U32, 0);
    if (!this.#draining) this.#native.setMaxConnections(this.#maxConnections);
  }

  /**
   * Stops accepting, closes every connection, joins every thread, reaps every
   * child. With `drainMs`, the open connections first get up to that long
   * to finish (see StopOptions).
   */
  async stop(options?: StopOptions): Promise<void> {
    const drainMs = validateInteger('options.drainMs', validateOptionsObject('options', options).drainMs, 0, MAX_U32, 0);
    if (this.#state === 'stopping' && this.#stopping) return this.#stopping;
    if (this.#state !== 'running') {
      throw codedError('ERR_SERVER_NOT_RUNNING', 'Server is not running.');
    }
    this.#state = 'stopping';
    if (this.#onAbort) this.#signal!.removeEventListener('abort', this.#onAbort);
    this.#onAbort = null;
    this.#stopping = (async () => {
      try {
        if (drainMs > 0) await this.#drain(drainMs);
        await this.#native.stop();
      } finally {
        this.#draining = false;
        this.#link?.closeAll();
        this.#link = null;
        this.#hosting?.stopped();
        this.#state = 'stopped';
        this.#address = null;
        this.#stopping = null;
        running.delete(this);
      }
      this.emit('close');
    })();
    return this.#stopping;
  }

  // Refuses every new connection, then waits until none is open or
  // `drainMs` has passed. Polled: the end of the last connection has no
  // event of its own for every model.
  async #drain(drainMs: number): Promise<void> {
    this.#draining = true;
    this.#native.setMaxConnections(-1);
    const deadline = Date.now() + drainMs;
    while (this.#native.stats().active > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(10, Math.max(1, deadline - Date.now()))));
    }
  }

  /** A synchronous snapshot of the counters. */
  stats(): ServerStats {
    const last = this.#lastAddress;
    return {
      model: this.#model,
      address: last ? last.address : '',
      port: last ? last.port : 0,
      ...this.#native.stats(),
    };
  }

  /**
   * Lets the process exit while this server runs, as `net.Server.unref()`
   * (the server is stopped by the exit). Kept across stop() and start().
   */
  unref(): this {
    this.#native.ref(false);
    return this;
  }

  /** Undoes unref(): a running server keeps the process alive (the default). */
  ref(): this {
    this.#native.ref(true);
    return this;
  }

  /**
   * `await using server = ...`: stops the server, if it runs, when the scope
   * ends (a stopped or never started server is left as it is).
   */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#state === 'running' || this.#state === 'stopping') await this.stop();
  }

  /** The bound address while running, otherwise null. */
  address(): AddressInfo | null {
    return this.#address ? { ...this.#address } : null;
  }
}
