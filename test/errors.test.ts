// Model-independent checks: MODELS, createServer, option validation at
// construction (Node-style errors) and lifecycle errors owned by the Server
// base. The per-model lifecycle (EADDRINUSE, double start/stop on a real
// server) lives in the conformance suite.
import { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { EpollServer, IterativeServer, MODELS, MODEL_TABLE, Server, createServer, nativeModels } from '../lib/index';
import { modelOptions } from '../lib/spec';
import { cleanup, trackServer } from './helpers';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyCtor = new (options?: any) => Server;

const CLASSES: Array<[string, AnyCtor]> = [
  ['IterativeServer', IterativeServer as unknown as AnyCtor],
  ['EpollServer', EpollServer as unknown as AnyCtor],
];

/** Runs `fn` and returns what it threw (fails if it did not throw). */
function thrown(fn: () => unknown): Error & { code?: string } {
  try {
    fn();
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error('expected the call to throw');
}

afterEach(cleanup);

/** Whether `model`'s constructor takes option `key`: its table spec says. */
function createServerTakes(model: (typeof MODELS)[number], key: string): boolean {
  return key in modelOptions(MODEL_TABLE[model].spec);
}

describe('MODELS and createServer', () => {
  it('MODELS lists the models in order', () => {
    expect([...MODELS]).toEqual(['iterative', 'fork', 'prefork', 'thread', 'threadpool', 'select', 'poll', 'epoll', 'uring', 'sigio', 'udp']);
  });

  it('createServer returns the matching class for iterative and epoll', () => {
    const it1 = createServer('iterative');
    expect(it1).toBeInstanceOf(IterativeServer);
    expect(it1).toBeInstanceOf(Server);
    expect(it1).toBeInstanceOf(EventEmitter);
    expect(it1.model).toBe('iterative');
    const ep = createServer('epoll', { trigger: 'edge', port: 0 });
    expect(ep).toBeInstanceOf(EpollServer);
    expect(ep.model).toBe('epoll');
  });

  it('createServer builds every model in MODELS that this build has', () => {
    for (const model of nativeModels()) {
      const server = createServer(model);
      expect(server).toBeInstanceOf(Server);
      expect(server.model).toBe(model);
      expect(server.stats()).toMatchObject({ model, running: false, accepted: 0 });
    }
  });

  it("createServer('nope') throws ERR_INVALID_ARG_VALUE; a non-string model throws ERR_INVALID_ARG_TYPE", () => {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const bad = thrown(() => createServer('nope' as any));
    expect(bad).toBeInstanceOf(Error);
    expect(bad.code).toBe('ERR_INVALID_ARG_VALUE');
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const wrongType = thrown(() => createServer(5 as any));
    expect(wrongType).toBeInstanceOf(TypeError);
    expect(wrongType.code).toBe('ERR_INVALID_ARG_TYPE');
  });

  it('createServer validates the options of the model it builds', () => {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const e = thrown(() => createServer('epoll', { trigger: 'sideways' } as any));
    expect(e).toBeInstanceOf(RangeError);
    expect(e.code).toBe('ERR_INVALID_ARG_VALUE');
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const t = thrown(() => createServer('iterative', { port: '80' } as any));
    expect(t).toBeInstanceOf(TypeError);
    expect(t.code).toBe('ERR_INVALID_ARG_TYPE');
  });
});

// [description, options, error class, code, a word the message must name]
type Case = [string, unknown, typeof TypeError | typeof RangeError, string, string];

const COMMON_CASES: Case[] = [
  ['port as a string', { port: '80' }, TypeError, 'ERR_INVALID_ARG_TYPE', 'port'],
  ['port null', { port: null }, TypeError, 'ERR_INVALID_ARG_TYPE', 'port'],
  ['port 70000', { port: 70000 }, RangeError, 'ERR_OUT_OF_RANGE', 'port'],
  ['port 65536', { port: 65536 }, RangeError, 'ERR_OUT_OF_RANGE', 'port'],
  ['port -1', { port: -1 }, RangeError, 'ERR_OUT_OF_RANGE', 'port'],
  ['port 1.5', { port: 1.5 }, RangeError, 'ERR_OUT_OF_RANGE', 'port'],
  ['port NaN', { port: NaN }, RangeError, 'ERR_OUT_OF_RANGE', 'port'],
  ['backlog -1', { backlog: -1 }, RangeError, 'ERR_OUT_OF_RANGE', 'backlog'],
  ['backlog as a string', { backlog: '10' }, TypeError, 'ERR_INVALID_ARG_TYPE', 'backlog'],
  ['handler 5', { handler: 5 }, TypeError, 'ERR_INVALID_ARG_TYPE', 'handler'],
  ["handler 'nope'", { handler: 'nope' }, RangeError, 'ERR_INVALID_ARG_VALUE', 'handler'],
  ['host 5', { host: 5 }, TypeError, 'ERR_INVALID_ARG_TYPE', 'host'],
  ["host 'not-an-ip'", { host: 'not-an-ip' }, RangeError, 'ERR_INVALID_ARG_VALUE', 'host'],
  ["host 'localhost'", { host: 'localhost' }, RangeError, 'ERR_INVALID_ARG_VALUE', 'host'],
  ["host ''", { host: '' }, RangeError, 'ERR_INVALID_ARG_VALUE', 'host'],
  ["ipv6Only 'yes'", { host: '::1', ipv6Only: 'yes' }, TypeError, 'ERR_INVALID_ARG_TYPE', 'ipv6Only'],
  ['ipv6Only 1', { ipv6Only: 1 }, TypeError, 'ERR_INVALID_ARG_TYPE', 'ipv6Only'],
  ['maxConnections -1', { maxConnections: -1 }, RangeError, 'ERR_OUT_OF_RANGE', 'maxConnections'],
  ['maxConnections as a string', { maxConnections: '2' }, TypeError, 'ERR_INVALID_ARG_TYPE', 'maxConnections'],
  ['maxConnectionsPerSource -1', { maxConnectionsPerSource: -1 }, RangeError, 'ERR_OUT_OF_RANGE', 'maxConnectionsPerSource'],
  ['maxConnectionsPerSource 1.5', { maxConnectionsPerSource: 1.5 }, RangeError, 'ERR_OUT_OF_RANGE', 'maxConnectionsPerSource'],
  ['maxConnectionsPerSource as a string', { maxConnectionsPerSource: '2' }, TypeError, 'ERR_INVALID_ARG_TYPE', 'maxConnectionsPerSource'],
  ['idleTimeoutMs -1', { idleTimeoutMs: -1 }, RangeError, 'ERR_OUT_OF_RANGE', 'idleTimeoutMs'],
  ['idleTimeoutMs 1.5', { idleTimeoutMs: 1.5 }, RangeError, 'ERR_OUT_OF_RANGE', 'idleTimeoutMs'],
  ['idleTimeoutMs true', { idleTimeoutMs: true }, TypeError, 'ERR_INVALID_ARG_TYPE', 'idleTimeoutMs'],
  ['highWaterMark -1', { highWaterMark: -1 }, RangeError, 'ERR_OUT_OF_RANGE', 'highWaterMark'],
  ['highWaterMark as a string', { highWaterMark: '1024' }, TypeError, 'ERR_INVALID_ARG_TYPE', 'highWaterMark'],
  ['an unknown option key', { prot: 80 }, RangeError, 'ERR_INVALID_ARG_VALUE', 'prot'],
  ['options as a number', 5, TypeError, 'ERR_INVALID_ARG_TYPE', 'options'],
  ['options as a string', 'port=80', TypeError, 'ERR_INVALID_ARG_TYPE', 'options'],
];

describe.each(CLASSES)('%s constructor validation', (_name, Ctor) => {
  it.each(COMMON_CASES)('rejects %s', (_desc, options, ErrorClass, code, word) => {
    const err = thrown(() => new Ctor(options));
    expect(err).toBeInstanceOf(ErrorClass);
    expect(err.code).toBe(code);
    expect(err.message).toContain(word);
  });

  it('accepts every valid common option', () => {
    const valid: Array<Record<string, unknown>> = [
      {},
      { port: 0 },
      { port: 65535 },
      { host: '127.0.0.1' },
      { host: '::1' },
      { host: '::1', ipv6Only: true },
      { ipv6Only: false },
      { host: '0.0.0.0' },
      { backlog: 0 },
      { backlog: 4096 },
      { handler: 'uppercase' },
      { handler: 'echo' },
      { handler: 'discard' },
      { handler: 'http' },
      { maxConnections: 10 },
      { maxConnectionsPerSource: 0 },
      { maxConnectionsPerSource: 3 },
      { idleTimeoutMs: 0 },
      { idleTimeoutMs: 1000 },
      { highWaterMark: 64 * 1024 },
      { port: undefined, host: undefined },
    ];
    for (const options of valid) {
      const server = new Ctor(options);
      expect(server.address()).toBeNull();
      expect(server.stats().running).toBe(false);
    }
    expect(new Ctor()).toBeInstanceOf(Server);
  });
});

describe('model-specific options', () => {
  it("EpollServer accepts trigger 'level' and 'edge' and rejects anything else", () => {
    expect(() => new EpollServer({ trigger: 'level' })).not.toThrow();
    expect(() => new EpollServer({ trigger: 'edge' })).not.toThrow();
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const value = thrown(() => new EpollServer({ trigger: 'sideways' } as any));
    expect(value).toBeInstanceOf(RangeError);
    expect(value.code).toBe('ERR_INVALID_ARG_VALUE');
    expect(value.message).toContain('trigger');
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const type = thrown(() => new EpollServer({ trigger: 1 } as any));
    expect(type).toBeInstanceOf(TypeError);
    expect(type.code).toBe('ERR_INVALID_ARG_TYPE');
  });

  it("another model's option is an unknown key (IterativeServer { trigger })", () => {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const err = thrown(() => new IterativeServer({ trigger: 'edge' } as any));
    expect(err).toBeInstanceOf(RangeError);
    expect(err.code).toBe('ERR_INVALID_ARG_VALUE');
    expect(err.message).toContain('trigger');
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const fork = thrown(() => new EpollServer({ maxChildren: 4 } as any));
    expect(fork.code).toBe('ERR_INVALID_ARG_VALUE');
  });

  it('an option of other models names the models that take it', () => {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const loops = thrown(() => new IterativeServer({ loops: 2 } as any));
    const takers = MODELS.filter((m) => createServerTakes(m, 'loops'));
    expect(takers.length).toBeGreaterThan(1);
    expect(loops.message).toContain(`loops is an option of ${takers.join(', ')}`);
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const nobody = thrown(() => new IterativeServer({ lops: 2 } as any));
    expect(nobody.message).toMatch(/is not an option of IterativeServer\.? Received/);
  });

  it('the abstract Server cannot be constructed: ERR_ILLEGAL_CONSTRUCTOR, not a crash inside', () => {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const err = thrown(() => new (Server as any)());
    expect(err).toBeInstanceOf(TypeError);
    expect(err.code).toBe('ERR_ILLEGAL_CONSTRUCTOR');
    expect(err.message).toContain('createServer');
  });
});

describe('lifecycle errors', () => {
  it('maxConnections and stop({ drainMs }) take integers in range, Node style; a refused value changes nothing', async () => {
    const server = trackServer(new EpollServer({ maxConnections: 5 }));
    const setTo = (value: unknown) => thrown(() => ((server as unknown as { maxConnections: unknown }).maxConnections = value));
    for (const [value, code, type] of [
      [-1, 'ERR_OUT_OF_RANGE', RangeError],
      [1.5, 'ERR_OUT_OF_RANGE', RangeError],
      [2 ** 32, 'ERR_OUT_OF_RANGE', RangeError],
      ['3', 'ERR_INVALID_ARG_TYPE', TypeError],
      [undefined, 'ERR_INVALID_ARG_TYPE', TypeError],
    ] as const) {
      const err = setTo(value);
      expect(err).toBeInstanceOf(type);
      expect(err.code).toBe(code);
      expect(err.message).toContain('maxConnections');
    }
    expect(server.maxConnections).toBe(5);
    await server.start();
    await expect(server.stop({ drainMs: -1 })).rejects.toMatchObject({ name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
    await expect(server.stop({ drainMs: '10' as unknown as number })).rejects.toMatchObject({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
    await expect(server.stop(5 as never)).rejects.toMatchObject({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
    expect(server.listening).toBe(true); // a refused stop() stops nothing
    await server.stop({ drainMs: 0 });
  });

  it('stop() on a server never started rejects ERR_SERVER_NOT_RUNNING (asynchronously)', async () => {
    const server = trackServer(new EpollServer());
    const p = server.stop();
    expect(p).toBeInstanceOf(Promise);
    await expect(p).rejects.toMatchObject({ code: 'ERR_SERVER_NOT_RUNNING' });
  });

  it('a second start() issued before the first settles rejects ERR_SERVER_ALREADY_LISTEN', async () => {
    const server = trackServer(new EpollServer());
    const first = server.start();
    const second = server.start();
    const [a, b] = await Promise.allSettled([first, second]);
    expect(a.status).toBe('fulfilled');
    expect(b.status).toBe('rejected');
    expect((b as PromiseRejectedResult).reason).toMatchObject({ code: 'ERR_SERVER_ALREADY_LISTEN' });
    await server.stop();
  });

  it('start() returns a promise that rejects (not a synchronous throw) on failure', async () => {
    const first = trackServer(new IterativeServer());
    const { port } = await first.start();
    const second = trackServer(new IterativeServer({ port }));
    let p: Promise<unknown> | undefined;
    expect(() => {
      p = second.start();
    }).not.toThrow();
    await expect(p).rejects.toMatchObject({ code: 'EADDRINUSE' });
    await first.stop();
  });

  it("a failed start() is also emitted as 'error' to whoever listens there, as net.Server does", async () => {
    const first = trackServer(new IterativeServer());
    const { port } = await first.start();
    const second = trackServer(new IterativeServer({ port }));
    const emitted: Error[] = [];
    second.on('error', (err) => emitted.push(err));
    const rejected = await second.start().catch((err: Error) => err);
    expect(rejected).toMatchObject({ code: 'EADDRINUSE' });
    await new Promise((resolve) => setImmediate(resolve));
    expect(emitted).toEqual([rejected]);
    await first.stop();
  });

  it("'listening' fires before start() resolves, also when start() is awaited inside a promise chain", async () => {
    const order: string[] = [];
    const server = trackServer(new EpollServer());
    server.on('listening', () => order.push('listening'));
    // A continuation that runs from the microtask queue: with 'listening' on a
    // bare nextTick it would run first.
    await Promise.resolve().then(async () => {
      await server.start();
      order.push('resolved');
    });
    expect(order).toEqual(['listening', 'resolved']);
    await server.stop();
  });

  it('model is a read-only property', () => {
    const server = new EpollServer();
    try {
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      (server as any).model = 'poll';
    } catch {
      // A strict-mode assignment to a getter throws; either way it must not change.
    }
    expect(server.model).toBe('epoll');
  });
});
