// Node conventions every server keeps, as net.Server does: the `listening`
// getter, `await using`, an AbortSignal that stops it (and loadgen()), and
// listening on an inherited socket (`fd`).
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { createServer, EpollServer, loadgen, nativeModels, sys, ThreadServer, type ModelName, type ModelOptions } from '../lib/index';
import { cleanup, trackServer, waitFor } from './helpers';
import { closeAll, openMany, roundTripAll } from './scale';

afterEach(cleanup);

/** Whether a TCP connect to `port` succeeds ('connected') or its error code. */
function probe(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' }, () => {
      s.destroy();
      resolve('connected');
    });
    s.on('error', (err: Error & { code?: string }) => resolve(err.code ?? 'ERROR'));
  });
}

/** A node:net listener on a kernel-picked loopback port, and its fd. */
async function nodeListener(): Promise<{ server: net.Server; fd: number; port: number }> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen({ port: 0, host: '127.0.0.1' }, resolve));
  const fd = (server as unknown as { _handle: { fd: number } })._handle.fd;
  expect(fd).toBeGreaterThan(2);
  return { server, fd, port: (server.address() as net.AddressInfo).port };
}

function closeNode(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

describe('listening and await using', () => {
  it('listening is true from start() to stop()', async () => {
    const server = trackServer(new EpollServer());
    expect(server.listening).toBe(false);
    const started = server.start();
    await started;
    expect(server.listening).toBe(true);
    const stopped = server.stop();
    expect(server.listening).toBe(false);
    await stopped;
    expect(server.listening).toBe(false);
  });

  it('await using stops the server when the scope ends, even when it throws', async () => {
    let port = 0;
    let kept: EpollServer | undefined;
    {
      await using server = new EpollServer();
      kept = server;
      ({ port } = await server.start());
      expect(await probe(port)).toBe('connected');
    }
    expect(kept.listening).toBe(false);
    expect(await probe(port)).toBe('ECONNREFUSED');

    await expect(
      (async () => {
        await using server = new ThreadServer();
        kept = server;
        ({ port } = await server.start());
        throw new Error('inside the scope');
      })(),
    ).rejects.toThrow('inside the scope');
    expect(kept.listening).toBe(false);
    expect(await probe(port)).toBe('ECONNREFUSED');

    // A server never started, or already stopped, is left as it is.
    {
      await using idle = new EpollServer();
      expect(idle.listening).toBe(false);
    }
    const stopped = new EpollServer();
    await stopped.start();
    await stopped.stop();
    await expect(stopped[Symbol.asyncDispose]()).resolves.toBeUndefined();
  });
});

describe('signal', () => {
  it('aborting stops the server; a later start() rejects with an AbortError', async () => {
    const controller = new AbortController();
    const server = trackServer(new EpollServer({ signal: controller.signal }));
    const { port } = await server.start();
    const closed = new Promise<void>((resolve) => server.once('close', resolve));
    controller.abort(new Error('shutting down'));
    await closed;
    expect(server.listening).toBe(false);
    expect(await probe(port)).toBe('ECONNREFUSED');
    const err = await server.start().catch((e: unknown) => e as Error & { code?: string; cause?: unknown });
    expect(err).toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' });
    expect((err as { cause: Error }).cause.message).toBe('shutting down');
  });

  it('a server stopped first ignores the abort', async () => {
    const controller = new AbortController();
    const server = trackServer(new ThreadServer({ signal: controller.signal }));
    await server.start();
    await server.stop();
    let errors = 0;
    server.on('error', () => errors++);
    controller.abort();
    await new Promise((r) => setImmediate(r));
    expect(errors).toBe(0);
    expect(server.listening).toBe(false);
  });

  it('refuses what is not an AbortSignal', () => {
    expect(() => new EpollServer({ signal: {} as AbortSignal })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE', message: expect.stringMatching(/"options\.signal" property must be an instance of AbortSignal/) }),
    );
  });

  it('aborting loadgen() ends the run at once and rejects with an AbortError', async () => {
    const server = trackServer(new EpollServer());
    const { port } = await server.start();
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => controller.abort(), 200);
    const err = await loadgen({ port, durationMs: 20_000, connections: 4, signal: controller.signal }).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' });
    expect(Date.now() - started).toBeLessThan(5000);
    // Every connection of the run is gone.
    await waitFor(() => server.stats().active === 0, 'the aborted run to close its connections');
    // Already aborted: rejected before anything runs.
    await expect(loadgen({ port, signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' });
    expect(server.stats().accepted).toBe(4);
    await expect(loadgen({ port, signal: 'stop' as unknown as AbortSignal })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
    await server.stop();
  });
});

describe('fd: an inherited listening socket', () => {
  const uring = nativeModels().includes('uring');
  const configs: { label: string; model: ModelName; options?: Record<string, unknown> }[] = [
    { label: 'iterative', model: 'iterative' },
    { label: 'fork', model: 'fork' },
    { label: 'prefork', model: 'prefork', options: { workers: 2 } },
    { label: 'thread', model: 'thread' },
    { label: 'threadpool', model: 'threadpool' },
    { label: 'select', model: 'select' },
    { label: 'poll', model: 'poll' },
    { label: 'epoll', model: 'epoll' },
    ...(uring ? [{ label: 'uring', model: 'uring' as const }] : []),
    { label: 'epoll x2 (shared by default)', model: 'epoll', options: { loops: 2 } },
    { label: 'poll x2 handoff', model: 'poll', options: { loops: 2, balance: 'handoff' } },
  ];

  for (const config of configs) {
    it(`${config.label} serves a socket node:net opened, and stop() leaves it listening for its other holders`, async () => {
      const node = await nodeListener();
      try {
        const options = { ...config.options, fd: node.fd } as ModelOptions<ModelName>;
        // A first server starts and stops while node:net still holds the socket.
        const first = trackServer(createServer(config.model, options));
        expect(await first.start()).toEqual({ address: '127.0.0.1', family: 'IPv4', port: node.port });
        await first.stop();
        expect(sys.getsockopt(node.fd, 'SO_ACCEPTCONN')).toBe(1);
        // A second one takes over; node:net lets go of its descriptor.
        const second = trackServer(createServer(config.model, options));
        await second.start();
        await closeNode(node.server);
        // One client at a time: the iterative server serves one until EOF.
        for (let i = 0; i < 3; i++) {
          const sockets = await openMany(node.port, 1);
          await roundTripAll(sockets, `inherited-${i}`);
          await closeAll(sockets);
        }
        await waitFor(() => second.stats().closed === 3, 'three served connections');
        expect(second.stats()).toMatchObject({ accepted: 3, port: node.port, errors: 0 });
        await second.stop();
        // The last holder closed it: nothing listens any more.
        expect(await probe(node.port)).toBe('ECONNREFUSED');
      } finally {
        if (node.server.listening) await closeNode(node.server);
      }
    });
  }

  it('accepted sockets have TCP_NODELAY: inherited from a listener of its own (set there once), set one by one from an adopted one, which is left as it was', async () => {
    /** A socket of this process bound to `port` that `match` picks. */
    const find = (port: number, match: (fd: number) => boolean, what: string): number => {
      for (const name of fs.readdirSync('/proc/self/fd')) {
        const fd = Number(name);
        try {
          if (!fs.readlinkSync(`/proc/self/fd/${name}`).startsWith('socket:')) continue;
          if (sys.getsockname(fd).port === port && match(fd)) return fd;
        } catch {
          // gone meanwhile, or not connected
        }
      }
      throw new Error(`no ${what} on port ${port}`);
    };
    const serverEnd = (port: number, client: net.Socket) => find(port, (fd) => sys.getpeername(fd).port === client.localPort, 'server end');
    const ownListener = (port: number) => find(port, (fd) => sys.getsockopt(fd, 'SO_ACCEPTCONN') === 1, 'listener');
    const models: ModelName[] = ['thread', 'threadpool', 'epoll', ...(nativeModels().includes('uring') ? ['uring' as const] : [])];
    for (const model of models) {
      for (const inherited of [false, true]) {
        // A listener nobody else accepts from, with TCP_NODELAY off.
        let listener: number | undefined;
        if (inherited) {
          listener = sys.socket();
          sys.bind(listener, '127.0.0.1', 0);
          sys.listen(listener);
        }
        try {
          const server = trackServer(createServer(model, listener === undefined ? {} : { fd: listener }));
          const { port } = await server.start();
          const [client] = await openMany(port, 1);
          await roundTripAll([client], 'nodelay');
          expect(sys.getsockopt(serverEnd(port, client), 'TCP_NODELAY'), `${model}, inherited ${inherited}`).toBe(1);
          if (listener !== undefined) expect(sys.getsockopt(listener, 'TCP_NODELAY'), 'the inherited listener is left as it was').toBe(0);
          else expect(sys.getsockopt(ownListener(port), 'TCP_NODELAY'), `${model}'s own listener`).toBe(1);
          await closeAll([client]);
          await server.stop();
        } finally {
          if (listener !== undefined) sys.close(listener);
        }
      }
    }
  });

  it('an fd that is not a listening TCP socket is refused at construction, saying why', async () => {
    const check = (fd: number, why: RegExp) =>
      expect(() => new EpollServer({ fd })).toThrow(
        expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE', message: expect.stringMatching(why) }),
      );
    check(99_999, /The property 'options\.fd' must be a listening TCP socket: it is not an open descriptor\. Received 99999/);
    const file = fs.openSync(__filename, 'r');
    try {
      check(file, /it is not a socket/);
    } finally {
      fs.closeSync(file);
    }
    const udp = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
    try {
      check((udp as unknown as { _handle: { fd: number } })._handle.fd, /it is not a stream socket/);
    } finally {
      udp.close();
    }
    const unbound = sys.socket('ipv4');
    try {
      check(unbound, /it is not listening/);
    } finally {
      sys.close(unbound);
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'netmodels-fd-'));
    const unix = net.createServer();
    await new Promise<void>((resolve) => unix.listen(path.join(dir, 'sock'), resolve));
    try {
      check((unix as unknown as { _handle: { fd: number } })._handle.fd, /it is a Unix domain socket/);
    } finally {
      await closeNode(unix);
      fs.rmSync(dir, { recursive: true, force: true });
    }
    expect(() => new EpollServer({ fd: -1 })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
  });

  it('host, port and backlog do not go with fd, nor reuseport loops', async () => {
    const node = await nodeListener();
    try {
      for (const extra of [{ port: 8080 }, { host: '127.0.0.1' }, { backlog: 16 }]) {
        expect(() => new EpollServer({ fd: node.fd, ...extra })).toThrow(
          expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE', message: expect.stringMatching(/cannot be given with options\.fd/) }),
        );
      }
      expect(() => new EpollServer({ fd: node.fd, loops: 2, balance: 'reuseport' })).toThrow(
        expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE', message: expect.stringMatching(/cannot be 'reuseport' with options\.fd/) }),
      );
      // One loop has nothing to balance: reuseport is accepted, means nothing, and the server serves.
      const one = trackServer(new EpollServer({ fd: node.fd, balance: 'reuseport' }));
      expect(await one.start()).toEqual({ address: '127.0.0.1', family: 'IPv4', port: node.port });
      await closeNode(node.server);
      const sockets = await openMany(node.port, 1);
      await roundTripAll(sockets, 'reuseport-fd');
      await closeAll(sockets);
      await waitFor(() => one.stats().closed === 1, 'the connection served');
      await one.stop();
    } finally {
      if (node.server.listening) await closeNode(node.server);
    }
  });
});

describe('an inherited listener', () => {
  it('takes no host, port, backlog or ipv6Only beside fd: that socket is bound and listening already', async () => {
    const { server, fd } = await nodeListener();
    try {
      for (const extra of [{ host: '::1' }, { port: 1 }, { backlog: 5 }, { ipv6Only: true }]) {
        const key = Object.keys(extra)[0];
        expect(() => new EpollServer({ fd, ...extra })).toThrow(
          expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE', message: expect.stringContaining(`options.${key}`) }),
        );
      }
    } finally {
      await closeNode(server);
    }
  });
});
