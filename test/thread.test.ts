// What only ThreadServer does: a thread per connection, all of them joined
// by stop(), and maxConnections capping the number of threads.
import { afterEach, describe, expect, it } from 'vitest';

import { ThreadServer } from '../lib/index';
import { cleanup, trackServer, waitFor, waitForStats } from './helpers';
import { threadCount, warmUpThreadPool } from './proc';
import { closeAll, openMany, roundTripAll, serverClosed } from './scale';

describe('ThreadServer', () => {
  afterEach(cleanup);

  it('holds 2000 concurrent connections, one thread each, and joins them all on stop()', async () => {
    await warmUpThreadPool();
    const baseline = threadCount();
    const server = trackServer(new ThreadServer({ backlog: 4096 }));
    const { port } = await server.start();
    const sockets = await openMany(port, 2000, '127.0.0.1', 500);
    await waitForStats(server, (s) => s.active === 2000, '2000 active', 30_000);
    await roundTripAll(sockets, 't');
    // The accept thread plus one thread per connection.
    expect(threadCount()).toBeGreaterThanOrEqual(baseline + 2001);
    expect(server.stats().peakActive).toBe(2000);

    // stop() with every connection thread blocked in recv().
    await server.stop();
    expect(threadCount()).toBe(baseline);
    const s = server.stats();
    expect(s.active).toBe(0);
    expect(s.closed).toBe(2000);
    await closeAll(sockets);
  });

  it('caps the connection threads at maxConnections and rejects the rest at once', async () => {
    const server = trackServer(new ThreadServer({ maxConnections: 3 }));
    const { port } = await server.start();
    const held = await openMany(port, 3);
    await roundTripAll(held, 'held');
    const extra = await openMany(port, 2);
    await Promise.all(extra.map(serverClosed));
    await waitForStats(server, (s) => s.rejected === 2, '2 rejected');
    expect(server.stats().active).toBe(3);

    // A slot freed is a slot that can be used again.
    await closeAll(held.slice(0, 1));
    await waitForStats(server, (s) => s.active === 2, '2 active');
    const next = await openMany(port, 1);
    await roundTripAll(next, 'next');
    await closeAll([...held, ...extra, ...next]);
    await server.stop();
  });

  it('uses the configured stack size and rejects a stack that is too small', async () => {
    expect(() => new ThreadServer({ stackSize: 4096 })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    const server = trackServer(new ThreadServer({ stackSize: 64 * 1024 }));
    const { port } = await server.start();
    const sockets = await openMany(port, 20);
    await roundTripAll(sockets, 'small-stack');
    await closeAll(sockets);
    await server.stop();
    await waitFor(() => server.stats().active === 0, 'no active connection');
  });
});
