// The abstract Server every model class extends: option checks, lifecycle,
// events. A model's own class only names its model and its extra options.
import { EventEmitter } from 'node:events';
import { isIP } from 'node:net';

import { binding } from './binding';
import {
  codedError,
  invalidArgType,
  invalidArgValue,
  rejectUnknownOptions,
  validateInteger,
  validateOneOf,
  validateOptionsObject,
} from './errors';
import type { ModelName } from './models/index';
import type { ModelSpec } from './spec';

export type { ModelName } from './models/index';

export const HANDLERS = ['uppercase', 'echo', 'discard', 'http'] as const;
export type HandlerName = (typeof HANDLERS)[number];

/** Options every model accepts. */
export interface ServerOptions {
  /** IPv4 or IPv6 literal to listen on. Default `'127.0.0.1'` (never a wildcard by default). */
  host?: string;
  /** TCP port; `0` (default) lets the kernel pick, and `start()` reports it. */
  port?: number;
  /** listen() backlog. Default 511. */
  backlog?: number;
  /** The protocol: `'uppercase'` (default), `'echo'`, `'discard'` or `'http'`. */
  handler?: HandlerName;
  /** Beyond this many open connections new ones are closed at once and counted as `rejected`. 0 = no limit. */
  maxConnections?: number;
  /** Close a connection idle for this long. 0 (default) = never. */
  idleTimeoutMs?: number;
  /** Pending output per connection above which the server stops reading from it. Default 1 MiB. */
  highWaterMark?: number;
}

export interface AddressInfo {
  address: string;
  family: 'IPv4' | 'IPv6';
  port: number;
}

/** One shape for every model. Counters are exact. `accepted === active + closed + rejected` once quiescent. */
export interface ServerStats {
  model: ModelName;
  running: boolean;
  address: string;
  port: number;
  /** Connections accepted from the kernel (including the ones then rejected). */
  accepted: number;
  /** Open now. */
  active: number;
  /** Most open at once. */
  peakActive: number;
  /** Served and closed. */
  closed: number;
  /** Accepted then refused (maxConnections, fd >= FD_SETSIZE, maxChildren...). */
  rejected: number;
  bytesIn: number;
  bytesOut: number;
  /** Per part of the model (loop, pool thread, prefork child); absent for a model of one part. */
  workers?: WorkerStats[];
  /** Successful recv syscalls. */
  reads: number;
  /** Successful send syscalls. */
  writes: number;
  /** Returns from select/poll/epoll_wait, or from accept in blocking models. */
  wakeups: number;
  /** The reaper really in use (process models): `'pidfd'`, or `'sigchld'` after a fallback. */
  reaper?: 'pidfd' | 'sigchld';
  /** Children reaped (fork; 0 elsewhere). */
  reaped: number;
  /** Unexpected syscall failures survived. */
  errors: number;
  uptimeMs: number;
}

/** One part of a model in `stats().workers`: a loop, a pool thread, a prefork child. */
export interface WorkerStats {
  /** The child's pid (process models). */
  pid?: number;
  /** Whether the part is serving a client now (pool models). */
  state?: 'idle' | 'busy';
  accepted: number;
  active: number;
  /** Connections it finished serving. */
  served: number;
  bytesIn: number;
  bytesOut: number;
  wakeups: number;
}

interface NativeServer {
  start(onError: (err: Error) => void): AddressInfo;
  stop(): Promise<void>;
  stats(): Omit<ServerStats, 'model' | 'address' | 'port'>;
}

const MAX_U32 = 2 ** 32 - 1;

// Running servers are referenced from here so one the user dropped is not
// collected while its native thread still serves (as a listening
// net.Server is kept by its handle).
const running = new Set<Server>();

type State = 'stopped' | 'starting' | 'running' | 'stopping';

export abstract class Server extends EventEmitter {
  readonly #model: ModelName;
  readonly #native: NativeServer;
  #state: State = 'stopped';
  #address: AddressInfo | null = null;
  #lastAddress: AddressInfo | null = null;
  #stopping: Promise<void> | null = null;

  protected constructor(spec: ModelSpec, options: unknown) {
    super();
    const model = spec.name as ModelName;
    this.#model = model;
    const o = validateOptionsObject('options', options);
    const owner = `${this.constructor.name}`;
    rejectUnknownOptions(
      'options',
      o,
      ['host', 'port', 'backlog', 'handler', 'maxConnections', 'idleTimeoutMs', 'highWaterMark', ...Object.keys(spec.options)],
      owner,
    );
    const host = o.host === undefined ? '127.0.0.1' : o.host;
    if (typeof host !== 'string') throw invalidArgType('options.host', 'of type string', host);
    if (isIP(host) === 0) throw invalidArgValue('options.host', host, 'must be an IPv4 or IPv6 address literal');
    const native: Record<string, unknown> = {
      host,
      port: validateInteger('options.port', o.port, 0, 65535, 0),
      backlog: validateInteger('options.backlog', o.backlog, 0, 65535, 511),
      handler: validateOneOf('options.handler', o.handler, HANDLERS, 'uppercase'),
      maxConnections: validateInteger('options.maxConnections', o.maxConnections, 0, MAX_U32, 0),
      idleTimeoutMs: validateInteger('options.idleTimeoutMs', o.idleTimeoutMs, 0, MAX_U32, 0),
      highWaterMark: validateInteger('options.highWaterMark', o.highWaterMark, 1, 2 ** 40, 1 << 20),
    };
    // Every key is sent, defaults applied: the native side keeps no defaults.
    for (const [key, option] of Object.entries(spec.options)) {
      native[key] = option.check(`options.${key}`, o[key]);
    }
    spec.validate?.(native);
    this.#native = new binding.NativeServer(model, native) as NativeServer;
  }

  /** The concurrency model this server runs. */
  get model(): ModelName {
    return this.#model;
  }

  /** Binds, listens and starts the model's thread; resolves once connections are accepted. */
  async start(): Promise<AddressInfo> {
    if (this.#state !== 'stopped') {
      throw codedError('ERR_SERVER_ALREADY_LISTEN', 'Listen method has been called more than once without closing.');
    }
    this.#state = 'starting';
    try {
      const address = this.#native.start((err) => {
        // A loop error is always counted in stats().errors; it is emitted when
        // someone listens, rather than crash the process as an unhandled
        // 'error'. One still queued when stop() finished is not emitted
        // after 'close'.
        if (this.#state !== 'stopped' && this.listenerCount('error') > 0) this.emit('error', err);
      });
      this.#address = this.#lastAddress = { ...address };
    } catch (err) {
      this.#state = 'stopped';
      Error.captureStackTrace?.(err as object, this.start);
      throw err;
    }
    this.#state = 'running';
    running.add(this);
    process.nextTick(() => this.emit('listening'));
    return { ...this.#address };
  }

  /** Stops accepting, closes every connection, joins every thread, reaps every child. */
  async stop(): Promise<void> {
    if (this.#state === 'stopping' && this.#stopping) return this.#stopping;
    if (this.#state !== 'running') {
      throw codedError('ERR_SERVER_NOT_RUNNING', 'Server is not running.');
    }
    this.#state = 'stopping';
    this.#stopping = (async () => {
      try {
        await this.#native.stop();
      } finally {
        this.#state = 'stopped';
        this.#address = null;
        this.#stopping = null;
        running.delete(this);
      }
      this.emit('close');
    })();
    return this.#stopping;
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

  /** The bound address while running, otherwise null. */
  address(): AddressInfo | null {
    return this.#address ? { ...this.#address } : null;
  }
}


