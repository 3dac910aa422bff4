// What only PollServer does: a pollfd array with no fixed cap, compacted as
// connections close.
import * as fs from 'node:fs';

import { afterEach, describe, expect, it } from 'vitest';

import { PollServer } from '../lib/index';
import { cleanup, trackServer, waitQuiescent, waitForStats } from './helpers';
import { closeAll, openMany, roundTripAll } from './scale';

describe('PollServer', () => {
  afterEach(cleanup);

  it('holds 5000 concurrent connections, and keeps serving after half of them close', async () => {
    // Node raises RLIMIT_NOFILE to the hard limit at startup; 5000 clients
    // plus their 5000 server sides need it.
    const limits = fs.readFileSync('/proc/self/limits', 'latin1');
    const soft = Number(/Max open files\s+(\d+)/.exec(limits)![1]);
    expect(soft, 'RLIMIT_NOFILE must allow 10000 sockets in this process').toBeGreaterThanOrEqual(10_100);
    const server = trackServer(new PollServer({ backlog: 4096 }));
    const { port } = await server.start();
    const sockets = await openMany(port, 5000, '127.0.0.1', 500);
    await waitForStats(server, (s) => s.active === 5000, '5000 active', 30_000);
    await roundTripAll(sockets, 'all');
    expect(server.stats().peakActive).toBe(5000);

    // Closing every other connection moves entries around the pollfd array.
    const gone = sockets.filter((_, i) => i % 2 === 0);
    const kept = sockets.filter((_, i) => i % 2 === 1);
    await closeAll(gone);
    await waitForStats(server, (s) => s.active === 2500, '2500 active', 30_000);
    await roundTripAll(kept, 'half');
    await closeAll(kept);
    const s = await waitQuiescent(server, 5000, 30_000);
    expect(s.rejected).toBe(0);
    expect(s.errors).toBe(0);
    await server.stop();
  });
});
